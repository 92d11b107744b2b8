"""The outbox: e-mail is written in the caller's transaction and delivered after commit.

Delivery never happens on the request path: a web process hands what a request committed
to its background thread (``BackgroundDelivery``), and the worker (``flask outbox run``)
sends whatever that thread did not.

Guarantee: at-least-once delivery with a stable Message-ID. A message is claimed
(``pending``/``failed`` → ``sending``) by a conditional UPDATE before it is sent, so two
workers never send the same row; it is marked ``sent`` right after the SMTP server accepts
it. If a worker dies between those two steps the row stays ``sending`` and is retried after
``OUTBOX_STALE_AFTER`` seconds: a duplicate with the same Message-ID, which most mail
systems collapse, and never a flood (see ``SENT_COMMIT_EVERY`` below).

For throughput a worker claims up to ``CLAIM_BATCH`` messages in one UPDATE … RETURNING and
records their "sent" marks in commits of ``SENT_COMMIT_EVERY``, over one SMTP connection (a
commit per message held SQLite to a few dozen messages a second). So a worker that dies
between sending and committing may resend at most that many messages, each with its one
Message-ID; messages it had claimed but not sent are simply retried.

Slow work is done at delivery, not in the request that queued the mail. A message can be
queued as a reference (``enqueue_later("licence-issued:42", …)``): the row, its Message-ID
and recipient are written in the caller's transaction, and the worker composes it the first
time it delivers it (a composer of its ``DeliveryHooks``), storing the bytes so a retry sends
the same message. An ``Attachment`` with a ``render`` reference (``"licence-pdf:42"``) is stored
as a one-line placeholder part, and the worker swaps in the rendered bytes just before
sending (``resolve_deferred``), so the stored copy never holds the PDF. A composition or
render that fails is a failed attempt like a refused connection: the message stays queued
and is retried with the same backoff, never dropped.

The outbox imports no service that queues mail: what it calls back into at delivery (the
composers, the renderers, the alert of a message that gave up) are ``DeliveryHooks`` the
app factory hands to ``init_outbox``.
"""

from __future__ import annotations

import base64
import os
import queue
import re
import smtplib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid, parseaddr
from functools import lru_cache
from typing import Protocol

from flask import Flask, current_app, g, has_request_context, render_template
from flask_babel import force_locale
from flask_mail import Connection
from sqlalchemy import ColumnElement, event, inspect, or_, select, update
from sqlalchemy.orm import Session, SessionTransaction

from .extensions import app_object, db
from .models import OutboxMessage, OutboxStatus, SuppressedAddress, normalize_email, utcnow
from .safetext import UNSAFE, header_text
from .security import hash_token, link_token, mailbox_safe
from .services.redaction import redact_sent_message

_NEW_IDS = "outbox_new_ids"
_COMMITTED_IDS = "outbox_committed_ids"
_LATER_IDS = "outbox_composed_later_ids"  # queued by reference: composed at delivery


@dataclass
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str
    params: dict[str, str] = field(default_factory=dict)
    # "<kind>:<ref>": rendered at delivery (DeliveryHooks.renderers); content is then unused.
    render: str = ""


class Composer(Protocol):
    """Composes the message of a reference's ref, with the Message-ID fixed when queued."""

    def __call__(self, ref: str, /, *, message_id: str) -> EmailMessage: ...


@dataclass(frozen=True)
class DeliveryHooks:
    """What delivery calls back into, by the kind of a reference ("<kind>:<ref>"): the
    message a reference composes, the bytes a deferred part renders to, and what to do when
    a message gives up. The services provide them; the app factory hands them over."""

    composers: Mapping[str, Composer]
    renderers: Mapping[str, Callable[[str], bytes]]
    on_dead: Callable[[OutboxMessage], None]


def _hooks() -> DeliveryHooks:
    hooks: DeliveryHooks = current_app.extensions["outbox"]
    return hooks


@dataclass
class CalendarPart:
    """An iMIP part: text/calendar with a method= parameter equal to the body's METHOD."""

    ics: bytes
    method: str


