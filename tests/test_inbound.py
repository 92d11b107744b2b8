"""Calendar replies and bounces coming back, through the real inbound path (LMTP, stdin)."""

from __future__ import annotations

import secrets
import smtplib
from email import policy
from email.message import EmailMessage

import pytest

from screenings.extensions import db as _db
from screenings.models import MailBounce, RsvpStatus, Screening
from screenings.services.inbound import lmtp_server, receive_message

from .conftest import free_port
from .factories import make_screening
from .inbound_helpers import calendar_reply, deliver, dsn, full_house, invite_to, state
from .rsvp_helpers import calendar_bytes, reply

pytestmark = pytest.mark.config(CALENDAR_REPLY_ADDRESS="replies@screenings.test")


@pytest.fixture
def lmtp(app):
    server = lmtp_server(app, "127.0.0.1", free_port())
    server.start()
    yield server
    server.stop()


def _send_lmtp(lmtp, message: EmailMessage, recipient: str) -> None:
    with smtplib.LMTP(lmtp.hostname, lmtp.port) as client:
        wire = message.as_bytes(policy=policy.SMTP)  # CRLF line ends, as on the wire
        refused = client.sendmail("ann@example.org", [recipient], wire)
    assert refused == {}


def test_declined_reply_over_lmtp_frees_the_seat_and_promotes_the_waiting_list(db, smtp, lmtp):
    screening, ann, bob, invite, organizer = full_house(smtp)
    assert organizer.startswith("replies+")
    assert organizer.endswith("@screenings.test")
    smtp.clear()

    _send_lmtp(lmtp, calendar_reply(invite, "ann@example.org", "DECLINED"), organizer)

    assert state(ann, bob) == [(RsvpStatus.CANCELLED, None), (RsvpStatus.CONFIRMED, None)]
    assert _db.session.get(Screening, screening.id).seats_taken == 1
    deliver()
    assert "CANCEL" in calendar_bytes(smtp.to("ann@example.org")[0]).decode()
    assert smtp.to("bob@example.org")  # promoted: his invite is on its way


@pytest.mark.parametrize("partstat", ["ACCEPTED", "TENTATIVE"])
def test_accepted_and_tentative_replies_are_recorded(db, smtp, lmtp, partstat):
    screening = make_screening()
    ann = reply(screening, "ann@example.org")
    deliver()
    invite = invite_to(smtp, "ann@example.org")
    organizer = str(invite["ORGANIZER"]).removeprefix("mailto:")
    _send_lmtp(lmtp, calendar_reply(invite, "ann@example.org", partstat), organizer)
    assert state(ann) == [(RsvpStatus.CONFIRMED, partstat)]


def test_forged_replies_change_nothing(db, smtp, runner):
    _screening, ann, bob, invite, organizer = full_house(smtp)
    guessed = "replies+" + "".join(
        secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(32)
    )
    forgeries = [
        # Someone else's calendar answering with Ann's token: the attendee doesn't match.
        (calendar_reply(invite, "eve@example.org", "DECLINED"), organizer),
        # Ann's address with a guessed token.
        (calendar_reply(invite, "ann@example.org", "DECLINED"), guessed + "@screenings.test"),
        # No token at all (the From line says Ann).
        (calendar_reply(invite, "ann@example.org", "DECLINED"), "replies@screenings.test"),
    ]
    for message, recipient in forgeries:
        del message["To"]
        message["To"] = recipient
        result = runner.invoke(args=["inbound", "receive"], input=message.as_bytes())
        assert result.exit_code == 0, result.output
        assert result.output.startswith("ignored"), result.output
    assert state(ann, bob) == [(RsvpStatus.CONFIRMED, None), (RsvpStatus.WAITLISTED, None)]


def test_a_bounce_marks_the_address_and_a_stranger_is_not_recorded(db, smtp):
    screening = make_screening()
    reply(screening, "ann@example.org")
    assert receive_message(dsn("Ann@Example.org")).kind == "bounce"
    assert receive_message(dsn("stranger@example.org")).kind == "ignored"
    [bounce] = _db.session.scalars(_db.select(MailBounce)).all()
    assert (bounce.email_normalized, bounce.is_permanent) == ("ann@example.org", True)
    assert "user unknown" in bounce.diagnostic


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 100,
        b"Content-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:REPLY\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n"
        b"Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: nonsense\r\n--x--\r\n",
        b"To: replies+" + b"a" * 5000 + b"@screenings.test\r\n\r\nhello",
    ],
)
def test_hostile_input_is_ignored_not_raised(db, raw):
    outcome = receive_message(raw)
    assert outcome.kind == "ignored"
    assert outcome.detail != "unreadable"  # refused by a rule, not by the catch-all


