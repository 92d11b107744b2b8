"""E-mail header injection through names (CVE-2024-6923 and its relatives), layer by layer.

The forms refuse what would decode to a control character; should a payload get past them,
``compose`` defuses user text before it reaches a header; should that fail, ``enqueue``
refuses a message that does not read back as written. Each layer is tested on its own, and
what the loopback SMTP server received is parsed the way a mail client would.
"""

from __future__ import annotations

import re
import sys
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from sqlalchemy import func, select

from screenings import create_app, forms, outbox
from screenings.config import ConfigurationError
from screenings.emails import send_booking_received
from screenings.extensions import db
from screenings.models import OutboxMessage, Screening
from screenings.outbox import UnsafeMessage
from screenings.safetext import interpreter_is_vulnerable

from .conftest import booking_data, submit
from .factories import make_screening
from .rsvp_helpers import post_rsvp

EVIL = "attacker@evil.example"
ENCODED = f"=?utf-8?q?Eve=0D=0AReply-To:_{EVIL}=0D=0A?="
# A whole second body: Content-Type, a blank line and HTML, all inside one encoded-word.
ENCODED_BODY = (
    f"=?utf-8?q?Eve=0D=0AReply-To:_{EVIL}=0D=0AContent-Type:_text/html=0D=0A=0D=0A"
    "<a_href=3D=22http://evil.example=22>Claim_your_seat</a>?="
)
ENCODED_B64 = "=?utf-8?b?RXZlDQpCY2M6IGF0dGFja2VyQGV2aWwuZXhhbXBsZQ0K?="  # Eve CRLF Bcc: …
NESTED = "=?utf-8?q?=3D=3Futf-8=3Fq=3FEve=3D0D=3D0ABcc:_attacker@evil.example=3F=3D?="
C1_ENCODED = "=?utf-8?q?Eve=C2=85Bcc:_attacker@evil.example?="  # NEL, a C1 control

# (payload, the message beside the field)
PAYLOADS = [
    (ENCODED, "This must be on one line."),
    (ENCODED_BODY, "This must be on one line."),
    (ENCODED_B64, "This must be on one line."),
    (NESTED, "This must be on one line."),
    (C1_ENCODED, "invisible control characters"),
    (f"Eve\r\nReply-To: {EVIL}", "This must be on one line."),
    (f"Eve\nReply-To: {EVIL}", "This must be on one line."),
    (f"Eve\rReply-To: {EVIL}", "This must be on one line."),
    ("Eve\u2028Reply-To: x", "This must be on one line."),
    ("Eve\x00Cohen", "invisible control characters"),
    ("Eve\tCohen", "invisible control characters"),
    ("Eve\x7fCohen", "invisible control characters"),
    ("Eve\x85Cohen", "invisible control characters"),
]
# Payloads the forms see through; used where the form check is switched off.
ENCODED_PAYLOADS = [ENCODED, ENCODED_BODY, ENCODED_B64, NESTED, C1_ENCODED]

OURS = "screenings@example.org"
EXPECTED_HEADERS = {
    "subject",
    "from",
    "to",
    "date",
    "message-id",
    "auto-submitted",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-language",
}


