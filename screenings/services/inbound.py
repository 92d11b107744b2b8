"""Mail that comes back: attendees' calendar replies (iTIP REPLY, RFC 5546/6047) and bounces
(RFC 3464 delivery status notifications).

An invite's ORGANIZER is ``replies+<token>@<domain>`` (``CALENDAR_REPLY_ADDRESS`` with a
per-RSVP token), so a reply is matched by the address it was sent to, the attendee it names
and the event's UID, never by its From line, which anyone can write. Everything here reads
hostile input: whatever it can't read, or doesn't match, is logged and ignored; nothing
raises to the MTA (``flask inbound``'s commands) except a failure of our own database.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses

from flask import current_app
from icalendar import Calendar
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from ..calendar import event_uid
from ..extensions import db
from ..models import MailBounce, Rsvp, RsvpStatus, Screening, utcnow
from ..security import hash_token, tokens_match
from ..urls import public_domain
from . import DomainError
from .rsvps import cancel_rsvp, normalize_email, record_calendar_reply, reply_token

log = logging.getLogger(__name__)

# A calendar reply or a bounce is a few kB; anything far larger is not one.
MAX_MESSAGE_BYTES = 2 << 20
_TOKEN = re.compile(r"[a-z2-7]{32}")


@dataclass(frozen=True)
class Outcome:
    """What one inbound message did: ``kind`` (declined, accepted, tentative, bounce,
    ignored) and why, for the log and the command's output."""

    kind: str
    detail: str = ""


def reply_address(rsvp: Rsvp) -> str | None:
    """The address an attendee's calendar replies to, or None when none is configured (or
    the RSVP predates reply tokens)."""
    configured = current_app.config.get("CALENDAR_REPLY_ADDRESS")
    if not configured or rsvp.reply_token_hash is None:
        return None
    local, _, domain = configured.rpartition("@")
    return f"{local}+{reply_token(rsvp)}@{domain}"


def receive_message(raw: bytes, recipients: tuple[str, ...] = ()) -> Outcome:
    """Act on one inbound message: a calendar reply, a bounce, or nothing (logged).

    ``recipients`` are the envelope recipients when the MTA gives them (LMTP, a pipe's
    ``${recipient}``); the message's own Delivered-To / X-Original-To / To are read too.
    """
    try:
        outcome = _receive(raw, recipients)
    except OperationalError:
        db.session.rollback()
        raise  # our database, not the message: the MTA keeps it and tries again
    except DomainError as error:  # e.g. the RSVP changed at the same moment
        db.session.rollback()
        outcome = Outcome("ignored", f"not applied: {error.message}")
    except Exception:  # hostile input must never stop the mail flow
        db.session.rollback()
        log.exception("inbound message could not be read")
        outcome = Outcome("ignored", "unreadable")
    log.info("inbound message: %s %s", outcome.kind, outcome.detail)
    return outcome


def _receive(raw: bytes, recipients: tuple[str, ...]) -> Outcome:
    if len(raw) > MAX_MESSAGE_BYTES:
        return Outcome("ignored", "too large")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if (
        message.get_content_type() == "multipart/report"
        and (message.get_param("report-type", "") or "").lower() == "delivery-status"
    ):
        return _bounce(message)
    reply = _calendar_reply(message)
    if reply is None:
        return Outcome("ignored", "neither a calendar reply nor a bounce")
    return _apply_reply(reply, _reply_tokens(message, recipients))


# -- calendar replies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    uid: str
    attendee: str
    partstat: str


def _calendar_reply(message: EmailMessage) -> _Reply | None:
    """The iTIP REPLY in a message's text/calendar part: one VEVENT, one ATTENDEE."""
    for part in message.walk():
        if part.get_content_type() not in ("text/calendar", "application/ics"):
            continue
        payload = part.get_payload(decode=True)
        if not payload or len(payload) > MAX_MESSAGE_BYTES:
            continue
        try:
            calendar = Calendar.from_ical(payload)
        except (ValueError, KeyError, TypeError, IndexError):
            continue
        if str(calendar.get("METHOD", "")).upper() != "REPLY":
            continue
        events = calendar.walk("VEVENT")
        if len(events) != 1:
            return None
        attendees = events[0].get("ATTENDEE")
        if attendees is None or isinstance(attendees, list):
            return None  # RFC 5546 3.2.3: a REPLY names exactly the one attendee replying
        address = str(attendees)
        if address.lower().startswith("mailto:"):
            address = address[7:]
        partstat = str(attendees.params.get("PARTSTAT", "")).upper()
        return _Reply(str(events[0].get("UID", "")), normalize_email(address), partstat)
    return None


def _reply_tokens(message: Message, recipients: tuple[str, ...]) -> list[str]:
    """Tokens in the addresses the message was delivered to (replies+<token>@domain)."""
    configured = current_app.config.get("CALENDAR_REPLY_ADDRESS") or ""
    local, _, domain = configured.lower().rpartition("@")
    if not local:
        return []
    headers = []
    for name in ("Delivered-To", "X-Original-To", "To", "Cc"):
        headers += [str(value) for value in message.get_all(name, [])]
    tokens = []
    for _name, address in getaddresses([*recipients, *headers]):
        address_local, _, address_domain = address.lower().rpartition("@")
        base, plus, token = address_local.partition("+")
        if plus and base == local and address_domain == domain and _TOKEN.fullmatch(token):
            tokens.append(token)
    return list(dict.fromkeys(tokens))


