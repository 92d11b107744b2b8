"""Access control over the whole URL map: anonymous, organizer token, attendee link, producer.

Every route is classified by its blueprint (a route nobody classified fails the test), then
tried as each kind of visitor. Producer pages open only for a logged-in producer, and within
them each role only what it may (the tables below say it independently of the code); a
capability link opens only its own pages; attendee personal data stays off public pages.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from screenings.capabilities import manage_token, rsvp_token
from screenings.models import Film, OutboxMessage, Rsvp, ScreeningMaterial, Shipment
from screenings.services.distribution import add_format, add_material
from screenings.services.rsvps import rsvp

from .conftest import hidden_fields
from .factories import make_screening
from .producer_helpers import PRODUCER_EMAIL, PRODUCER_PASSWORD, log_in

BOGUS = "A" * 43

# What a reviewer may change besides reading: the decisions. Every other producer POST route
# is the owners'; a viewer changes nothing. A new route is owner-only until listed here.
REVIEWER_MAY_POST = {
    "producer.approvals",
    "producer.approve",
    "producer.reject",
    "producer.decide_change",
}
# Pages (GET) only owners see.
OWNER_ONLY_PAGES = {"producer.team", "producer.audit_log"}
REVIEWER = ("reviewer@example.org", "reviewer password 123")
VIEWER = ("viewer@example.org", "viewer password 1234")


def classify(endpoint: str, rule: str) -> str:
    blueprint = endpoint.split(".", 1)[0]
    if blueprint == "producer":
        return "producer"
    if blueprint == "account":
        return "own_account"
    if blueprint == "auth":
        return "auth_token" if "<token>" in rule else "auth"
    if blueprint == "organizer":
        return "organizer_token" if "<token>" in rule else "public"
    if blueprint == "attendee":
        return "attendee_token"
    if blueprint == "door":  # the organizer's door (manage link) or a helper link
        return "door_token" if rule.startswith("/door/") else "organizer_token"
    if endpoint == "public.feed_producer":
        return "feed_token"
    if blueprint in ("public", "ops", "static"):
        return "public"
    raise AssertionError(f"route {endpoint} {rule} is not classified for access control")


@pytest.fixture
def world(app, db):
    """One of everything a URL can name, and the secrets each visitor holds."""
    from screenings.services.producers import create_producer

    film = db.session.get(Film, 1)
    dcp = add_format(film, name="DCP", kind="physical")
    add_material(film, kind="poster", label="Poster", url="https://example.org/p.jpg")
    screening = make_screening(format_id=dcp.id)
    reply = rsvp(screening, name="Dana Levi", email="dana@example.org", party_size=1, consent=True)
    owner = create_producer(PRODUCER_EMAIL, PRODUCER_PASSWORD)
    create_producer(*REVIEWER, role="reviewer")
    create_producer(*VIEWER, role="viewer")
    return {
        "screening": screening,
        "manage_token": manage_token(screening),
        "rsvp_token": rsvp_token(reply.rsvp),
        "values": {
            "screening_id": screening.id,
            "film_id": film.id,
            "format_id": dcp.id,
            "material_id": db.session.scalar(select(ScreeningMaterial.id)),
            "shipment_id": db.session.scalar(select(Shipment.id)),
            "message_id": db.session.scalar(select(OutboxMessage.id)),
            "change_id": 1,  # no change is held: the route must still refuse, never 500
            "number": screening.current_licence.number,
            "slug": film.slug,
            "code": "CA",
            "filename": "style.css",
            "producer_id": owner.id,
            "session_id": 1,
            "helper_id": 1,
            "suppression_id": 1,  # no address is suppressed: refuse, never 500
            "host_id": 1,  # a trusted host (services/rules.py); none exists: refuse, never 500
        },
    }


def _routes(app):
    for rule in app.url_map.iter_rules():
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        yield rule, classify(rule.endpoint, rule.rule), methods


def _url(app, rule, values: dict, token: str = BOGUS) -> str:
    args = {name: values.get(name, token) for name in rule.arguments}
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **args)


def _csrf(client) -> str:
    return hidden_fields(client.get("/producer/login").get_data(as_text=True))["csrf_token"]


def _visitor(app, world, kind: str):
    client = app.test_client()
    if kind == "organizer":
        assert client.get(f"/manage/{world['manage_token']}").status_code == 200
    elif kind == "attendee":
        assert client.get(f"/rsvp/{world['rsvp_token']}").status_code == 200
    return client


def test_every_route_is_classified(app):
    kinds = {kind for _rule, kind, _methods in _routes(app)}
    assert "producer" in kinds
    assert "organizer_token" in kinds


@pytest.mark.parametrize("kind", ["anonymous", "organizer", "attendee"])
def test_producer_routes_refuse_everyone_but_the_producer(app, db, world, kind):
    client = _visitor(app, world, kind)
    token = _csrf(client)
    checked = 0
    for rule, access, methods in _routes(app):
        if access not in ("producer", "own_account"):
            continue
        url = _url(app, rule, world["values"])
        for method in methods:
            data = {"csrf_token": token, "reason": "x", "screening_ids": "1", "action": "approve"}
            response = client.open(url, method=method, data=data if method == "POST" else None)
            assert response.status_code == 302, (kind, method, url, response.status_code)
            assert response.headers["Location"].startswith("/producer/login"), url
            checked += 1
    assert checked >= 20
    # Nothing was decided by anyone: the screening is as it was.
    assert world["screening"].status == "approved"
    assert db.session.scalar(select(Shipment.status)) == "to_ship"


def test_producer_opens_every_producer_page(app, client, db, world):
    log_in(client)
    for rule, access, methods in _routes(app):
        if access not in ("producer", "own_account"):
            continue
        url = _url(app, rule, world["values"])
        if "GET" in methods:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            response.get_data()
            response.close()
        if "POST" in methods:
            # Without the form's CSRF token a forged POST is refused.
            assert client.post(url, data={}).status_code == 400, url


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_each_role_changes_only_what_it_may(app, db, world, role):
    """A viewer is refused every producer POST; a reviewer every one but the decisions."""
    client = app.test_client()
    log_in(client, *(REVIEWER if role == "reviewer" else VIEWER))
    token = hidden_fields(client.get("/producer/").get_data(as_text=True))["csrf_token"]
    refused = allowed = 0
    for rule, access, methods in _routes(app):
        if access != "producer":
            continue
        url = _url(app, rule, world["values"])
        if "GET" in methods:
            status = client.get(url).status_code
            expected = 403 if rule.endpoint in OWNER_ONLY_PAGES else 200
            assert status == expected, (role, url, status)
        if "POST" not in methods:
            continue
        data = {"csrf_token": token, "reason": "x", "screening_ids": "1", "action": "reject"}
        status = client.post(url, data=data).status_code
        if role == "reviewer" and rule.endpoint in REVIEWER_MAY_POST:
            assert status != 403, (role, url)
            allowed += 1
        else:
            assert status == 403, (role, url, status)
            refused += 1
    assert refused >= 15
    assert allowed == (len(REVIEWER_MAY_POST) if role == "reviewer" else 0)
    # The viewer refused, the reviewer's bulk rejection without a reason did nothing either.
    assert world["screening"].status == "approved"
    assert db.session.scalar(select(Shipment.status)) == "to_ship"


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_every_role_manages_its_own_account(app, db, world, role):
    client = app.test_client()
    log_in(client, *(REVIEWER if role == "reviewer" else VIEWER))
    token = hidden_fields(client.get("/producer/account/").get_data(as_text=True))["csrf_token"]
    for rule, access, methods in _routes(app):
        if access != "own_account":
            continue
        url = _url(app, rule, world["values"])
        if "GET" in methods:
            assert client.get(url).status_code == 200, url
        if "POST" in methods and "revoke" not in rule.rule:
            assert client.post(url, data={"csrf_token": token}).status_code != 403, url


def test_account_links_need_a_valid_token(app, client, db, world):
    token = _csrf(client)
    checked = 0
    for rule, access, methods in _routes(app):
        if access != "auth_token":
            continue
        url = _url(app, rule, world["values"], token=BOGUS)
        for method in methods:
            response = client.open(
                url, method=method, data={"csrf_token": token} if method == "POST" else None
            )
            assert response.status_code == 404, (method, url, response.status_code)
            checked += 1
    assert checked >= 6


@pytest.mark.parametrize("kind", ["anonymous", "organizer", "attendee"])
def test_capability_routes_need_their_own_valid_token(app, db, world, kind):
    client = _visitor(app, world, kind)
    token = _csrf(client)
    for rule, access, methods in _routes(app):
        if access not in ("organizer_token", "attendee_token", "feed_token", "door_token"):
            continue
        url = _url(app, rule, world["values"], token=BOGUS)
        for method in methods:
            response = client.open(
                url, method=method, data={"csrf_token": token} if method == "POST" else None
            )
            assert response.status_code == 404, (kind, method, url, response.status_code)
    # The organizer's own token opens the organizer's pages, not the attendee's, and back.
    organizer, attendee = world["manage_token"], world["rsvp_token"]
    assert client.get(f"/manage/{organizer}").status_code == 200
    assert client.get(f"/manage/{attendee}").status_code == 404
    assert client.get(f"/rsvp/{organizer}").status_code == 404


def test_attendee_data_only_for_producer_and_that_organizer(app, client, db, world):
    screening = world["screening"]
    other = make_screening(organization_name="Other Org", contact_email="other@example.org")
    public_pages = [
        "/",
        "/screenings",
        f"/screenings/{screening.id}",
        f"/licences/{screening.current_licence.number}",
        f"/manage/{manage_token(other)}",
    ]
    for url in public_pages:
        page = client.get(url).get_data(as_text=True)
        assert "dana@example.org" not in page, url
        assert "Dana Levi" not in page, url
    assert "dana@example.org" in client.get(f"/manage/{world['manage_token']}").get_data(
        as_text=True
    )
    log_in(client)
    page = client.get(f"/producer/screenings/{screening.id}").get_data(as_text=True)
    assert "dana@example.org" in page
    assert db.session.scalar(select(Rsvp.email)) == "dana@example.org"


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
def test_failed_logins_are_rate_limited(app, client, db, world):
    statuses = []
    for _ in range(5):
        page = client.get("/producer/login").get_data(as_text=True)
        response = client.post(
            "/producer/login",
            data={**hidden_fields(page), "email": PRODUCER_EMAIL, "password": "wrong password!"},
        )
        statuses.append(response.status_code)
    assert statuses[:3] == [422, 422, 422]
    assert statuses[3:] == [429, 429]


def test_session_cookie_flags_and_logout_kills_a_copied_cookie(app, db, world):
    client = app.test_client()
    response = log_in(client)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    session_cookie = client.get_cookie("session").value
    copy = app.test_client()
    copy.set_cookie("session", session_cookie)
    assert copy.get("/producer/").status_code == 200
    token = hidden_fields(client.get("/producer/").get_data(as_text=True))["csrf_token"]
    client.post("/producer/logout", data={"csrf_token": token})
    assert copy.get("/producer/").status_code == 302


def test_secure_cookie_in_production(database_uri, smtp_server, patched_python):
    from screenings import create_app

    from .conftest import app_config

    app = create_app(app_config(database_uri, smtp_server.port, ENV_NAME="production"))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