def _field_error(page: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
    assert match, f"no error beside {field}"
    return match.group(1).replace("&#39;", "'")


def _queued() -> int:
    return db.session.scalar(select(func.count(OutboxMessage.id)))


def assert_clean(message, recipient: str) -> None:
    """What a mail client shows: our From, exactly one To, no header or part of the attacker's."""
    names = {name.lower() for name in message}
    assert names <= EXPECTED_HEADERS, names - EXPECTED_HEADERS
    assert message["Reply-To"] is None
    assert message["Bcc"] is None
    assert message["Cc"] is None
    assert [a.addr_spec for a in message["From"].addresses] == [OURS]
    assert [a.addr_spec for a in message["To"].addresses] == [recipient]
    for name, value in message.items():
        assert not re.search(r"[\x00-\x1f\x7f-\x9f]", str(value)), (name, str(value))
    types = [part.get_content_type() for part in message.walk()]
    assert types.count("text/html") == 1, types
    html = message.get_body(preferencelist=("html",)).get_content()
    assert 'href="http://evil.example"' not in html
    for part in message.walk():
        assert not {name.lower() for name in part} & {"reply-to", "bcc", "cc"}


# ------------------------------------------------------------------ layer 1: the forms
@pytest.mark.parametrize(("payload", "error"), PAYLOADS)
@pytest.mark.parametrize("field", ["contact_name", "venue_name", "organization_name"])
def test_booking_form_refuses_payload_beside_the_field(client, db, smtp, field, payload, error):
    response = submit(client, "/book", booking_data(**{field: payload}))
    assert response.status_code == 422
    assert error in _field_error(response.get_data(as_text=True), field)
    assert db.session.scalar(select(func.count(Screening.id))) == 0
    assert _queued() == 0
    assert smtp.messages == []


@pytest.mark.parametrize(("payload", "error"), PAYLOADS)
def test_rsvp_form_refuses_payload(client, db, smtp, payload, error):
    screening = make_screening()
    before = _queued()
    response = post_rsvp(client, screening, name=payload)
    assert response.status_code == 422
    assert error in response.get_data(as_text=True)
    assert _queued() == before
    assert smtp.messages == []


@pytest.mark.parametrize(("payload", "error"), PAYLOADS[:6])
@pytest.mark.parametrize("field", ["contact_name", "venue_name"])
def test_edit_form_refuses_payload(book, client, db, smtp, field, payload, error):
    path = book().request.path
    assert path.startswith("/manage/")
    before = _queued()
    response = submit(client, path + "/edit", booking_data(**{field: payload}))
    assert response.status_code == 422
    assert error in _field_error(response.get_data(as_text=True), field)
    assert _queued() == before
    assert getattr(db.session.scalar(select(Screening)), field) == booking_data()[field]


@pytest.mark.parametrize(("payload", "error"), PAYLOADS[:6])
def test_login_form_refuses_payload(client, payload, error):
    response = submit(client, "/producer/login", {"email": payload, "password": "x" * 12})
    assert response.status_code in (200, 422)
    assert error in response.get_data(as_text=True)


def test_text_areas_keep_line_breaks(book, db):
    book(notes="Doors at 18:30.\r\nQ&A with the director afterwards.")
    assert "\n" in db.session.scalar(select(Screening)).notes


# ------------------------------------------------------------------ layer 2: compose
@pytest.fixture
def forms_let_everything_through(monkeypatch):
    """Switch the form check off, as a form that forgot it would."""
    monkeypatch.setattr(forms, "text_problem", lambda value, multiline=False: None)


@pytest.mark.parametrize("payload", ENCODED_PAYLOADS)
def test_booking_and_edit_payloads_past_the_form_are_defused(
    client, db, smtp, forms_let_everything_through, payload
):
    """Contact, venue and organization names reach the To and Subject headers: defused."""
    response = submit(
        client,
        "/book",
        booking_data(contact_name=payload, venue_name=payload, organization_name=payload),
        follow_redirects=True,
    )
    assert response.status_code == 200
    path = response.request.path
    submit(client, path + "/edit", booking_data(venue_name=payload + " B", start_time="20:00"))
    messages = smtp.wait_for(2)
    assert len(messages) >= 2
    for message in messages:
        assert_clean(message, "miriam@example.org")
        assert "=?" not in message["To"].addresses[0].display_name
        assert "=?" not in str(message["Subject"])


@pytest.mark.parametrize("payload", ENCODED_PAYLOADS)
def test_rsvp_payload_past_the_form_is_defused(
    client, db, smtp, forms_let_everything_through, payload
):
    screening = make_screening()
    response = post_rsvp(client, screening, name=payload, email="eve@example.org")
    assert response.status_code in (200, 302, 303)
    messages = smtp.wait_for(1)
    to_eve = [m for m in messages if "eve@example.org" in str(m["To"])]
    assert to_eve, [str(m["To"]) for m in messages]
    for message in to_eve:
        assert_clean(message, "eve@example.org")
        display = message["To"].addresses[0].display_name
        assert display.startswith("= ?utf-8?")  # shown as typed, never decoded


RAW_NAMES = [
    f"Eve\r\nReply-To: {EVIL}",
    "Eve\rBcc: x@evil.example",
    "Eve\x07\u2028x",
]  # no NUL: PostgreSQL cannot store one


def _booking_received_to(name: str) -> bytes:
    """Queue the booking-received e-mail (venue in the Subject) for a screening named name."""
    screening = make_screening()
    screening.contact_name = name
    screening.venue_name = name
    send_booking_received(screening)
    return db.session.scalars(
        select(OutboxMessage.raw).where(OutboxMessage.kind == "booking_received")
    ).one()


@pytest.mark.parametrize("name", [*ENCODED_PAYLOADS, *RAW_NAMES])
def test_compose_defuses_names_and_subject(app, name):
    """Stored names that never met a form (imports, old rows): defused in To and Subject."""
    received = message_from_bytes(_booking_received_to(name), policy=default_policy)
    assert_clean(received, "miriam@example.org")
    assert "=?" not in str(received["Subject"])


# ------------------------------------------------------------------ layer 3: the final check
@pytest.mark.parametrize("payload", [ENCODED, ENCODED_BODY, ENCODED_B64, NESTED])
def test_enqueue_refuses_a_message_that_reads_back_differently(app, monkeypatch, payload):
    """With compose's defusing switched off the payload gets into the headers; enqueue says no."""
    monkeypatch.setattr(outbox, "header_text", lambda value: value)
    with pytest.raises(UnsafeMessage):
        _booking_received_to(payload)
    db.session.rollback()
    assert (
        db.session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "booking_received")
        )
        == 0
    )