def _apply_reply(reply: _Reply, tokens: list[str]) -> Outcome:
    """Apply a reply whose token, attendee and UID all match one RSVP; else ignore it."""
    for token in tokens:
        rsvp = db.session.scalar(select(Rsvp).where(Rsvp.reply_token_hash == hash_token(token)))
        if rsvp is None or not tokens_match(token, rsvp.reply_token_hash or ""):
            continue
        if reply.attendee != rsvp.email_normalized:
            return Outcome("ignored", f"attendee does not match RSVP {rsvp.id}")
        if reply.uid != event_uid(rsvp.screening, public_domain()):
            return Outcome("ignored", f"UID does not match RSVP {rsvp.id}")
        if reply.partstat == "DECLINED":
            if rsvp.status == RsvpStatus.CANCELLED:
                return Outcome("ignored", f"RSVP {rsvp.id} already cancelled")
            cancel_rsvp(rsvp)  # exactly as their own link: seats freed, list promoted, CANCEL
            return Outcome("declined", f"RSVP {rsvp.id}")
        if reply.partstat in ("ACCEPTED", "TENTATIVE"):
            if rsvp.status == RsvpStatus.CANCELLED:
                return Outcome("ignored", f"RSVP {rsvp.id} is cancelled")
            record_calendar_reply(rsvp, reply.partstat)
            return Outcome(reply.partstat.lower(), f"RSVP {rsvp.id}")
        return Outcome("ignored", f"PARTSTAT {reply.partstat[:20]!r}")
    return Outcome("ignored", "no matching reply token")


# -- bounces --------------------------------------------------------------------------------------


def _bounce(message: EmailMessage) -> Outcome:
    """Record the failed recipients of an RFC 3464 report, if they are addresses we mail."""
    recorded = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            action = str(block.get("Action", "")).strip().lower()
            recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
            if action not in ("failed", "delayed") or ";" not in recipient:
                continue
            address = normalize_email(recipient.split(";", 1)[1])
            status = str(block.get("Status", "")).strip()
            diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())[:500]
            if _record_bounce(address, permanent=status.startswith("5"), diagnostic=diagnostic):
                recorded.append(address)
    if not recorded:
        return Outcome("ignored", "a report naming no address we mail")
    db.session.commit()
    return Outcome("bounce", f"{len(recorded)} address(es)")


def _record_bounce(address: str, *, permanent: bool, diagnostic: str) -> bool:
    """Note a bounce for an address an RSVP or a booking uses (others are not ours to note)."""
    if not address or len(address) > 254:
        return False
    ours = db.session.scalar(
        select(Rsvp.id).where(Rsvp.email_normalized == address).limit(1)
    ) or db.session.scalar(
        select(Screening.id).where(func.lower(Screening.contact_email) == address).limit(1)
    )
    if not ours:
        return False
    bounce = db.session.scalar(select(MailBounce).where(MailBounce.email_normalized == address))
    now = utcnow()
    if bounce is None:
        db.session.add(
            MailBounce(
                email_normalized=address,
                is_permanent=permanent,
                diagnostic=diagnostic,
                bounces=1,
                first_at=now,
                last_at=now,
            )
        )
    else:
        bounce.bounces += 1
        bounce.last_at = now
        bounce.is_permanent = bounce.is_permanent or permanent
        bounce.diagnostic = diagnostic or bounce.diagnostic
    db.session.flush()
    return True


def bounced_addresses(addresses: list[str]) -> dict[str, MailBounce]:
    """The bounce records of some addresses, for the organizer's and producer's lists."""
    keys = [normalize_email(address) for address in addresses]
    if not keys:
        return {}
    rows = db.session.scalars(select(MailBounce).where(MailBounce.email_normalized.in_(keys)))
    return {row.email_normalized: row for row in rows}


# -- the way in: LMTP on loopback -----------------------------------------------------------------


class _Handler:
    """aiosmtpd handler: each message goes to receive_message in an app context."""

    def __init__(self, app) -> None:
        self.app = app

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd)
        raw = envelope.original_content or envelope.content or b""
        with self.app.app_context():
            try:
                receive_message(raw, tuple(envelope.rcpt_tos))
            except OperationalError:
                return "\r\n".join("451 4.3.0 Try again later" for _ in envelope.rcpt_tos or [None])
        # LMTP answers once per recipient; every message is accepted (an unreadable one is
        # logged and dropped here rather than bounced back to a possibly forged sender).
        return "\r\n".join("250 2.0.0 OK" for _ in envelope.rcpt_tos or [None])


def lmtp_server(app, host: str, port: int):
    """An LMTP server (RFC 2033) the MTA delivers the reply address's mail to, not started:
    call ``start()`` and ``stop()`` (what ``flask inbound serve`` does)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.lmtp import LMTP

    class _LMTPController(Controller):
        def factory(self):
            return LMTP(self.handler, data_size_limit=MAX_MESSAGE_BYTES)

    return _LMTPController(_Handler(app), hostname=host, port=port)