class TimedConnection(Connection):
    """Flask-Mail's connection with a socket timeout, so a hung server cannot hang a request."""

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        timeout = current_app.config["MAIL_TIMEOUT"]
        mail = self.mail
        host: smtplib.SMTP | smtplib.SMTP_SSL
        if mail.use_ssl:
            host = smtplib.SMTP_SSL(mail.server, mail.port, timeout=timeout)
        else:
            host = smtplib.SMTP(mail.server, mail.port, timeout=timeout)
        if mail.use_tls:
            host.starttls()
        if mail.username and mail.password:
            host.login(mail.username, mail.password)
        return host


def sender_address() -> Address:
    """The configured From address, parsed once rather than trusted as a string."""
    return _parsed_sender(current_app.config["MAIL_DEFAULT_SENDER"])


@lru_cache(maxsize=16)
def _parsed_sender(configured: str) -> Address:
    # Once per configured value, not on each page's footer (an Address checks its parts).
    name, addr = parseaddr(configured)
    return Address(display_name=name, addr_spec=addr)


def bounce_base_address() -> str | None:
    """The address bounces come back to (bounce+<token>@… of it), or None: plain sender."""
    config = current_app.config
    if config.get("BOUNCE_ADDRESS"):
        return str(config["BOUNCE_ADDRESS"]).strip().lower()
    reply = config.get("CALENDAR_REPLY_ADDRESS") or ""
    if "@" in reply:
        return "bounce@" + reply.rpartition("@")[2].strip().lower()
    return None


def bounce_token(row: OutboxMessage) -> str:
    """The token of a message's VERP address: derived from its random Message-ID with the
    link key (unguessable without it), stored only as a digest."""
    return link_token("bounce", row.message_id, row.bounce_token_hash, shape=mailbox_safe)


def envelope_sender(row: OutboxMessage) -> str:
    """MAIL FROM for one message: bounce+<token>@… when configured, else the sender."""
    base = bounce_base_address()
    if not base or row.bounce_token_hash is None:
        return sender_address().addr_spec
    local, _, domain = base.rpartition("@")
    return f"{local}+{bounce_token(row)}@{domain}"