# ------------------------------------------------------------------ the interpreter
@pytest.mark.parametrize(
    ("version", "vulnerable"),
    [
        ((3, 11, 7), True),
        ((3, 11, 9), True),
        ((3, 11, 10), False),
        ((3, 12, 4), True),
        ((3, 12, 5), False),
        ((3, 13, 0), False),
        ((3, 14, 1), False),
        ((3, 10, 20), True),
    ],
)
def test_vulnerable_interpreters(version, vulnerable):
    assert interpreter_is_vulnerable(version) is vulnerable


def _production(**extra):
    return {
        "ENV_NAME": "production",
        "SECRET_KEY": "k" * 64,
        "LINK_KEYS": ["l" * 64],
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        **extra,
    }


def test_production_refuses_a_vulnerable_python(monkeypatch):
    monkeypatch.setattr(sys, "version_info", (3, 11, 7, "final", 0))
    with pytest.raises(ConfigurationError, match=r"CVE-2024-6923.*3\.11\.10, 3\.12\.5, 3\.13\.0"):
        create_app(_production())


def test_production_starts_on_a_fixed_python(monkeypatch):
    monkeypatch.setattr(sys, "version_info", (3, 11, 10, "final", 0))
    assert create_app(_production()).config["ENV_NAME"] == "production"


def test_production_starts_when_told_the_distribution_patched_it(monkeypatch):
    monkeypatch.setattr(sys, "version_info", (3, 11, 7, "final", 0))
    assert create_app(_production(TRUST_PATCHED_PYTHON=True))


def test_development_starts_on_a_vulnerable_python_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(sys, "version_info", (3, 12, 4, "final", 0))
    with caplog.at_level("WARNING"):
        app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["ENV_NAME"] == "development"
    assert "CVE-2024-6923" in caplog.text


LONG_NAME = "St. Paul's Cathedral Community Group of Greater Toronto, Ontario: Canada, and friends"


def test_a_long_name_with_commas_and_colons_reads_back_as_one_display_name(book, smtp):
    """Folded at 78 characters the standard library drops the quotes of this name, and its
    words after the comma read back as an address; written unfolded, it stays a name."""
    book(contact_name=LONG_NAME)
    (message,) = smtp.wait_for(1)
    assert_clean(message, "miriam@example.org")
    assert message["To"].addresses[0].display_name == LONG_NAME
