"""Producer accounts: lockout and unlock link, sessions per device, reset, change, team, audit.

Every e-mail is read from the loopback SMTP server, and its link followed as a person would.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from screenings import create_app, outbox
from screenings.extensions import db as _db
from screenings.models import (
    AccountAction,
    AccountEvent,
    AccountLink,
    Producer,
    ProducerSession,
    utcnow,
)
from screenings.services.producers import create_producer

from .conftest import app_config, dispose_app_engine, hidden_fields
from .producer_helpers import PRODUCER_EMAIL, PRODUCER_PASSWORD, log_in

ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
HOME = {"REMOTE_ADDR": "198.51.100.7"}
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def post(client, url: str, data: dict, *, form_url: str | None = None, **kwargs):
    """GET the form, POST it with its hidden fields, close the response (outbox delivery)."""
    page = client.get(form_url or url, **kwargs)
    assert page.status_code == 200, (form_url or url, page.status_code)
    response = client.post(
        url, data={**hidden_fields(page.get_data(as_text=True)), **data}, **kwargs
    )
    response.get_data()
    response.close()
    return response


def try_login(client, password: str, email: str = PRODUCER_EMAIL, **kwargs):
    return post(client, "/producer/login", {"email": email, "password": password}, **kwargs)


def link_in(message, path: str) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(rf"http://screenings\.test({re.escape(path)}[^\s]+)", text)
    assert match, text
    return match.group(1)


def events(action: AccountAction) -> list[AccountEvent]:
    return list(_db.session.scalars(select(AccountEvent).where(AccountEvent.action == action)))


@pytest.fixture
def owner(app, db):
    return create_producer(PRODUCER_EMAIL, PRODUCER_PASSWORD)


# -- lockout -------------------------------------------------------------------------------------
@pytest.mark.config(LOGIN_LOCKOUT_FAILURES=3, LOGIN_LOCKOUT_MINUTES=15)
def test_lockout_emails_an_unlock_link_that_lets_the_owner_in_while_attacks_go_on(
    app, db, smtp, owner
):
    attacker, producer = app.test_client(), app.test_client()
    for _ in range(3):
        assert try_login(attacker, "guess guess guess", environ_base=ATTACKER).status_code == 422
    db.session.refresh(owner)
    assert owner.locked_until is not None
    (message,) = smtp.wait_for(1)
    assert message["To"].addresses[0].addr_spec == PRODUCER_EMAIL
    # Locked: even the right password is refused, from any address, without an unlock link.
    refused = try_login(producer, PRODUCER_PASSWORD, environ_base=HOME)
    assert refused.status_code == 422
    assert "locked" in refused.get_data(as_text=True)
    # The owner opens the link: a page with a button (a mail scanner's GET uses nothing up).
    unlock = link_in(message, "/producer/unlock/")
    assert producer.get(unlock, environ_base=HOME).status_code == 200
    assert post(producer, unlock, {}, environ_base=HOME).status_code == 302
    # The attacker locks the account again at once ...
    for _ in range(3):
        try_login(attacker, "guess guess guess", environ_base=ATTACKER)
    db.session.refresh(owner)
    assert owner.locked_until is not None
    assert try_login(attacker, PRODUCER_PASSWORD, environ_base=ATTACKER).status_code == 422
    # ... and the browser that opened the link still logs in, once; the link is used up.
    assert try_login(producer, PRODUCER_PASSWORD, environ_base=HOME).status_code == 302
    assert app.test_client().get(unlock).status_code == 404
    assert len(events(AccountAction.LOCKED)) == 2
    assert len(events(AccountAction.UNLOCKED)) == 1


@pytest.mark.config(LOGIN_LOCKOUT_FAILURES=4)
def test_failures_are_counted_in_the_database_for_every_worker(
    app, db, smtp, owner, database_uri, smtp_server
):
    """Two app instances (two gunicorn workers) add up to one lockout, not two half ones."""
    other = create_app(app_config(database_uri, smtp_server.port, LOGIN_LOCKOUT_FAILURES=4))
    clients = [app.test_client(), other.test_client()]
    for attempt in range(4):
        with (other if attempt % 2 else app).app_context():
            try_login(clients[attempt % 2], "guess guess guess")
    assert outbox.wait_idle(15)  # the other app's unlock e-mail is sent before its engine goes
    with other.app_context():
        dispose_app_engine()
    db.session.expire_all()
    assert db.session.get(Producer, owner.id).locked_until is not None
    assert len(smtp.wait_for(1)) == 1


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
def test_the_address_limit_stops_the_attacker_not_the_producer_elsewhere(app, db, owner):
    attacker, producer = app.test_client(), app.test_client()
    codes = [
        try_login(attacker, "guess guess guess", environ_base=ATTACKER).status_code
        for _ in range(4)
    ]
    assert codes == [422, 422, 422, 429]
    # Another address is not limited, and successful logins do not count against one.
    for _ in range(4):
        assert try_login(producer, PRODUCER_PASSWORD, environ_base=HOME).status_code == 302
        post(producer, "/producer/logout", {}, form_url="/producer/", environ_base=HOME)


def test_unknown_and_disabled_accounts_answer_like_a_wrong_password(app, db, owner):
    client = app.test_client()
    wrong = try_login(client, "guess guess guess").get_data(as_text=True)
    unknown = try_login(client, PRODUCER_PASSWORD, email="nobody@example.org")
    assert unknown.status_code == 422
    message = "That e-mail and password do not match an account."
    assert message in wrong
    assert message in unknown.get_data(as_text=True)
    (failed,) = [e for e in events(AccountAction.LOGIN_FAILED) if e.producer_id is None]
    assert failed.detail == "unknown account"  # what was typed is never stored


# -- sessions per device -------------------------------------------------------------------------
def test_each_device_keeps_its_session_and_a_new_one_is_announced(app, db, smtp, owner):
    laptop, phone = app.test_client(), app.test_client()
    try_login(laptop, PRODUCER_PASSWORD, headers={"User-Agent": FIREFOX}, environ_base=HOME)
    assert smtp.wait_for(1, timeout=0.3) == []  # the first device is not news
    try_login(phone, PRODUCER_PASSWORD, headers={"User-Agent": IPHONE}, environ_base=ATTACKER)
    # Both stay logged in (before, the second login logged the first out).
    # (Flask-Login's strong protection ties a session to its User-Agent and address.)
    assert (
        laptop.get("/producer/", headers={"User-Agent": FIREFOX}, environ_base=HOME).status_code
        == 200
    )
    assert (
        phone.get("/producer/", headers={"User-Agent": IPHONE}, environ_base=ATTACKER).status_code
        == 200
    )
    (notice,) = smtp.wait_for(1)
    text = notice.get_body(preferencelist=("plain",)).get_content()
    assert "Safari on iPhone" in text
    assert ATTACKER["REMOTE_ADDR"] in text
    # A second login from a device the account knows sends nothing.
    smtp.clear()
    try_login(app.test_client(), PRODUCER_PASSWORD, headers={"User-Agent": FIREFOX})
    assert smtp.wait_for(1, timeout=0.3) == []
    page = laptop.get("/producer/account/", headers={"User-Agent": FIREFOX}, environ_base=HOME)
    page = page.get_data(as_text=True)
    assert "Firefox on Linux" in page
    assert "Safari on iPhone" in page


def test_revoke_one_device_then_all_others(app, db, owner):
    laptop, phone, tablet = (app.test_client() for _ in range(3))
    for client in (laptop, phone, tablet):
        log_in(client)
    phone_session = db.session.scalars(select(ProducerSession).order_by(ProducerSession.id)).all()[
        1
    ]
    post(
        laptop,
        f"/producer/account/sessions/{phone_session.id}/revoke",
        {},
        form_url="/producer/account/",
    )
    assert phone.get("/producer/").status_code == 302
    assert tablet.get("/producer/").status_code == 200
    post(laptop, "/producer/account/sessions/revoke-others", {}, form_url="/producer/account/")
    assert tablet.get("/producer/").status_code == 302
    assert laptop.get("/producer/").status_code == 200
    # Someone else's session id is not yours to end.
    other = create_producer("other@example.org", "other password 123")
    intruder = app.test_client()
    log_in(intruder, "other@example.org", "other password 123")
    laptop_session = db.session.scalars(
        select(ProducerSession).order_by(ProducerSession.id)
    ).first()
    post(
        intruder,
        f"/producer/account/sessions/{laptop_session.id}/revoke",
        {},
        form_url="/producer/account/",
    )
    assert laptop.get("/producer/").status_code == 200
    assert other.id != owner.id


def test_a_copied_cookie_dies_with_its_session_and_idle_sessions_end(app, db, owner):
    client = app.test_client()
    log_in(client)
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.get("/producer/").status_code == 200
    db.session.execute(update(ProducerSession).values(last_seen_at=utcnow() - timedelta(days=15)))
    db.session.commit()
    assert client.get("/producer/").status_code == 302
    assert copy.get("/producer/").status_code == 302


# -- password reset and change -------------------------------------------------------------------
def test_reset_answers_the_same_for_unknown_addresses_and_its_link_works_once(app, db, smtp, owner):
    other_device = app.test_client()
    log_in(other_device)
    client = app.test_client()
    unknown = post(
        client, "/producer/reset", {"email": "nobody@example.org"}, follow_redirects=True
    )
    known = post(client, "/producer/reset", {"email": PRODUCER_EMAIL}, follow_redirects=True)
    assert unknown.status_code == known.status_code == 200
    answer = "is a producer account, we have e-mailed it a link"
    assert answer in unknown.get_data(as_text=True)
    assert answer in known.get_data(as_text=True)
    (message,) = smtp.wait_for(1)
    assert message["To"].addresses[0].addr_spec == PRODUCER_EMAIL
    assert len(smtp.wait_for(2, timeout=0.3)) == 1  # nothing went to the unknown address
    link = link_in(message, "/producer/reset/")
    short = post(client, link, {"password": "short", "confirm": "short"})
    assert short.status_code == 422
    assert "at least 12 characters" in short.get_data(as_text=True)
    new = "a brand new password"
    assert post(client, link, {"password": new, "confirm": new}).status_code == 302
    assert client.get(link).status_code == 404  # used once
    assert other_device.get("/producer/").status_code == 302  # every session ended
    assert try_login(app.test_client(), PRODUCER_PASSWORD).status_code == 422
    assert try_login(app.test_client(), new).status_code == 302


def test_reset_links_expire_and_are_sent_once_per_interval(app, db, smtp, owner):
    client = app.test_client()
    for _ in range(3):
        post(client, "/producer/reset", {"email": PRODUCER_EMAIL})
    assert len(smtp.wait_for(2, timeout=0.5)) == 1
    link = link_in(smtp.messages[0], "/producer/reset/")
    db.session.execute(
        update(AccountLink).values(expires_at=AccountLink.created_at - timedelta(seconds=1))
    )
    db.session.commit()
    assert client.get(link).status_code == 404


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute")
def test_reset_requests_are_rate_limited_per_address(app, db, owner):
    client = app.test_client()
    codes = [
        post(client, "/producer/reset", {"email": "x@example.org"}).status_code for _ in range(3)
    ]
    assert codes == [302, 302, 429]


def test_change_password_needs_the_current_one_and_logs_out_other_devices(app, db, owner):
    client, other = app.test_client(), app.test_client()
    log_in(client)
    log_in(other)
    wrong = post(
        client,
        "/producer/account/password",
        {"current_password": "not it at all", "password": "n" * 14, "confirm": "n" * 14},
        form_url="/producer/account/",
    )
    assert wrong.status_code == 422
    page = wrong.get_data(as_text=True)
    assert 'id="current_password-error"' in page
    assert "That is not your current password." in page
    assert other.get("/producer/").status_code == 200
    done = post(
        client,
        "/producer/account/password",
        {"current_password": PRODUCER_PASSWORD, "password": "n" * 14, "confirm": "n" * 14},
        form_url="/producer/account/",
    )
    assert done.status_code == 302
    assert client.get("/producer/").status_code == 200
    assert other.get("/producer/").status_code == 302
    assert try_login(app.test_client(), "n" * 14).status_code == 302
    assert [e.action for e in events(AccountAction.PASSWORD_CHANGED)] == ["password_changed"]


# -- the team ------------------------------------------------------------------------------------
def test_owner_invites_a_reviewer_who_sets_a_password_then_is_disabled(app, db, smtp, owner):
    boss = app.test_client()
    log_in(boss)
    response = post(
        boss,
        "/producer/team/invite",
        {"email": "Rivka@Example.org", "role": "reviewer"},
        form_url="/producer/team",
    )
    assert response.status_code == 302
    (invitation,) = smtp.wait_for(1)
    assert invitation["To"].addresses[0].addr_spec == "rivka@example.org"
    link = link_in(invitation, "/producer/invite/")
    # Before accepting, the account has no password that could match anything.
    assert try_login(app.test_client(), "", email="rivka@example.org").status_code == 422
    rivka = app.test_client()
    password = "rivka's own password"
    assert post(rivka, link, {"password": password, "confirm": password}).status_code == 302
    assert rivka.get(link).status_code == 404
    log_in(rivka, "rivka@example.org", password)
    assert rivka.get("/producer/approvals").status_code == 200
    assert rivka.get("/producer/team").status_code == 403
    member = db.session.scalar(select(Producer).where(Producer.email == "rivka@example.org"))
    post(boss, f"/producer/team/{member.id}/disable", {}, form_url="/producer/team")
    assert rivka.get("/producer/").status_code == 302  # her session ended at once
    assert try_login(app.test_client(), password, email="rivka@example.org").status_code == 422
    log = boss.get("/producer/team/log").get_data(as_text=True)
    for action in ("invited", "invite_accepted", "disabled", "login"):
        assert f"<td>{action}</td>" in log, action


def test_roles_change_but_the_last_owner_stays(app, db, owner):
    boss = app.test_client()
    log_in(boss)
    viewer = create_producer("v@example.org", "viewer password 1", role="viewer")
    post(
        boss,
        f"/producer/team/{viewer.id}/role",
        {f"m{viewer.id}-role": "owner"},
        form_url="/producer/team",
    )
    db.session.refresh(viewer)
    assert viewer.role == "owner"
    post(boss, f"/producer/team/{viewer.id}/disable", {}, form_url="/producer/team")
    db.session.refresh(viewer)
    assert viewer.disabled_at is not None
    # Now the only active owner cannot demote or disable themself.
    response = post(
        boss,
        f"/producer/team/{owner.id}/role",
        {f"m{owner.id}-role": "viewer"},
        form_url="/producer/team",
        follow_redirects=True,
    )
    assert "Keep at least one active owner." in response.get_data(as_text=True)
    db.session.refresh(owner)
    assert owner.role == "owner"
    assert [e.detail for e in events(AccountAction.ROLE_CHANGED)] == ["viewer -> owner"]


def test_invite_form_rerenders_with_the_message_beside_the_field(app, db, owner):
    boss = app.test_client()
    log_in(boss)
    response = post(
        boss,
        "/producer/team/invite",
        {"email": PRODUCER_EMAIL, "role": "viewer"},
        form_url="/producer/team",
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="email-error"' in page
    assert "already exists" in page


def test_the_cli_still_creates_an_owner(runner, db):
    result = runner.invoke(args=["producer", "create", "cli@example.org", "--password", "x" * 12])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Producer.role).where(Producer.email == "cli@example.org")) == (
        "owner"
    )


# -- password hashing (issue 17) -----------------------------------------------------------------
def test_testing_hashes_cheaply_and_production_with_the_real_parameters(
    app, database_uri, smtp_server, patched_python
):
    from screenings.security import hash_password, password_matches

    cheap = hash_password("a password")
    assert "$argon2id$" in cheap
    assert "m=8,t=1,p=1" in cheap
    real_app = create_app(
        {**app_config(database_uri, smtp_server.port), "TESTING": False, "ENV_NAME": "production"}
    )
    with real_app.app_context():
        real = hash_password("a password")
        assert "m=65536,t=3,p=4" in real
        assert password_matches(cheap, "a password")  # old cheap hashes still verify
        dispose_app_engine()
    assert password_matches(real, "a password")


@pytest.mark.config(
    RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="5 per minute", LOGIN_LOCKOUT_FAILURES=3
)
def test_behind_one_shared_address_the_unlock_link_still_lets_the_producer_in(app, db, smtp, owner):
    """Every visitor seen from one address (a proxy without FLASK_PROXY_FIX): the attacker
    uses up the address's limit and locks the account; the link's browser still logs in."""
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    attacker, producer = app.test_client(), app.test_client()
    codes = [
        try_login(attacker, "guess guess guess", environ_base=proxy).status_code for _ in range(6)
    ]
    assert codes == [422] * 5 + [429]
    assert try_login(producer, PRODUCER_PASSWORD, environ_base=proxy).status_code == 429
    unlock = link_in(smtp.wait_for(1)[0], "/producer/unlock/")
    post(producer, unlock, {}, environ_base=proxy)
    assert try_login(producer, PRODUCER_PASSWORD, environ_base=proxy).status_code == 302
    # The attacker, same address, no link: still limited.
    assert try_login(attacker, PRODUCER_PASSWORD, environ_base=proxy).status_code == 429


def test_a_logged_in_producer_gets_the_503_page_when_the_database_is_down(
    app, db, owner, monkeypatch
):
    from sqlalchemy.exc import OperationalError

    from screenings.services import producers

    client = app.test_client()
    log_in(client)

    def database_down(token):
        raise OperationalError("SELECT … FROM producer_sessions", {}, ConnectionError("down"))

    monkeypatch.setattr(producers, "load_session", database_down)
    response = client.get("/producer/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def test_the_cached_dashboard_follows_a_change_of_role(app, db, owner):
    """The dashboard is cached per producer: its navigation must not outlive a demotion."""
    other = create_producer("second-owner@example.org", "second owner password", role="owner")
    client = app.test_client()
    log_in(client)
    for _ in range(2):  # the first view shows the log-in's flash and is not cached
        assert 'href="/producer/team"' in client.get("/producer/").get_data(as_text=True)
    from screenings.services.producers import change_role

    change_role(other, owner, "viewer", address=None)
    assert 'href="/producer/team"' not in client.get("/producer/").get_data(as_text=True)