def compose(
    *,
    template: str,
    recipient_name: str,
    recipient_email: str,
    context: dict,
    language: str = "en",
    calendar: CalendarPart | None = None,
    attachments: Iterable[Attachment] = (),
    message_id: str | None = None,
    reply_to: tuple[str, str] | None = None,
) -> EmailMessage:
    """Render templates/email/<template>/{subject.txt,body.txt,body.html} into a MIME message.

    ``reply_to`` is (name, address) of the person answers should reach, e.g. the organizer
    of a screening writing to their guests; its name is a display name like the recipient's.

    The headers are built with the standard library's header registry: a typed name is a
    display name, never parsed as addresses. User text reaching the Subject or a display name
    goes through ``header_text`` first (one line, no controls, no RFC 2047 encoded-word):
    Python before 3.11.10/3.12.5 writes the CR/LF a decoded encoded-word holds out raw.
    """
    with force_locale(language):
        subject = render_template(f"email/{template}/subject.txt", **context)
        text = render_template(f"email/{template}/body.txt", **context)
        # Who sent it and how to reach them, under every plain-text body (identity.py).
        text = text.rstrip("\n") + "\n\n" + render_template("email/_footer.txt")
        html = render_template(f"email/{template}/body.html", **context)
    message = EmailMessage(policy=SMTP)
    message["Subject"] = header_text(subject)
    message["From"] = sender_address()
    message["To"] = display_address(recipient_name, recipient_email)
    if reply_to is not None:
        message["Reply-To"] = display_address(*reply_to)
    message["Date"] = formatdate(usegmt=True)
    domain = sender_address().domain or "localhost"
    message["Message-ID"] = message_id or make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if calendar is not None:
        message.add_alternative(
            calendar.ics.decode("utf-8"),
            subtype="calendar",
            params={"method": calendar.method.upper()},
        )
        attachments = [
            *attachments,
            Attachment(
                "invite.ics",
                calendar.ics,
                "application",
                "ics",
            ),
        ]
    for attachment in attachments:
        message.add_attachment(
            _placeholder(attachment.render) if attachment.render else attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
    # Last: set_content() clears Content-* headers and add_*() moves them into the first part.
    message["Content-Language"] = language
    return message


def display_address(name: str, addr_spec: str) -> Address:
    """A typed name and an address as one header address: the name never parsed as one
    (cut to DISPLAY_NAME_MAX, one line, no encoded-word: ``header_text``)."""
    return Address(display_name=header_text(name)[:DISPLAY_NAME_MAX], addr_spec=addr_spec)


# Headers are written on lines of up to 998 characters (RFC 5322's limit) rather than folded
# at 78: the standard library's folder drops the quotes of a long display name with a comma
# or colon in it, so "St. Paul's Church, Toronto" read back as an address of its own.
WIRE_POLICY = SMTP.clone(max_line_length=998)
# A display name longer than this is cut, so the To line stays within WIRE_POLICY's limit.
DISPLAY_NAME_MAX = 200


class UnsafeMessage(ValueError):
    """A composed message would not read back as written: never queue it."""


def checked_bytes(message: EmailMessage) -> bytes:
    """The message as it will be sent, after proving a receiver parses the headers we wrote.

    Read back with the standard parser, every part must carry exactly the header names it was
    given, no decoded header value may hold a control character, and the recipients must be
    exactly ours: an injected header, part or address fails here whatever the interpreter.
    """
    raw = message.as_bytes(policy=WIRE_POLICY)
    try:
        _compare_read_back(message, BytesParser(policy=default_policy).parsebytes(raw))
    except UnsafeMessage:
        raise
    except (ValueError, TypeError, AttributeError, IndexError) as error:  # unreadable: unsafe
        raise UnsafeMessage(f"the message does not read back: {error}") from error
    return raw


def _compare_read_back(message: EmailMessage, received: EmailMessage) -> None:
    written_parts, read_parts = list(message.walk()), list(received.walk())
    if len(written_parts) != len(read_parts):
        raise UnsafeMessage("the message reads back with a different number of parts")
    for written, read in zip(written_parts, read_parts, strict=True):
        if [name.lower() for name in written] != [name.lower() for name in read]:
            raise UnsafeMessage(f"headers read back differently: {list(read)!r}")
        for name, value in read.items():
            if UNSAFE.search(str(value)):
                raise UnsafeMessage(f"a control character in the {name} header")
    for name in ("From", "To", "Reply-To"):
        if message[name] is None:
            continue
        if [a.addr_spec for a in received[name].addresses] != [
            a.addr_spec for a in message[name].addresses
        ]:
            raise UnsafeMessage(f"the {name} addresses read back differently")


def enqueue(message: EmailMessage, *, kind: str, screening_id: int | None = None) -> OutboxMessage:
    """Add the message to the caller's transaction; it is delivered once that commits."""
    row = OutboxMessage(
        message_id=message["Message-ID"],
        kind=kind,
        recipient=message["To"].addresses[0].addr_spec,
        subject=str(message["Subject"])[:300],
        raw=checked_bytes(message),
        screening_id=screening_id,
    )
    return _queued(row)


def _queued(row: OutboxMessage) -> OutboxMessage:
    """The row in the caller's transaction, with its bounce token, delivered after commit."""
    row.bounce_token_hash = hash_token(bounce_token(row))
    db.session.add(row)
    db.session.flush()
    db.session.info.setdefault(_NEW_IDS, []).append(row.id)
    return row


# -- parts rendered at delivery ----------------------------------------------------------------
# A placeholder part's payload: this prefix (a multiple of 3 bytes, so its base64 form is a
# fixed string at the start of the encoded line) and the reference.
_DEFERRED_PREFIX = b"screenings-deferred-render:"
_DEFERRED_LINE = re.compile(
    rb"^" + re.escape(base64.b64encode(_DEFERRED_PREFIX)) + rb"[A-Za-z0-9+/=]*(?=\r?$)", re.M
)
_REFERENCE = re.compile(r"^[a-z][a-z0-9-]{0,30}:[A-Za-z0-9_-]{1,64}$")


def _placeholder(reference: str) -> bytes:
    if not _REFERENCE.match(reference):
        raise ValueError(f"not a deferred part reference: {reference!r}")
    payload = _DEFERRED_PREFIX + reference.encode("ascii")
    if len(payload) > 57:  # one base64 line, which resolve_deferred finds and replaces
        raise ValueError(f"deferred part reference too long: {reference!r}")
    return payload


_DEFERRED_MARK = base64.b64encode(_DEFERRED_PREFIX)


def has_deferred(raw: bytes) -> bool:
    """Whether a stored message still holds a part to render at delivery. A plain search for
    the placeholder's base64 prefix first: most messages hold none, and the line-anchored
    pattern over a whole message cost a few per cent of a delivery."""
    return _DEFERRED_MARK in raw and _DEFERRED_LINE.search(raw) is not None


def resolve_deferred(raw: bytes) -> bytes:
    """The message with each placeholder part replaced by its rendered bytes (base64, in
    76-character lines, the line ending the message uses); the other bytes stay as stored."""
    if not has_deferred(raw):
        return raw
    newline = b"\r\n" if b"\r\n" in raw else b"\n"
    renderers = _hooks().renderers

    def rendered(match: re.Match) -> bytes:
        reference = base64.b64decode(match.group(0))[len(_DEFERRED_PREFIX) :].decode("ascii")
        kind, _, ref = reference.partition(":")
        content = renderers[kind](ref)
        encoded = base64.b64encode(content)
        return newline.join(encoded[i : i + 76] for i in range(0, len(encoded), 76))

    return _DEFERRED_LINE.sub(rendered, raw)


def enqueue_later(
    reference: str, *, kind: str, recipient: str, screening_id: int | None = None
) -> OutboxMessage:
    """Queue a message the outbox composes at delivery (``DeliveryHooks.composers``),
    in the caller's transaction like ``enqueue``; its Message-ID is fixed now."""
    if not _REFERENCE.match(reference):
        raise ValueError(f"not a message reference: {reference!r}")
    row = OutboxMessage(
        message_id=make_msgid(domain=sender_address().domain or "localhost"),
        kind=kind,
        recipient=recipient,
        subject="",
        raw=b"",
        compose_ref=reference,
        screening_id=screening_id,
    )
    _queued(row)
    db.session.info.setdefault(_LATER_IDS, set()).add(row.id)
    return row


def _compose_now(row: OutboxMessage, reference: str) -> None:
    """Compose a message queued by reference (its compose_ref) and keep its bytes, so
    retries send the same."""
    kind, _, ref = reference.partition(":")
    message = _hooks().composers[kind](ref, message_id=row.message_id)
    row.raw = checked_bytes(message)
    row.subject = str(message["Subject"])[:300]
    row.recipient = message["To"].addresses[0].addr_spec
    row.compose_ref = None
    db.session.commit()


def _ready_bytes(row: OutboxMessage) -> bytes:
    """What goes on the wire: composed if it was queued by reference, parts rendered."""
    if row.compose_ref:
        _compose_now(row, row.compose_ref)
    return resolve_deferred(row.raw)


CLAIM_BATCH = 100
# "Sent" marks are committed in groups this size: at most this many duplicates after a crash.
SENT_COMMIT_EVERY = 10


def _claimable(stale_before: datetime) -> ColumnElement[bool]:
    return or_(
        OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.FAILED]),
        (OutboxMessage.status == OutboxStatus.SENDING) & (OutboxMessage.claimed_at < stale_before),
    )


