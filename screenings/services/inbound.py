"""Mail that comes back: attendees' calendar replies (iTIP REPLY, RFC 5546/6047), bounces
(RFC 3464 delivery status notifications) and people answering our e-mails in words.

An invite's ORGANIZER is ``replies+<token>@<domain>`` (``CALENDAR_REPLY_ADDRESS`` with a
per-RSVP token), so a reply is matched by the address it was sent to, the attendee it names
and the event's UID, never by its From line, which anyone can write. A bounce acts only when
it comes back to a message's own ``bounce+<token>@`` envelope sender (services/bounces.py).
A message in words to a reply address is forwarded to that screening's organizer, never to
an address the message names. Everything here reads hostile input: whatever it can't read,
or doesn't match, is logged and ignored; nothing raises to the MTA (``flask mail``'s
commands) except a failure of our own database. Each message is acted on once: its digest
is kept (``inbound_messages``), so the same message delivered or polled again changes nothing.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value, getaddresses
from typing import TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from icalendar import Calendar
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from .. import emails
from ..calendar import event_uid
from ..extensions import db
from ..models import (
    InboundMessage,
    MailBounce,
    OutboxMessage,
    Rsvp,
    RsvpStatus,
    Screening,
    normalize_email,
    utcnow,
)
from ..outbox import bounce_base_address
from ..safetext import UNSAFE, header_text
from ..security import hash_token, tokens_match
from ..urls import public_domain
from . import DomainError, bounces
from .rsvps import cancel_rsvp, record_calendar_reply

if TYPE_CHECKING:  # libraries loaded on demand, named here for their types only
    from aiosmtpd.controller import Controller
    from aiosmtpd.lmtp import LMTP
    from aiosmtpd.smtp import SMTP, Envelope, Session
    from imap_tools import BaseMailBox

log = logging.getLogger(__name__)

# A calendar reply or a bounce is a few kB; anything far larger is not one.
MAX_MESSAGE_BYTES = 2 << 20
_TOKEN = re.compile(r"[a-z2-7]{32}")
# What a forwarded reply keeps of the person's words.
FORWARD_MAX_CHARS = 20_000
# How long an inbound message's digest is kept (a redelivery comes within days).
SEEN_KEEP_DAYS = 30


@dataclass(frozen=True)
class Outcome:
    """What one inbound message did: ``kind`` (declined, accepted, tentative, bounce,
    ignored) and why, for the log and the command's output."""

    kind: str
    detail: str = ""


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
    seen = _remember(message, raw)
    if seen is None:
        return Outcome("ignored", "already processed")
    outcome = _act(message, recipients)
    seen.outcome = outcome.kind[:16]
    db.session.commit()  # the digest with whatever the message did (services may have too)
    return outcome


def _remember(message: Message, raw: bytes) -> InboundMessage | None:
    """Note the message as processed, in the transaction of what it does; None if it was.

    Keyed by its Message-ID (what a redelivery or a second poll repeats), else its bytes."""
    message_id = str(message.get("Message-ID", "") or "").strip()
    digest = hash_token(message_id) if message_id else hash_token(raw.decode("latin-1"))
    if db.session.scalar(select(InboundMessage.id).where(InboundMessage.digest == digest)):
        return None
    db.session.execute(
        delete(InboundMessage).where(
            InboundMessage.received_at < utcnow() - timedelta(days=SEEN_KEEP_DAYS)
        )
    )
    seen = InboundMessage(digest=digest, outcome="pending")
    db.session.add(seen)
    try:
        db.session.flush()
    except IntegrityError:  # the same message, in another process, this very moment
        db.session.rollback()
        return None
    return seen


def _act(message: EmailMessage, recipients: tuple[str, ...]) -> Outcome:
    if (
        message.get_content_type() == "multipart/report"
        and collapse_rfc2231_value(message.get_param("report-type", "")).lower()
        == "delivery-status"
    ):
        tokens = _address_tokens(message, recipients, bounce_base_address())
        return _verp_bounce(message, tokens) if tokens else _bounce(message)
    tokens = _reply_tokens(message, recipients)
    reply = _calendar_reply(message)
    if reply is not None:
        return _apply_reply(reply, tokens)
    if _has_calendar_reply_part(message):
        return Outcome("ignored", "a calendar reply we cannot read")
    return _forward(message, tokens)


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
        payload = part.get_payload(decode=True)  # bytes, or None for a multipart
        if not isinstance(payload, bytes) or not payload or len(payload) > MAX_MESSAGE_BYTES:
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


