"""Security and privacy: headers, cookies, redirects, honeypots, rate limits, capability links,
export and erasure of personal data."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import socket
import threading
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from screenings import capabilities, create_app
from screenings.extensions import db
from screenings.models import OutboxMessage, Rsvp, Screening

from .conftest import app_config, booking_data, dispose_app_engine, submit
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

    # Keys of this run only, deleted after: the Redis may be shared with anything else.
    prefix = f"screenings-test-{os.getpid()}-{secrets.token_hex(4)}"
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": prefix},
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
            dispose_app_engine()
    store = redis.Redis(host="127.0.0.1", port=6379)
    ours = list(store.scan_iter(match=f"{prefix}:*"))
    assert ours  # the limit was counted under this run's prefix, and nowhere else
    store.delete(*ours)
    assert codes == [422, 422, 422, 429]


def test_reissued_manage_link_revokes_the_old_one(client, db, smtp, producer):  # noqa: F811
    screening = make_screening()
    old = capabilities.manage_token(screening)
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
    screening = make_screening(
        contact_email="Dana@Example.org", notes="Call after 6pm", description="Doors at 7"
    )
    token = capabilities.manage_token(screening)
    smtp.wait_for(1)

    export = submit(client, "/producer/privacy", {"export-email": "dana@example.org"})
    assert export.status_code == 200
    data = json.loads(export.get_data(as_text=True))
    assert data["screenings"][0]["contact"]["email"] == "Dana@Example.org"
    assert data["screenings"][0]["notes"] == "Call after 6pm"
    assert data["screenings"][0]["description"] == "Doors at 7"
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


# ---------------------------------------------------------------- secrets and their rotation
S1, S2, S3 = ("first-secret-" + "a" * 32, "second-secret-" + "b" * 32, "third-secret-" + "c" * 32)
K1, K2 = ("first-link-key-" + "d" * 32, "second-link-key-" + "e" * 32)
LINK = re.compile(r"http://screenings\.test(/(?:manage|rsvp|downloads)/[A-Za-z0-9_-]{20,})")
ERAS = {
    "SECRET_KEY changed, then a new link key": [
        {"SECRET_KEY": S1, "LINK_KEYS": [K1]},
        {"SECRET_KEY": S2, "SECRET_KEY_FALLBACKS": [S1], "LINK_KEYS": [K1]},
        {"SECRET_KEY": S3, "LINK_KEYS": [K2, K1]},
    ],
    "links made before LINK_KEYS existed": [
        {"SECRET_KEY": S1, "LINK_KEYS": []},
        {"SECRET_KEY": S2, "SECRET_KEY_FALLBACKS": [S1], "LINK_KEYS": [K1]},
        {"SECRET_KEY": S3, "LINK_KEYS": [K1, S1]},  # the README's upgrade: old secret kept last
    ],
}


def _links(messages) -> set[str]:
    return {
        path
        for message in messages
        for path in LINK.findall(message.get_body(("plain",)).get_content())
    }


def _manage_token_in(app, screening_id: int) -> str:
    with app.app_context():
        return capabilities.manage_token(db.session.get(Screening, screening_id))


@pytest.mark.parametrize("eras", ERAS.values(), ids=ERAS.keys())
def test_links_sent_before_and_after_a_key_rotation_work(
    app, db, smtp, database_uri, smtp_server, eras
):
    from screenings import emails
    from screenings.models import Film
    from screenings.outbox import deliver_pending
    from screenings.services.distribution import add_format

    online = add_format(
        db.session.get(Film, 1), name="File", kind="download", download_url="https://f.example/x"
    )
    apps = [create_app(app_config(database_uri, smtp_server.port, **keys)) for keys in eras]
    with apps[0].app_context():
        screening_id = make_screening(format_id=online.id).id
        rsvp_id = reply(db.session.get(Screening, screening_id)).id
        deliver_pending()
    first = _links(smtp.wait_for(2))
    assert {path.split("/")[1] for path in first} == {"manage", "rsvp", "downloads"}

    for later in apps[1:]:
        client = later.test_client()
        for path in first:
            assert client.get(path).status_code in (200, 303), (path, later.config["LINK_KEYS"])
        smtp.clear()
        with later.app_context():
            screening = db.session.get(Screening, screening_id)
            emails.send_licence_issued(screening, screening.current_licence)
            emails.send_rsvp_reminder(db.session.get(Rsvp, rsvp_id))
            db.session.commit()
            fresh_id = make_screening(contact_email="new@example.org").id
            deliver_pending()
        messages = smtp.wait_for(3)
        assert _links(messages[:2]) == first  # a new e-mail carries the very same links
        (new_link,) = _links(messages[2:]) - first
        assert new_link == f"/manage/{_manage_token_in(later, fresh_id)}"
        assert client.get(new_link).status_code == 200
    # The apps' engines are disposed by the app fixture, once the outbox thread is idle: a
    # dispose here raced the thread's last delivery on a later app, and its connection, given
    # back to the discarded pool, was left open for the garbage collector.


# ---------------------------------------------------------------- behind a reverse proxy
class ForwardingProxy:
    """A reverse proxy on a real socket, doing what nginx does with
    ``proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for``: the connecting client's
    address is appended to whatever X-Forwarded-For the client sent. One request a connection.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)  # host, port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, (address, _port) = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client, address), daemon=True).start()

    def _relay(self, client: socket.socket, address: str) -> None:
        with client:
            data = b""
            while b"\r\n\r\n" not in data and (chunk := client.recv(65536)):
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, target, _version = request_line.split(" ")
            headers = [line.split(":", 1) for line in lines]
            sent = [value.strip() for name, value in headers if _named(name, "x-forwarded-for")]
            length = next((int(v) for name, v in headers if _named(name, "content-length")), 0)
            while len(body) < length and (chunk := client.recv(65536)):
                body += chunk
            kept = {name.strip(): value.strip() for name, value in headers}
            for name in [n for n in kept if _named(n, "x-forwarded-for", "connection", "host")]:
                del kept[name]
            kept["X-Forwarded-For"] = ", ".join([*sent, address])
            upstream = http.client.HTTPConnection(*self.upstream, timeout=30)
            try:
                upstream.request(method, target, body=body, headers=kept)
                response = upstream.getresponse()
                payload = response.read()
            finally:
                upstream.close()
            status = f"HTTP/1.1 {response.status} {response.reason}\r\n"
            out = [f"{n}: {v}" for n, v in response.getheaders() if not _named(n, "connection")]
            client.sendall(
                (status + "\r\n".join([*out, "Connection: close"]) + "\r\n\r\n").encode("latin-1")
                + payload
            )

    def close(self) -> None:
        self.listener.close()