def _claim(row_ids: list[int], stale_before: datetime) -> list[int]:
    """Move messages to 'sending' unless someone else has them; the ids this caller won."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(row_ids), _claimable(stale_before))
        .values(
            status=OutboxStatus.SENDING,
            claimed_at=utcnow(),
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    won = sorted(result.scalars())
    db.session.commit()
    return won


def _due_ids(limit: int | None, only_ids: Iterable[int] | None) -> list[int]:
    now = utcnow()
    stale_before = now - timedelta(seconds=current_app.config["OUTBOX_STALE_AFTER"])
    query = select(OutboxMessage.id).where(
        or_(
            OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.FAILED])
            & (OutboxMessage.next_attempt_at <= now),
            (OutboxMessage.status == OutboxStatus.SENDING)
            & (OutboxMessage.claimed_at < stale_before),
        )
    )
    if only_ids is not None:
        query = query.where(OutboxMessage.id.in_(list(only_ids)))
    query = query.order_by(OutboxMessage.id)
    if limit:
        query = query.limit(limit)
    if db.engine.dialect.name == "postgresql":
        # Several workers on several hosts each take a different slice of the queue.
        query = query.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(query))
    db.session.commit()
    return ids


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 30 s, 1 min, 2 min, … capped at 6 hours."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


def _record_failure(row: OutboxMessage, error: Exception) -> None:
    row.last_error = f"{type(error).__name__}: {error}"[:2000]
    if row.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
        row.status = OutboxStatus.DEAD
        if row.erase_after_sending:  # an erased person's last message will not go: redact
            redact_sent_message(row)
        _hooks().on_dead(row)  # after any redaction: the alert quotes its subject
    else:
        row.status = OutboxStatus.FAILED
        row.next_attempt_at = utcnow() + backoff(row.attempts)
    db.session.commit()


def deliver_pending(*, limit: int | None = None, only_ids: Iterable[int] | None = None) -> dict:
    """Send every due message once over one SMTP connection; returns counts by outcome."""
    stale_before = utcnow() - timedelta(seconds=current_app.config["OUTBOX_STALE_AFTER"])
    outcome = {"sent": 0, "failed": 0}
    ids = _due_ids(limit, only_ids)
    if not ids:
        return outcome
    connection: TimedConnection | None = None
    try:
        for start in range(0, len(ids), CLAIM_BATCH):
            won = _claim(ids[start : start + CLAIM_BATCH], stale_before)
            rows = db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_(won)).order_by(OutboxMessage.id)
            ).all()
            refused = _suppressed({row.recipient for row in rows})
            row_ids = [row.id for row in rows]
            for position, row in enumerate(rows):
                if inspect(row).expired:
                    _reload(row_ids[position:])  # committed: expired, read again in one query
                if normalize_email(row.recipient) in refused:
                    _record_suppressed(row, outcome)
                    continue
                queued_to = row.recipient
                if row.compose_ref or has_deferred(row.raw):
                    db.session.commit()  # the sent marks so far, before work that may fail
                try:
                    raw = _ready_bytes(row)
                except Exception as error:  # a render that fails is retried, never dropped
                    db.session.rollback()
                    current_app.logger.exception("outbox: rendering message %s failed", row.id)
                    _record_failure(row, error)
                    outcome["failed"] += 1
                    continue
                # Composing reads the address anew (a booking's contact may have changed since
                # it was queued): the new one is checked against the suppression list too.
                if row.recipient != queued_to and _suppressed({row.recipient}):
                    _record_suppressed(row, outcome)
                    continue
                try:
                    if connection is None:
                        connection = TimedConnection(current_app.extensions["mail"])
                        connection.__enter__()
                    if connection.host is not None:
                        connection.host.sendmail(envelope_sender(row), [row.recipient], raw)
                except (TimeoutError, smtplib.SMTPException, OSError) as error:
                    _record_failure(row, error)
                    outcome["failed"] += 1
                    if not isinstance(error, smtplib.SMTPRecipientsRefused):
                        _close_quietly(connection)
                        connection = None
                    continue
                row.status = OutboxStatus.SENT
                row.sent_at = utcnow()
                row.last_error = ""
                if row.erase_after_sending:  # an erased person's last message: redact
                    redact_sent_message(row)
                outcome["sent"] += 1
                if outcome["sent"] % SENT_COMMIT_EVERY == 0:
                    db.session.commit()  # bounds what a crash here could send twice
            db.session.commit()  # the rest of the batch's "sent" marks
    finally:
        _close_quietly(connection)
    return outcome


def _reload(row_ids: list[int]) -> None:
    """Read the rest of a batch again, in one query, after a commit expired it: what each row
    says now (an erasure may have redacted one since the claim), as reading each on first use
    would, without a SELECT of its whole message per row (with them, 2,000 messages went at
    125-160 a second here; without, 228)."""
    db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(row_ids))).all()


def _suppressed(addresses: set[str]) -> set[str]:
    """Those of the addresses that hard-bounced before (one query per batch)."""
    keys = {normalize_email(address) for address in addresses}
    return set(
        db.session.scalars(
            select(SuppressedAddress.email_normalized).where(
                SuppressedAddress.email_normalized.in_(keys)
            )
        )
    )


# The outbox page reads this prefix (formatting.plain_delivery_error) and says it in plain words.
SUPPRESSED_ERROR = "suppressed: this address bounced permanently before"


def _record_suppressed(row: OutboxMessage, outcome: dict) -> None:
    """Not sent, and never retried by itself: the address is on the suppression list."""
    outcome["suppressed"] = outcome.get("suppressed", 0) + 1
    row.status = OutboxStatus.SUPPRESSED
    row.last_error = SUPPRESSED_ERROR
    if row.erase_after_sending:
        redact_sent_message(row)


def _close_quietly(connection: TimedConnection | None) -> None:
    if connection is not None and connection.host is not None:
        try:
            connection.host.quit()
        except (smtplib.SMTPException, OSError):
            connection.host.close()


def retry_message(row: OutboxMessage) -> None:
    """Put a failed or dead message back in the queue (producer action)."""
    row.status = OutboxStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = utcnow()
    db.session.commit()


class BackgroundDelivery:
    """One daemon thread per process that sends what web requests just committed.

    The request path never talks to SMTP: after commit it hands the new message ids here
    (a bounded queue; when full, the ids are left to the worker) and returns. The thread
    survives any error, is started on first use and again in a forked child (gunicorn's
    workers), and serves every app of the process: each job carries its app.
    The standalone worker (``flask outbox run``) remains the guarantee.
    """

    QUEUE_SIZE = 1000

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(maxsize=self.QUEUE_SIZE)
        self._thread: threading.Thread | None = None

    def submit(self, app: Flask, ids: list[int]) -> bool:
        """Queue ids for delivery by app's settings; False when the queue is full."""
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="outbox-delivery", daemon=True
                )
                self._thread.start()
        try:
            self._queue.put_nowait((app, list(ids)))
        except queue.Full:
            app.logger.warning("outbox: background queue full; the worker will send %s", ids)
            return False
        return True

    def _run(self) -> None:
        while True:
            app, ids = self._queue.get()
            try:
                with app.app_context():
                    deliver_pending(only_ids=ids)
            except Exception:  # the worker retries; this thread must go on
                app.logger.exception("outbox: background delivery failed")
            finally:
                self._queue.task_done()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued job is done (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                done.wait(remaining)
        return True


background = BackgroundDelivery()
wait_idle = background.wait_idle


def _after_commit(session: Session) -> None:
    """Note what a web request just committed; it goes to the background thread when the
    request ends (``_hand_over``), so a request that commits many times (a bulk approval)
    does not share the CPU with the delivery of its own first messages."""
    new_ids = session.info.pop(_NEW_IDS, [])
    later = session.info.pop(_LATER_IDS, set())
    if new_ids and has_request_context():
        g.setdefault(_COMMITTED_IDS, []).extend(new_ids)
        g.setdefault(_LATER_IDS, set()).update(later)


def _hand_over(_error: BaseException | None = None) -> None:
    """At the end of a request: what it committed, to the background thread of its app."""
    ids = g.pop(_COMMITTED_IDS, None)
    later = g.pop(_LATER_IDS, set())
    app = app_object()
    if not ids or not app.config["OUTBOX_DELIVER_IN_BACKGROUND"]:
        return
    if len(later) > app.config["OUTBOX_BACKGROUND_MAX"]:
        # A bulk approval's licence mails (each composed, a PDF rendered) are the worker's
        # work, not a web process's: its thread would take the CPU from the requests after.
        app.logger.info("outbox: %s messages to compose left to the worker", len(later))
        ids = [i for i in ids if i not in later]
    if ids:
        background.submit(app, ids)


def _after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    session.info.pop(_NEW_IDS, None)
    session.info.pop(_LATER_IDS, None)


def init_outbox(app: Flask, hooks: DeliveryHooks) -> None:
    """Keep the app's delivery hooks, and listen for commits on the shared session once per
    process, whatever the number of apps.

    Outside a request (commands, the worker) nothing is handed over: the caller delivers.
    """
    app.extensions["outbox"] = hooks
    app.teardown_request(_hand_over)
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_soft_rollback", _after_rollback)