def _has_calendar_reply_part(message: EmailMessage) -> bool:
    return any(
        part.get_content_type() in ("text/calendar", "application/ics")
        and str(part.get_param("method", "") or "").upper() == "REPLY"
        for part in message.walk()
    )


def _reply_tokens(message: Message, recipients: tuple[str, ...]) -> list[str]:
    """Tokens in the addresses the message was delivered to (replies+<token>@domain)."""
    return _address_tokens(message, recipients, current_app.config.get("CALENDAR_REPLY_ADDRESS"))


def _address_tokens(
    message: Message, recipients: tuple[str, ...], configured: str | None
) -> list[str]:
    """Tokens in the addresses the message was delivered to (<local>+<token>@domain of the
    configured address): the envelope's, then Delivered-To, X-Original-To, To and Cc."""
    local, _, domain = (configured or "").lower().rpartition("@")
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


def _rsvp_of_reply_tokens(tokens: list[str]) -> Rsvp | None:
    """The RSVP whose reply address carries the first of tokens that matches one."""
    for token in tokens:
        rsvp = db.session.scalar(select(Rsvp).where(Rsvp.reply_token_hash == hash_token(token)))
        if rsvp is not None and tokens_match(token, rsvp.reply_token_hash or ""):
            return rsvp
    return None


def _apply_reply(reply: _Reply, tokens: list[str]) -> Outcome:
    """Apply a reply whose token, attendee and UID all match one RSVP; else ignore it."""
    rsvp = _rsvp_of_reply_tokens(tokens)
    if rsvp is None:
        return Outcome("ignored", "no matching reply token")
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


# -- bounces --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    address: str
    action: str
    status: str
    diagnostic: str


def _failures(message: EmailMessage) -> list[_Failure]:
    """The failed or delayed recipients an RFC 3464 report lists."""
    found = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, Message):  # each block is a parsed header section
                continue
            action = str(block.get("Action", "")).strip().lower()
            recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
            if action not in ("failed", "delayed") or ";" not in recipient:
                continue
            status = header_text(str(block.get("Status", "")))[:16]
            diagnostic = header_text(str(block.get("Diagnostic-Code", "")))[:500]
            address = normalize_email(recipient.split(";", 1)[1])
            found.append(_Failure(address, action, status, diagnostic))
    return found


def _verp_bounce(message: EmailMessage, tokens: list[str]) -> Outcome:
    """A report sent back to one message's own envelope sender: act on that message."""
    for token in tokens:
        row = bounces.message_for_token(token)
        if row is None:
            continue
        failures = _failures(message)
        if not failures:
            return Outcome("ignored", f"a report about message {row.id} naming no failure")
        # The message had one recipient: the report's first failure is about it, whatever
        # address a forwarding server wrote there.
        failure = failures[0]
        done = bounces.record_bounce(
            row, status=failure.status, action=failure.action, diagnostic=failure.diagnostic
        )
        return Outcome("bounce", f"message {row.id}: {done}")
    return Outcome("ignored", "no matching bounce token")


def _bounce(message: EmailMessage) -> Outcome:
    """A report without our token: anyone can write one, so it is only noted, if it names
    an address we mail (the lists show "bounces"); nothing is suppressed or marked."""
    recorded = []
    for failure in _failures(message):
        permanent = failure.status.startswith("5")
        if _record_bounce(failure.address, permanent=permanent, diagnostic=failure.diagnostic):
            recorded.append(failure.address)
    if not recorded:
        return Outcome("ignored", "a report naming no address we mail")
    return Outcome("bounce", f"{len(recorded)} address(es) noted")


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
    bounces.note_address(address, permanent=permanent, diagnostic=diagnostic)
    return True


def bounced_addresses(addresses: list[str]) -> dict[str, MailBounce]:
    """The bounce records of some addresses, for the organizer's and producer's lists."""
    keys = [normalize_email(address) for address in addresses]
    if not keys:
        return {}
    rows = db.session.scalars(select(MailBounce).where(MailBounce.email_normalized.in_(keys)))
    return {row.email_normalized: row for row in rows}


