"""Security and privacy: headers, cookies, redirects, honeypots, rate limits, capability links,
export and erasure of personal data."""

from __future__ import annotations

import json
import re
import socket

import pytest
from sqlalchemy import func, select

from screenings import create_app
from screenings.extensions import db
from screenings.models import OutboxMessage, Rsvp, Screening
from screenings.services import bookings as booking_service

from .conftest import app_config, booking_data, submit
from .factories import make_screening
from .producer_helpers import make_past, producer  # noqa: F401  (fixture)
from .rsvp_helpers import post_rsvp, reply

MANAGE_LINK = re.compile(r"http://screenings\.test/manage/([A-Za-z0-9_-]{20,})")


@pytest.mark.parametrize("path", ["/", "/book", "/screenings", "/producer/login", "/nowhere"])
def test_security_headers_on_every_page(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer")


def test_no_inline_script_in_pages(client):
    make_screening()
    for path in ["/", "/book", "/screenings", "/screenings/1", "/producer/login"]:
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert " onclick=" not in page
        assert 'style="' not in page, path


def test_session_cookie_flags_after_login(client, producer):  # noqa: F811
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"],
)
def test_login_next_never_leaves_the_site(client, app, target):
    from screenings.services.producers import create_producer

    create_producer("next@example.org", "a-long-password-123")
    response = submit(
        client,
        "/producer/login",
        {"email": "next@example.org", "password": "a-long-password-123", "next": target},
        form_url=f"/producer/login?next={target}",
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/producer/"


def test_booking_honeypot_refuses_bots_and_stores_nothing(client, db, smtp):
    response = submit(client, "/book", booking_data(homepage="http://spam.example"))
    assert response.status_code == 422
    assert "looks automated" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Screening.id))) == 0
    assert smtp.messages == []


def test_rsvp_honeypot_refuses_bots(client, db):
    screening = make_screening()
    response = post_rsvp(client, screening, homepage="spam")
    assert response.status_code == 422
    assert db.session.scalar(select(func.count(Rsvp.id))) == 0


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_FORMS="3 per minute")
def test_booking_form_is_rate_limited(client, db):
    responses = [
        submit(client, "/book", booking_data(organization_name=f"Org {n}")) for n in range(4)
    ]
    assert [r.status_code for r in responses] == [302, 302, 302, 429]
    assert "Too many attempts" in responses[-1].get_data(as_text=True)


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute")
def test_login_is_rate_limited(client):
    codes = [
        submit(
            client, "/producer/login", {"email": "x@example.org", "password": "wrong"}
        ).status_code
        for _ in range(3)
    ]
    assert codes == [422, 422, 429]


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
@pytest.mark.usefixtures("_schema")
def test_rate_limits_are_shared_between_processes_through_redis(database_uri, smtp_server):
    """Two app instances (as two gunicorn workers) count against one limit in Redis."""
    import redis

    redis.Redis(host="127.0.0.1", port=6379).flushdb()
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        "RATELIMIT_LOGIN": "3 per minute",
        "WTF_CSRF_ENABLED": False,
    }
    apps = [create_app(app_config(database_uri, smtp_server.port, **settings)) for _ in range(2)]
    codes = [
        apps[n % 2]
        .test_client()
        .post("/producer/login", data={"email": "x@example.org", "password": "wrong"})
        .status_code
        for n in range(4)
    ]
    for app in apps:
        with app.app_context():
            db.engine.dispose()
    assert codes == [422, 422, 422, 429]


def test_reissued_manage_link_revokes_the_old_one(client, db, smtp, producer):  # noqa: F811
    screening = make_screening()
    old = booking_service.manage_token(screening)
    assert client.get(f"/manage/{old}").status_code == 200
    submit(
        client,
        f"/producer/screenings/{screening.id}/manage-link",
        {},
        form_url=f"/producer/screenings/{screening.id}",
    )
    assert client.get(f"/manage/{old}").status_code == 404
    messages = smtp.wait_for(2)
    new = MANAGE_LINK.search(messages[-1].get_body(preferencelist=("plain",)).get_content())
    assert new.group(1) != old
    assert client.get(f"/manage/{new.group(1)}").status_code == 200


def test_producer_exports_and_erases_an_organizers_data(client, db, smtp, producer):  # noqa: F811
    screening = make_screening(contact_email="Dana@Example.org", notes="Call after 6pm")
    token = booking_service.manage_token(screening)
    smtp.wait_for(1)

    export = submit(client, "/producer/privacy", {"export-email": "dana@example.org"})
    assert export.status_code == 200
    data = json.loads(export.get_data(as_text=True))
    assert data["screenings"][0]["contact"]["email"] == "Dana@Example.org"
    assert data["screenings"][0]["notes"] == "Call after 6pm"
    assert data["emails"]

    refused = submit(client, "/producer/privacy", {"erase-email": "dana@example.org"})
    assert refused.status_code == 422
    assert "Tick the box" in refused.get_data(as_text=True)
    done = submit(
        client,
        "/producer/privacy",
        {"erase-email": "dana@example.org", "erase-confirm": "y"},
        follow_redirects=True,
    )
    assert "erased from 1 booking" in done.get_data(as_text=True)
    db.session.expire_all()
    screening = db.session.get(Screening, screening.id)
    assert "dana" not in screening.contact_email.lower()
    assert screening.notes == ""
    assert screening.current_licence is not None  # the licence still verifies
    assert client.get(f"/licences/{screening.current_licence.number}").status_code == 200
    assert client.get(f"/manage/{token}").status_code == 404
    assert (
        db.session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.recipient.ilike("dana@%"))
        )
        == 0
    )


def test_privacy_purge_anonymises_attendees_after_the_screening(runner, db, smtp):
    past = make_screening()
    upcoming = make_screening(organization_name="Later")
    reply(past, email="old@example.org")
    reply(upcoming, email="new@example.org")
    make_past(past, days_ago=40)
    result = runner.invoke(args=["privacy", "purge", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "anonymised 1 RSVPs" in result.output
    emails = set(db.session.scalars(select(Rsvp.email)))
    assert emails == {"", "new@example.org"}
    kept = db.session.scalar(select(Rsvp).where(Rsvp.screening_id == past.id))
    assert kept.party_size == 1  # counts stay for the statistics


def test_attendee_list_is_not_public(client, db):
    screening = make_screening()
    reply(screening, email="secret.attendee@example.org", name="Secret Attendee")
    for path in [
        f"/screenings/{screening.id}",
        "/screenings",
        "/api/screenings",
        "/calendar.ics",
        f"/screenings/{screening.id}.ics",
        f"/licences/{screening.current_licence.number}",
    ]:
        body = client.get(path).get_data(as_text=True)
        assert "secret.attendee" not in body, path
        assert "Secret Attendee" not in body, path