def test_the_organizer_sees_a_tentative_answer_and_a_bouncing_address(db, smtp, client):
    from screenings.capabilities import manage_token

    screening = make_screening()
    ann = reply(screening, "ann@example.org")
    reply(screening, "bob@example.org")
    deliver()
    invite = invite_to(smtp, "ann@example.org")
    organizer = str(invite["ORGANIZER"]).removeprefix("mailto:")
    receive_message(calendar_reply(invite, "ann@example.org", "TENTATIVE").as_bytes(), (organizer,))
    receive_message(dsn("bob@example.org"))
    assert state(ann) == [(RsvpStatus.CONFIRMED, "TENTATIVE")]
    page = client.get(f"/manage/{manage_token(screening)}").get_data(as_text=True)
    ann_row, bob_row = (line for line in page.splitlines() if "@example.org</td>" in line)
    assert "maybe" in ann_row
    assert "bounces" not in ann_row
    assert "bounces" in bob_row


def _plain_reply(to: str, *, sender: str = "Ann Attendee <ann@example.org>", **headers):
    """A person answering our e-mail in words, with an attachment, a Cc and a Reply-To of
    their choosing (which must not become recipients)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Cc"] = "cc-target@evil.example"
    message["Reply-To"] = "reply-target@evil.example"
    message["Subject"] = "Re: Your seat"
    message["Message-ID"] = f"<{secrets.token_hex(8)}@mail.example.org>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Can I bring my daughter?\nShe is 12.\n")
    message.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="a.pdf")
    return message


def _reply_address(smtp) -> str:
    screening = make_screening()
    reply(screening, "ann@example.org")
    deliver()
    address = str(invite_to(smtp, "ann@example.org")["ORGANIZER"]).removeprefix("mailto:")
    smtp.clear()
    return address


def test_a_plain_reply_is_forwarded_to_the_organizer_only(db, smtp, runner):
    address = _reply_address(smtp)
    result = runner.invoke(args=["mail", "receive"], input=_plain_reply(address).as_bytes())
    assert result.output.startswith("forwarded"), result.output
    deliver()
    [envelope] = smtp.envelopes
    assert envelope.rcpt_tos == ["miriam@example.org"]  # never the addresses the mail named
    [forwarded] = smtp.messages
    assert "screenings@example.org" in str(forwarded["From"])
    assert [a.addr_spec for a in forwarded["Reply-To"].addresses] == ["ann@example.org"]
    assert forwarded["Cc"] is None
    text = forwarded.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "> Can I bring my daughter?\n> She is 12." in text
    assert "Attachments were left out." in text
    # The organizer answers by replying: nothing the guest must not see may be quoted.
    assert "/manage/" not in forwarded.as_string()
    assert not [p for p in forwarded.walk() if p.get_content_type() == "application/pdf"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"Precedence": "auto_reply"},
        {"X_Autoreply": "yes"},
        {"Subject_": "Out of Office: back on Monday"},
        {"Subject_": "Automatic reply: Your seat"},
    ],
)
def test_auto_replies_are_not_forwarded(db, smtp, runner, headers):
    address = _reply_address(smtp)
    message = _plain_reply(address)
    if "Subject_" in headers:
        del message["Subject"]
        message["Subject"] = headers.pop("Subject_")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    result = runner.invoke(args=["mail", "receive"], input=message.as_bytes())
    assert result.output.startswith("ignored an automatic reply"), result.output
    deliver()
    assert smtp.messages == []


@pytest.mark.parametrize(
    "sender",
    [
        '"Bob, evil@x.example" <a@b.example>, c@d.example',  # two addresses
        "not an address",
    ],
)
def test_a_reply_without_one_valid_sender_is_not_forwarded(db, smtp, runner, sender):
    address = _reply_address(smtp)
    message = _plain_reply(address, sender=sender)
    result = runner.invoke(args=["mail", "receive"], input=message.as_bytes())
    assert result.output.startswith("ignored no single valid sender"), result.output
    deliver()
    assert smtp.messages == []


def test_a_plain_reply_without_a_valid_token_is_not_forwarded(db, smtp, runner):
    _reply_address(smtp)
    guessed = "replies+" + "a" * 32 + "@screenings.test"
    result = runner.invoke(args=["mail", "receive"], input=_plain_reply(guessed).as_bytes())
    assert result.output.startswith("ignored"), result.output
    deliver()
    assert smtp.messages == []


def test_a_long_reply_is_cut(db, smtp):
    address = _reply_address(smtp)
    message = _plain_reply(address)
    message.get_body(("plain",)).set_content("word " * 10_000)
    assert receive_message(message.as_bytes()).kind == "forwarded"
    deliver()
    text = smtp.messages[0].get_body(("plain",)).get_content()
    assert "only its beginning is shown" in text
    assert len(text) < 25_000


@pytest.mark.config(CALENDAR_REPLY_ADDRESS="replies@screenings.test", INBOUND_FORWARDS_PER_DAY=1)
def test_forwarding_stops_at_the_daily_limit(db, smtp):
    address = _reply_address(smtp)
    assert receive_message(_plain_reply(address).as_bytes()).kind == "forwarded"
    outcome = receive_message(_plain_reply(address).as_bytes())
    assert (outcome.kind, outcome.detail.startswith("forwarding limit")) == ("ignored", True)