# -- people answering in words --------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|auto:|out of (the )?office|"
    r"abwesenheit|absence|r[ée]ponse automatique|respuesta autom[aá]tica)",
    re.IGNORECASE,
)


def is_automatic(message: Message) -> bool:
    """An auto-reply, out-of-office notice or list mail (RFC 3834 and what clients write):
    never forwarded, or two robots would answer each other."""
    auto = str(message.get("Auto-Submitted", "") or "").strip().lower()
    if auto and auto != "no":
        return True
    precedence = str(message.get("Precedence", "") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return True
    for name in ("X-Autoreply", "X-Autorespond", "List-Id"):
        if message.get(name) is not None:
            return True
    if str(message.get("Return-Path", "") or "").strip() == "<>":
        return True
    return bool(_AUTO_SUBJECT.match(str(message.get("Subject", "") or "")))


def _sender(message: EmailMessage) -> tuple[str, str] | None:
    """The one address in From, checked as the booking form checks one; else None."""
    sender = message["From"]
    if sender is None:
        return None
    try:
        addresses = sender.addresses
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    if len(addresses) != 1:
        return None
    try:
        address = validate_email(addresses[0].addr_spec, check_deliverability=False).normalized
    except EmailNotValidError:
        return None
    return header_text(addresses[0].display_name or ""), address


def _words(message: EmailMessage) -> tuple[str, bool, bool]:
    """The message's own text (plain part, else its HTML stripped), capped; whether it was
    cut, whether attachments were left out."""
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        try:
            text = body.get_content()
        except (LookupError, ValueError, AssertionError):
            text = ""
        if body.get_content_type() == "text/html":
            text = re.sub(r"(?is)<(script|style).*?</\1>", "", text)
            text = html.unescape(re.sub(r"<[^>]*>", " ", text))
    text = UNSAFE.sub(lambda match: match.group() if match.group() in "\t\n" else "", text)
    text = "\n".join(line.rstrip() for line in text.replace("\r", "").split("\n")).strip()
    truncated = len(text) > FORWARD_MAX_CHARS
    dropped = any(True for _ in message.iter_attachments()) if message.is_multipart() else False
    return text[:FORWARD_MAX_CHARS], truncated, dropped


def _forwarded_today(screening_id: int) -> int:
    """Replies forwarded to a screening's organizer in the last day: a leaked reply address
    must not let anyone flood the organizer through us."""
    return (
        db.session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.screening_id == screening_id,
                OutboxMessage.kind == "reply_forwarded",
                OutboxMessage.created_at >= utcnow() - timedelta(days=1),
            )
        )
        or 0
    )


def _forward(message: EmailMessage, tokens: list[str]) -> Outcome:
    """A person wrote to an attendee's reply address: their words go to the organizer."""
    if not tokens:
        return Outcome("ignored", "neither a calendar reply nor a bounce, to no reply address")
    rsvp = _rsvp_of_reply_tokens(tokens)
    if rsvp is None:
        return Outcome("ignored", "no matching reply token")
    if is_automatic(message):
        return Outcome("ignored", f"an automatic reply (RSVP {rsvp.id}): not forwarded")
    if _forwarded_today(rsvp.screening_id) >= current_app.config["INBOUND_FORWARDS_PER_DAY"]:
        return Outcome("ignored", f"forwarding limit reached for screening {rsvp.screening_id}")
    sender = _sender(message)
    if sender is None:
        return Outcome("ignored", f"no single valid sender address (RSVP {rsvp.id})")
    text, truncated, dropped = _words(message)
    if not text:
        return Outcome("ignored", f"an empty message (RSVP {rsvp.id})")
    forwarded = emails.Forwarded(
        name=sender[0],
        address=sender[1],
        subject=header_text(str(message.get("Subject", "") or ""))[:150],
        text=text,
        truncated=truncated,
        dropped_attachments=dropped,
    )
    emails.send_reply_forwarded(rsvp.screening, forwarded)
    return Outcome("forwarded", f"RSVP {rsvp.id} to its organizer")


# -- the way in: LMTP on loopback -----------------------------------------------------------------


