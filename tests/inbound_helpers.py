"""Inbound mail the tests send: calendar replies as Gmail and Outlook write them, and
delivery status notifications as Postfix writes them."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from icalendar import Calendar, Event, vCalAddress

from screenings.extensions import db as _db
from screenings.models import Rsvp

from .factories import make_screening
from .rsvp_helpers import calendar_bytes, reply


def deliver():
    from screenings.outbox import deliver_pending

    deliver_pending()


def invite_to(smtp, address: str) -> Event:
    [message] = [m for m in smtp.to(address) if "text/calendar" in m.as_string()]
    return Calendar.from_ical(calendar_bytes(message)).walk("VEVENT")[0]


def calendar_reply(invite: Event, attendee: str, partstat: str) -> EmailMessage:
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
    message["Message-ID"] = make_msgid(domain="calendar.example.org")
    message.set_content(f"Ann Attendee has {partstat.lower()} this invitation.")
    message.add_alternative(
        calendar.to_ical().decode(), subtype="calendar", params={"method": "REPLY"}
    )
    return message


def state(*rsvps) -> list[tuple[str, str | None]]:
    _db.session.expire_all()
    return [(r.status, r.reply_partstat) for r in (_db.session.get(Rsvp, x.id) for x in rsvps)]


def full_house(smtp):
    """One seat: Ann holds it, Bob waits; Ann's invite and the address it says to reply to."""
    screening = make_screening(capacity=1)
    ann = reply(screening, "ann@example.org")
    bob = reply(screening, "bob@example.org")
    deliver()
    invite = invite_to(smtp, "ann@example.org")
    return screening, ann, bob, invite, str(invite["ORGANIZER"]).removeprefix("mailto:")


def dsn(
    recipient: str,
    status: str = "5.1.1",
    *,
    to: str = "screenings@example.org",
    action: str = "failed",
) -> bytes:
    """A delivery status notification as Postfix writes one (RFC 3464), to ``to`` (the
    envelope sender of the message that bounced)."""
    return (
        "From: MAILER-DAEMON@mx.example.org\r\n"
        f"To: {to}\r\n"
        f"Message-ID: {make_msgid(domain='mx.example.org')}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system: your message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "--B--\r\n"
    ).encode()