def _named(header: str, *names: str) -> bool:
    return header.strip().lower() in names


@contextlib.contextmanager
def _served(database_uri, smtp_server, *, hops: int, proxied: bool, **more):
    """An app with a low RSVP limit under a real HTTP server (werkzeug's, threaded) on a
    loopback port, behind the proxy or not; yields the port clients connect to."""
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_FORMS": "2 per minute",
        "WTF_CSRF_ENABLED": False,
        "PROXY_FIX": hops,
        **more,
    }
    app = create_app(app_config(database_uri, smtp_server.port, **settings))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads = False  # server_close() then waits for every request's thread,
    server.block_on_close = True  # so their database connections are back before dispose()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy = ForwardingProxy(server.server_port) if proxied else None
    try:
        yield proxy.port if proxy else server.server_port
    finally:
        if proxy:
            proxy.close()
        server.shutdown()
        server.server_close()
        thread.join()
        with app.app_context():
            dispose_app_engine()


def _rsvp_from(port: int, client_ip: str, forged: str | None = None) -> int:
    """POST the RSVP form from a loopback address of the client's own (127.0.0.0/8)."""
    return _post_from(port, client_ip, "/screenings/1", {"name": ""}, forged)


def _post_from(port: int, client_ip: str, path: str, form: dict, forged: str | None = None) -> int:
    """POST a form from a loopback address of the client's own; the response's status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, source_address=(client_ip, 0))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if forged:
        headers["X-Forwarded-For"] = forged
    try:
        connection.request("POST", path, body=urlencode(form), headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_behind_the_proxy_one_client_at_the_limit_leaves_others_free(
    app, db, database_uri, smtp_server
):
    make_screening()
    with _served(database_uri, smtp_server, hops=1, proxied=True) as port:
        first = [_rsvp_from(port, "127.0.0.2") for _ in range(3)]
        # Claiming to be someone else does not help: only the proxy's entry is believed.
        forged = _rsvp_from(port, "127.0.0.2", forged="198.51.100.7")
        other = [_rsvp_from(port, "127.0.0.3") for _ in range(2)]
    assert first == [422, 422, 429]
    assert forged == 429
    assert other == [422, 422]


def test_a_lock_out_attempt_through_the_proxy_leaves_the_producer_able_to_log_in(
    app, db, database_uri, smtp_server
):
    """Wrong passwords from one client behind nginx limit that client, not the producer."""
    from screenings.services.producers import create_producer

    create_producer("owner@example.org", "correct horse battery staple")
    wrong = {"email": "owner@example.org", "password": "guess guess guess"}
    right = {**wrong, "password": "correct horse battery staple"}
    with _served(
        database_uri,
        smtp_server,
        hops=1,
        proxied=True,
        RATELIMIT_LOGIN="4 per minute",
        LOGIN_LOCKOUT_FAILURES=50,
    ) as port:
        attacker = [_post_from(port, "127.0.0.2", "/producer/login", wrong) for _ in range(6)]
        forged = _post_from(port, "127.0.0.2", "/producer/login", right, forged="127.0.0.3")
        producer = _post_from(port, "127.0.0.3", "/producer/login", right)
    assert attacker == [422] * 4 + [429, 429]
    assert forged == 429  # claiming the producer's address does not help
    assert producer == 302  # logged in: the attacker's failures did not lock the producer out


def test_without_proxy_fix_everyone_behind_the_proxy_is_one_client(
    app, db, database_uri, smtp_server
):
    """What FLASK_PROXY_FIX is for: unset behind a proxy, one client limits everyone."""
    make_screening()
    with _served(database_uri, smtp_server, hops=0, proxied=True) as port:
        codes = [_rsvp_from(port, ip) for ip in ("127.0.0.2", "127.0.0.2", "127.0.0.3")]
    assert codes == [422, 422, 429]


def test_without_proxy_fix_a_forged_forwarded_for_is_ignored(app, db, database_uri, smtp_server):
    make_screening()
    with _served(database_uri, smtp_server, hops=0, proxied=False) as port:
        codes = [_rsvp_from(port, "127.0.0.2", forged=f"203.0.113.{n}") for n in range(3)]
    assert codes == [422, 422, 429]


def test_the_outage_page_of_a_logged_in_producer_needs_no_database(client, db, producer):  # noqa: F811
    """During a database outage a producer gets the 503 page too, not a bare 500."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    assert client.get("/producer/").status_code == 200

    def database_down(*_args, **_kwargs):
        raise OperationalError("SELECT …", {}, ConnectionRefusedError("the database is down"))

    event.listen(db.engine, "before_cursor_execute", database_down)
    try:
        for path in ("/producer/", "/producer/approvals", "/"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert "Temporarily unavailable" in response.get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", database_down)
    assert client.get("/producer/").status_code == 200


def _nginx_secure_link(url: str, secret: str, now: float) -> bool:
    """nginx's check (secure_link $arg_md5,$arg_expires; secure_link_md5 "$expires$uri S")."""
    import base64
    import hashlib
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    args = {name: values[0] for name, values in parse_qs(parts.query).items()}
    text = f"{args['expires']}{parts.path} {secret}".encode()
    expected = base64.urlsafe_b64encode(hashlib.md5(text, usedforsecurity=False).digest())
    return args["md5"] == expected.rstrip(b"=").decode() and now < int(args["expires"])


@pytest.mark.config(DOWNLOAD_URL_SECRET="file-server-secret-" + "f" * 20, DOWNLOAD_URL_SECONDS=600)
def test_a_download_gives_a_file_url_that_expires(app, client, db, smtp):
    import time
    from datetime import timedelta

    from screenings.models import DownloadLink, Film, utcnow
    from screenings.services.distribution import add_format, licence_email_context

    online = add_format(
        db.session.get(Film, 1),
        name="File",
        kind="download",
        download_url="https://f.example/x.mp4",
    )
    screening = make_screening(format_id=online.id)
    token = licence_email_context(screening)["download"]["url"].rsplit("/", 1)[1]
    response = client.get(f"/downloads/{token}")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("https://f.example/x.mp4?md5=")
    secret = app.config["DOWNLOAD_URL_SECRET"]
    now = time.time()
    assert _nginx_secure_link(location, secret, now)
    assert not _nginx_secure_link(location, secret, now + 601)  # ten minutes later: refused
    assert not _nginx_secure_link(location.replace("x.mp4", "y.mp4"), secret, now)
    # Never past the personal link's own expiry.
    link = db.session.scalar(select(DownloadLink))
    link.expires_at = utcnow() + timedelta(minutes=5)
    db.session.commit()
    soon = client.get(f"/downloads/{token}").headers["Location"]
    assert _nginx_secure_link(soon, secret, now)
    assert not _nginx_secure_link(soon, secret, now + 301)


def _flashed(response) -> str:
    return re.search(r'<p class="flash flash-\w+">(.*?)</p>', response.get_data(as_text=True))[1]


def test_on_a_full_screening_nobody_learns_who_holds_a_seat(client, db, smtp):
    """Ann's address, typed by someone else, gets the answer a stranger's gets."""
    screening = make_screening(capacity=2)
    reply(screening, email="ann@example.org", party_size=2)  # the screening is now full
    answers, queued = {}, {}
    for email in ("ann@example.org", "zed@example.org"):
        before = db.session.scalar(select(func.count()).select_from(OutboxMessage))
        response = post_rsvp(client, screening, email=email, follow_redirects=True)
        assert response.status_code == 200
        answers[email] = _flashed(response).replace(email, "<address>")
        queued[email] = db.session.scalar(select(func.count()).select_from(OutboxMessage)) - before
    assert answers["ann@example.org"] == answers["zed@example.org"]
    assert "e-mailed" in answers["ann@example.org"]
    assert queued == {"ann@example.org": 1, "zed@example.org": 1}  # "we've e-mailed" is true
    ann = smtp.to("ann@example.org")[-1]  # only the owner of the address learns the truth
    assert "guest list" in ann["Subject"]
    assert db.session.scalar(select(func.count()).select_from(Rsvp)) == 2


@pytest.mark.parametrize("eras", ERAS.values(), ids=ERAS.keys())
def test_every_stored_capability_survives_a_key_rotation(db, smtp, database_uri, smtp_server, eras):
    """Share links and calendar reply addresses, re-derived after a rotation, are the same."""
    from screenings.capabilities import reply_token
    from screenings.services import visibility

    apps = [
        create_app(
            app_config(
                database_uri,
                smtp_server.port,
                CALENDAR_REPLY_ADDRESS="replies@screenings.test",
                **keys,
            )
        )
        for keys in eras
    ]

    def capabilities(app, screening_id, rsvp_id):
        with app.app_context():
            screening = db.session.get(Screening, screening_id)
            rsvp = db.session.get(Rsvp, rsvp_id)
            return visibility.share_token(screening), reply_token(rsvp)

    with apps[0].app_context():
        screening = make_screening(visibility="private", is_public=False)
        visibility.issue_share_link(screening, actor="organizer:test")
        db.session.commit()
        screening_id, rsvp_id = screening.id, reply(screening).id
    first = capabilities(apps[0], screening_id, rsvp_id)
    assert all(first)
    for later in apps[1:]:
        assert capabilities(later, screening_id, rsvp_id) == first, later.config["LINK_KEYS"]
        assert later.test_client().get(f"/s/{first[0]}").status_code == 200
    # The apps' engines are disposed by the app fixture, once the outbox thread is idle.
