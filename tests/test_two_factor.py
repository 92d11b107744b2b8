"""TOTP two-factor: enrolment by QR code (decoded with a real decoder), codes against a clock
the test controls, recovery codes, and the owners' obligation in production."""

from __future__ import annotations

import base64
import io
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from sqlalchemy import select

from screenings import create_app
from screenings.models import AccountAction, AccountEvent, RecoveryCode
from screenings.services import producers as producer_service
from screenings.services.producers import create_producer

from .conftest import app_config, dispose_app_engine, hidden_fields
from .producer_helpers import PRODUCER_EMAIL, PRODUCER_PASSWORD, log_in
from .test_accounts import post, try_login

zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (dev dependency) decodes the QR")
Image = pytest.importorskip("PIL.Image")

T0 = 1_900_000_020  # a fixed instant (2030), at the start of a 30-second step


@pytest.fixture
def clock(monkeypatch):
    """The time TOTP codes are checked against; ``clock.now`` moves it."""

    class Clock:
        now = float(T0)

        def __call__(self) -> float:
            return self.now

    fake = Clock()
    monkeypatch.setattr(producer_service, "clock", fake)
    return fake


def decode_qr(page: str) -> str:
    """The text of the page's QR code, read from its PNG by zxing-cpp."""
    match = re.search(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert match, "no QR code image on the page"
    image = Image.open(io.BytesIO(base64.b64decode(match.group(1)))).convert("L")
    (result,) = zxingcpp.read_barcodes(image)
    assert result.format == zxingcpp.BarcodeFormat.QRCode
    return result.text


def enrol(client, clock) -> tuple[str, list[str]]:
    """Scan the QR code, type the current code; returns the secret and the recovery codes."""
    page = client.get("/producer/account/two-factor").get_data(as_text=True)
    uri = urlsplit(decode_qr(page))
    assert uri.scheme == "otpauth"
    assert uri.netloc == "totp"
    assert unquote(uri.path) == f"/Chutzpa Productions:{PRODUCER_EMAIL}"
    secret = parse_qs(uri.query)["secret"][0]
    assert f"<code>{secret}</code>" in page  # the same key, for typing in by hand
    code = pyotp.TOTP(secret).at(clock.now)
    response = client.post(
        "/producer/account/two-factor", data={**hidden_fields(page), "code": code}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li><code>([a-z2-7]{8}-[a-z2-7]{8})</code></li>", response.get_data(True))
    assert len(codes) == 10
    return secret, codes


@pytest.fixture
def owner(app, db):
    return create_producer(PRODUCER_EMAIL, PRODUCER_PASSWORD)


def test_enrolment_qr_decodes_and_codes_work_once_within_their_window(app, db, clock, owner):
    client = app.test_client()
    log_in(client)
    wrong = post(client, "/producer/account/two-factor", {"code": "000000"})
    assert wrong.status_code == 422
    assert 'id="code-error"' in wrong.get_data(as_text=True)
    secret, codes = enrol(client, clock)
    # Recovery codes are stored only as digests.
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert not {c.replace("-", "") for c in codes} & set(stored)

    totp = pyotp.TOTP(secret)
    browser = app.test_client()
    response = try_login(browser, PRODUCER_PASSWORD)
    assert response.headers["Location"] == "/producer/login/code"
    assert browser.get("/producer/").status_code == 302  # not logged in on the password alone
    # The code used to enrol (same time step) is not accepted again.
    assert post(browser, "/producer/login/code", {"code": totp.at(clock.now)}).status_code == 422
    # Two steps late is too late; one step late is still fine; then it is spent.
    clock.now += 90
    assert post(browser, "/producer/login/code", {"code": totp.at(T0)}).status_code == 422
    late = totp.at(clock.now - 30)
    assert post(browser, "/producer/login/code", {"code": late}).status_code == 302
    assert browser.get("/producer/").status_code == 200
    other = app.test_client()
    try_login(other, PRODUCER_PASSWORD)
    assert post(other, "/producer/login/code", {"code": late}).status_code == 422


def test_a_recovery_code_logs_in_once(app, db, clock, owner):
    client = app.test_client()
    log_in(client)
    _secret, codes = enrol(client, clock)
    first = app.test_client()
    try_login(first, PRODUCER_PASSWORD)
    assert post(first, "/producer/login/code", {"code": codes[3].upper()}).status_code == 302
    assert first.get("/producer/").status_code == 200
    second = app.test_client()
    try_login(second, PRODUCER_PASSWORD)
    assert post(second, "/producer/login/code", {"code": codes[3]}).status_code == 422
    (used,) = db.session.scalars(
        select(AccountEvent).where(AccountEvent.action == AccountAction.RECOVERY_CODE_USED)
    )
    assert used.detail == "9 left"


@pytest.mark.config(LOGIN_LOCKOUT_FAILURES=3)
def test_wrong_codes_count_towards_the_lockout(app, db, smtp, clock, owner):
    client = app.test_client()
    log_in(client)
    enrol(client, clock)
    guesser = app.test_client()
    try_login(guesser, PRODUCER_PASSWORD)
    for guess in ("111111", "222222", "333333"):
        post(guesser, "/producer/login/code", {"code": guess})
    db.session.refresh(owner)
    assert owner.locked_until is not None
    assert len(smtp.wait_for(1)) == 1  # the unlock link


def test_turning_it_off_needs_the_password(app, db, clock, owner):
    client = app.test_client()
    log_in(client)
    enrol(client, clock)
    url = "/producer/account/two-factor/disable"
    form = "/producer/account/two-factor"
    wrong = post(client, url, {"current_password": "not my password"}, form_url=form)
    assert wrong.status_code == 422
    db.session.refresh(owner)
    assert owner.has_two_factor
    post(client, url, {"current_password": PRODUCER_PASSWORD}, form_url=form)
    db.session.refresh(owner)
    assert not owner.has_two_factor
    assert db.session.scalars(select(RecoveryCode)).all() == []
    assert try_login(app.test_client(), PRODUCER_PASSWORD).headers["Location"] == "/producer/"


@pytest.mark.config(TWO_FACTOR_REQUIRED_FOR_OWNERS=True)
def test_owners_are_sent_to_enrolment_where_it_is_required(app, db, clock, owner):
    create_producer("viewer@example.org", "viewer password 12", role="viewer")
    client = app.test_client()
    response = try_login(client, PRODUCER_PASSWORD)
    assert response.headers["Location"] == "/producer/account/two-factor"
    assert client.get("/producer/").headers["Location"] == "/producer/account/two-factor"
    assert client.get("/producer/films").status_code == 302
    enrol(client, clock)
    assert client.get("/producer/").status_code == 200
    viewer = app.test_client()
    try_login(viewer, "viewer password 12", email="viewer@example.org")
    assert viewer.get("/producer/").status_code == 200  # only owners are obliged


@pytest.mark.usefixtures("_schema")
def test_production_requires_two_factor_for_owners(database_uri, smtp_server, patched_python):
    production = create_app(
        app_config(database_uri, smtp_server.port, ENV_NAME="production", SECRET_KEY="k" * 40)
    )
    assert production.config["TWO_FACTOR_REQUIRED_FOR_OWNERS"] is True
    development = create_app(app_config(database_uri, smtp_server.port))
    assert development.config["TWO_FACTOR_REQUIRED_FOR_OWNERS"] is False
    for app in (production, development):
        with app.app_context():
            dispose_app_engine()
