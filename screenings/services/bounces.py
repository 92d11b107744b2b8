"""Bounces that name the message they are about, and the addresses we no longer write to.

Every outbox message leaves with its own envelope sender, ``bounce+<token>@…`` (VERP; the
token is derived in outbox.py and stored as a digest), so a delivery status notification
(RFC 3464) sent back to it identifies one of our messages, whatever its Final-Recipient line
says. Only such a bounce acts: the message is marked bounced and, for a permanent failure
(5.x.x), its recipient goes on the suppression list, which the outbox then refuses to send
to until a producer lifts it. A report without a valid token (anyone can write one naming
anyone) is only noted (services/inbound.py), never acted on. A transient failure (4.x.x) is
recorded, not suppressed.

Told once, when an address is first suppressed: the organizer of the screening when it is a
guest's, the producers (their alert setting) when it is the organizer's own.
"""

from __future__ import annotations

import logging

from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from .. import emails
from ..extensions import db
from ..models import (
    MailBounce,
    OutboxMessage,
    OutboxStatus,
    Rsvp,
    Screening,
    SuppressedAddress,
    normalize_email,
    utcnow,
)
from ..security import hash_token, tokens_match
from . import NotAllowed, alerts
from .redaction import ERASED_ADDRESS

log = logging.getLogger(__name__)


def message_for_token(token: str) -> OutboxMessage | None:
    """The outbox message whose VERP address carries this token, if any."""
    row = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.bounce_token_hash == hash_token(token))
    )
    if row is None or not tokens_match(token, row.bounce_token_hash or ""):
        return None
    return row


def record_bounce(row: OutboxMessage, *, status: str, action: str, diagnostic: str) -> str:
    """Act on one DSN block about our message ``row`` (no commit); what was done, in a word.

    ``failed`` marks the message bounced; with a 5.x.x status the address is suppressed.
    ``delayed`` (the remote server still tries) is only noted on the message and address.
    """
    permanent = status.startswith("5") and action == "failed"
    address = normalize_email(row.recipient)
    if row.status == OutboxStatus.BOUNCED:
        return "already"  # the same report again, or a second report about it
    if address == ERASED_ADDRESS:
        return "erased"  # its recipient asked to be erased: nothing of theirs to record
    note_address(address, permanent=permanent, diagnostic=diagnostic)
    words = "permanently" if permanent else "temporarily"
    row.last_error = f"bounced {words}: {status} {diagnostic}".strip()[:2000]
    if action != "failed":
        return "delayed"
    row.status = OutboxStatus.BOUNCED
    row.bounced_at = utcnow()
    if permanent and suppress(address, row, status=status, diagnostic=diagnostic):
        _tell_someone(row, address, diagnostic)
        return "suppressed"
    return "bounced"


def note_address(address: str, *, permanent: bool, diagnostic: str) -> None:
    """Count a bounce on the per-address record the organizer's and producer's lists show
    ("bounces"); the one home of that record, whether the report was ours or not."""
    bounce = db.session.scalar(select(MailBounce).where(MailBounce.email_normalized == address))
    now = utcnow()
    if bounce is None:
        db.session.add(
            MailBounce(
                email_normalized=address,
                is_permanent=permanent,
                diagnostic=diagnostic[:500],
                bounces=1,
                first_at=now,
                last_at=now,
            )
        )
    else:
        bounce.bounces += 1
        bounce.last_at = now
        bounce.is_permanent = bounce.is_permanent or permanent
        bounce.diagnostic = diagnostic[:500] or bounce.diagnostic
    db.session.flush()


def suppress(address: str, row: OutboxMessage | None, *, status: str, diagnostic: str) -> bool:
    """Put the address on the suppression list; False when it is there already."""
    if db.session.scalar(
        select(SuppressedAddress.id).where(SuppressedAddress.email_normalized == address)
    ):
        return False
    db.session.add(
        SuppressedAddress(
            email_normalized=address,
            status=status[:16],
            diagnostic=diagnostic[:500],
            outbox_message_id=row.id if row else None,
        )
    )
    db.session.flush()
    return True


def _tell_someone(row: OutboxMessage, address: str, diagnostic: str) -> None:
    """One e-mail: the organizer for a guest's address, the producers for an organizer's."""
    screening = db.session.get(Screening, row.screening_id) if row.screening_id else None
    if screening is None:
        screening = db.session.scalar(
            select(Screening)
            .where(func.lower(Screening.contact_email) == address)
            .order_by(Screening.id.desc())
            .limit(1)
        )
    if screening is None:
        log.info("bounce: outbox message %s to no organizer or guest", row.id)
        return
    if normalize_email(screening.contact_email) == address:
        alerts.organizer_address_bounced(screening, address=address, diagnostic=diagnostic)
        return
    guest = db.session.scalar(
        select(Rsvp).where(Rsvp.screening_id == screening.id, Rsvp.email_normalized == address)
    )
    if guest is not None:
        emails.send_guest_address_bounced(screening, guest, diagnostic=diagnostic)


def suppressed_addresses() -> list[SuppressedAddress]:
    """The suppression list, newest first, for the producer's outbox page."""
    return list(db.session.scalars(select(SuppressedAddress).order_by(SuppressedAddress.id.desc())))


def lift_suppression(suppression_id: int) -> SuppressedAddress:
    """A producer says the address works again: the outbox may write to it (new mail only;
    messages already refused stay as they were and can be retried one by one)."""
    row = db.session.get(SuppressedAddress, suppression_id)
    if row is None:
        raise NotAllowed(_("This address is not on the list any more."))
    address = row.email_normalized
    db.session.execute(delete(MailBounce).where(MailBounce.email_normalized == address))
    db.session.delete(row)
    db.session.commit()
    return row


def forget_addresses(addresses: set[str]) -> None:
    """Erasure (services/privacy.py): the suppression and bounce records of these addresses."""
    keys = {normalize_email(address) for address in addresses if address}
    if not keys:
        return
    db.session.execute(
        delete(SuppressedAddress).where(SuppressedAddress.email_normalized.in_(keys))
    )
    db.session.execute(delete(MailBounce).where(MailBounce.email_normalized.in_(keys)))
