"""Calendar replies and bounces coming back, through the real inbound path (LMTP, stdin)."""

from __future__ import annotations

import secrets
import smtplib
from email import policy
from email.message import EmailMessage

import pytest
from icalendar import Calendar, Event, vCalAddress

from screenings.extensions import db as _db
from screenings.models import MailBounce, Rsvp, RsvpStatus, Screening
from screenings.services.inbound import lmtp_server, receive_message

from .conftest import free_port
from .factories import make_screening
from .rsvp_helpers import calendar_bytes, reply

pytestmark = pytest.mark.config(CALENDAR_REPLY_ADDRESS="replies@screenings.test")


def _deliver():
    from screenings.outbox import deliver_pending

    deliver_pending()


def _invite_to(smtp, address: str) -> Event:
    [message] = [m for m in smtp.to(address) if "text/calendar" in m.as_string()]
    return Calendar.from_ical(calendar_bytes(message)).walk("VEVENT")[0]


def _calendar_reply(invite: Event, attendee: str, partstat: str) -> EmailMessage:
    """A REPLY as Gmail and Outlook send one: METHOD:REPLY, the invite's UID and SEQUENCE,
    one ATTENDEE with its PARTSTAT, in a text/calendar part with method=REPLY, to ORGANIZER."""
    calendar = Calendar()
    calendar.add("PRODID", "-//Google Inc//Google Calendar 70.9054//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", "REPLY")
    event = Event()
    for name in ("UID", "SEQUENCE", "DTSTART", "DTEND", "SUMMARY", "ORGANIZER"):
        event.add(name, invite[name])
    event.add("DTSTAMP", invite.decoded("DTSTAMP"))
    who = vCalAddress(f"mailto:{attendee}")
    who.params["PARTSTAT"] = partstat
    who.params["CN"] = "Ann Attendee"
    event.add("ATTENDEE", who)
    calendar.add_component(event)
    message = EmailMessage()
    message["From"] = f"Ann Attendee <{attendee}>"
    message["To"] = str(invite["ORGANIZER"]).removeprefix("mailto:")
    message["Subject"] = f"Declined: {invite['SUMMARY']}"
    message.set_content(f"Ann Attendee has {partstat.lower()} this invitation.")
    message.add_alternative(
        calendar.to_ical().decode(), subtype="calendar", params={"method": "REPLY"}
    )
    return message


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


def _state(*rsvps) -> list[tuple[str, str | None]]:
    _db.session.expire_all()
    return [(r.status, r.reply_partstat) for r in (_db.session.get(Rsvp, x.id) for x in rsvps)]


def _full_house(smtp):
    """One seat: Ann holds it, Bob waits; Ann's invite and the address it says to reply to."""
    screening = make_screening(capacity=1)
    ann = reply(screening, "ann@example.org")
    bob = reply(screening, "bob@example.org")
    _deliver()
    invite = _invite_to(smtp, "ann@example.org")
    return screening, ann, bob, invite, str(invite["ORGANIZER"]).removeprefix("mailto:")


def test_declined_reply_over_lmtp_frees_the_seat_and_promotes_the_waiting_list(db, smtp, lmtp):
    screening, ann, bob, invite, organizer = _full_house(smtp)
    assert organizer.startswith("replies+")
    assert organizer.endswith("@screenings.test")
    smtp.clear()

    _send_lmtp(lmtp, _calendar_reply(invite, "ann@example.org", "DECLINED"), organizer)

    assert _state(ann, bob) == [(RsvpStatus.CANCELLED, None), (RsvpStatus.CONFIRMED, None)]
    assert _db.session.get(Screening, screening.id).seats_taken == 1
    _deliver()
    assert "CANCEL" in calendar_bytes(smtp.to("ann@example.org")[0]).decode()
    assert smtp.to("bob@example.org")  # promoted: his invite is on its way


@pytest.mark.parametrize("partstat", ["ACCEPTED", "TENTATIVE"])
def test_accepted_and_tentative_replies_are_recorded(db, smtp, lmtp, partstat):
    screening = make_screening()
    ann = reply(screening, "ann@example.org")
    _deliver()
    invite = _invite_to(smtp, "ann@example.org")
    organizer = str(invite["ORGANIZER"]).removeprefix("mailto:")
    _send_lmtp(lmtp, _calendar_reply(invite, "ann@example.org", partstat), organizer)
    assert _state(ann) == [(RsvpStatus.CONFIRMED, partstat)]


def test_forged_replies_change_nothing(db, smtp, runner):
    _screening, ann, bob, invite, organizer = _full_house(smtp)
    guessed = "replies+" + "".join(
        secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(32)
    )
    forgeries = [
        # Someone else's calendar answering with Ann's token: the attendee doesn't match.
        (_calendar_reply(invite, "eve@example.org", "DECLINED"), organizer),
        # Ann's address with a guessed token.
        (_calendar_reply(invite, "ann@example.org", "DECLINED"), guessed + "@screenings.test"),
        # No token at all (the From line says Ann).
        (_calendar_reply(invite, "ann@example.org", "DECLINED"), "replies@screenings.test"),
    ]
    for message, recipient in forgeries:
        del message["To"]
        message["To"] = recipient
        result = runner.invoke(args=["inbound", "receive"], input=message.as_bytes())
        assert result.exit_code == 0, result.output
        assert result.output.startswith("ignored"), result.output
    assert _state(ann, bob) == [(RsvpStatus.CONFIRMED, None), (RsvpStatus.WAITLISTED, None)]


def _dsn(recipient: str, status: str = "5.1.1") -> bytes:
    """A delivery status notification as Postfix writes one (RFC 3464)."""
    return (
        "From: MAILER-DAEMON@mx.example.org\r\n"
        "To: screenings@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system: your message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "--B--\r\n"
    ).encode()


def test_a_bounce_marks_the_address_and_a_stranger_is_not_recorded(db, smtp):
    screening = make_screening()
    reply(screening, "ann@example.org")
    assert receive_message(_dsn("Ann@Example.org")).kind == "bounce"
    assert receive_message(_dsn("stranger@example.org")).kind == "ignored"
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
    from screenings.services.bookings import manage_token

    screening = make_screening()
    ann = reply(screening, "ann@example.org")
    reply(screening, "bob@example.org")
    _deliver()
    invite = _invite_to(smtp, "ann@example.org")
    organizer = str(invite["ORGANIZER"]).removeprefix("mailto:")
    receive_message(
        _calendar_reply(invite, "ann@example.org", "TENTATIVE").as_bytes(), (organizer,)
    )
    receive_message(_dsn("bob@example.org"))
    assert _state(ann) == [(RsvpStatus.CONFIRMED, "TENTATIVE")]
    page = client.get(f"/manage/{manage_token(screening)}").get_data(as_text=True)
    ann_row, bob_row = (line for line in page.splitlines() if "@example.org</td>" in line)
    assert "maybe" in ann_row
    assert "bounces" not in ann_row
    assert "bounces" in bob_row