class _Handler:
    """aiosmtpd handler: each message goes to receive_message in an app context."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    async def handle_DATA(  # aiosmtpd names the hook
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        # The bytes as received (content is the same, decoded when decode_data is set).
        raw = envelope.original_content or b""
        answers = max(len(envelope.rcpt_tos), 1)
        with self.app.app_context():
            try:
                receive_message(raw, tuple(envelope.rcpt_tos))
            except OperationalError:
                return "\r\n".join(["451 4.3.0 Try again later"] * answers)
        # LMTP answers once per recipient; every message is accepted (an unreadable one is
        # logged and dropped here rather than bounced back to a possibly forged sender).
        return "\r\n".join(["250 2.0.0 OK"] * answers)


def lmtp_server(app: Flask, host: str, port: int) -> Controller:
    """An LMTP server (RFC 2033) the MTA delivers the reply address's mail to, not started:
    call ``start()`` and ``stop()`` (what ``flask inbound serve`` does)."""
    from aiosmtpd.controller import Controller  # noqa: PLC0415 only the LMTP server needs it
    from aiosmtpd.lmtp import LMTP  # noqa: PLC0415 only the LMTP server needs it

    class _LMTPController(Controller):
        def factory(self) -> LMTP:
            return LMTP(self.handler, data_size_limit=MAX_MESSAGE_BYTES)

    return _LMTPController(_Handler(app), hostname=host, port=port)


# -- the way in for hosts without an MTA: an IMAP mailbox ---------------------------------------


def imap_configured() -> bool:
    """Whether `flask mail poll` has a mailbox to read (FLASK_INBOUND_IMAP_HOST set)."""
    return bool(current_app.config.get("INBOUND_IMAP_HOST"))


def _open_mailbox() -> BaseMailBox:
    """An imap-tools mailbox, logged in, on the configured folder."""
    from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted  # noqa: PLC0415 only the IMAP poll needs it

    config = current_app.config
    host, port = config["INBOUND_IMAP_HOST"], config["INBOUND_IMAP_PORT"]
    timeout = config["MAIL_TIMEOUT"]
    box: BaseMailBox
    if config["INBOUND_IMAP_SSL"]:
        box = MailBox(host, port, timeout=timeout)
    elif host in ("127.0.0.1", "::1", "localhost"):
        box = MailBoxUnencrypted(host, port, timeout=timeout)  # loopback: nothing to overhear
    else:
        box = MailBoxStartTls(host, port, timeout=timeout)
    try:
        return box.login(
            config["INBOUND_IMAP_USER"] or "",
            config["INBOUND_IMAP_PASSWORD"] or "",
            initial_folder=config["INBOUND_IMAP_FOLDER"],
        )
    except BaseException:
        box.client.shutdown()  # a refused login leaves the socket open otherwise
        raise


def _raw_message(mailbox: BaseMailBox, uid: str) -> bytes | None:
    """A message's bytes without marking it seen (BODY.PEEK), cut one byte past the cap so
    receive_message can tell a message too large to be ours."""
    status, data = mailbox.client.uid("FETCH", uid, f"(BODY.PEEK[]<0.{MAX_MESSAGE_BYTES + 1}>)")
    if status != "OK":
        return None
    for item in data or []:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def poll_mailbox() -> dict[str, int]:
    """Act on every unseen message of the IMAP folder, exactly as `mail receive` does, then
    mark it seen (or move it to INBOUND_IMAP_DONE_FOLDER). A message is marked only after it
    was acted on; if our database fails it stays unseen for the next poll, and a message
    acted on but not marked (a crash in between) changes nothing the second time."""
    from imap_tools import AND, MailMessageFlags  # noqa: PLC0415 only the IMAP poll needs it

    counts: dict[str, int] = {}
    done_folder = current_app.config.get("INBOUND_IMAP_DONE_FOLDER")
    with _open_mailbox() as mailbox:
        if done_folder and not mailbox.folder.exists(done_folder):
            mailbox.folder.create(done_folder)
        for uid in mailbox.uids(AND(seen=False)):
            raw = _raw_message(mailbox, uid)
            outcome = receive_message(raw) if raw is not None else Outcome("ignored", "gone")
            if done_folder:
                mailbox.move(uid, done_folder)
            else:
                mailbox.flag(uid, MailMessageFlags.SEEN, True)
            counts[outcome.kind] = counts.get(outcome.kind, 0) + 1
    return counts
