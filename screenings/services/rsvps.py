"""RSVPs: reply to a public screening, join or leave the waiting list, cancel or erase.

Capacity is held by one conditional UPDATE of the screening's ``seats_taken`` counter
(``… WHERE seats_taken + n <= capacity``) checked by its rowcount: no read-then-write. It is
the first statement of its transaction, so on SQLite the write lock is taken at once (a
deferred transaction that read first could not upgrade its lock under contention) and on
PostgreSQL the row lock makes a concurrent UPDATE re-check the condition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from .. import emails
from ..extensions import db
from ..models import Rsvp, RsvpStatus, Screening, ScreeningStatus, utcnow
from ..security import (
    derived_token,
    hash_token,
    link_token,
    mailbox_safe,
    new_token,
    tokens_match,
)
from . import DomainError, NotAllowed, door

# Test-only: called right after the capacity decision, while its lock is held, so a race
# test can widen the window in which a naive check-then-insert would oversell.
after_capacity_check: Callable[[], None] | None = None
# Test-only: called after the form-time "does it take RSVPs?" check and before the seat
# UPDATE, so a race test can cancel the screening in between (issue 18, item 7).
after_open_check: Callable[[], None] | None = None


class RsvpError(DomainError):
    pass


@dataclass
class RsvpResult:
    rsvp: Rsvp
    # False when the same person had already replied (double submission): nothing changed.
    is_new: bool


def rsvp_token(rsvp: Rsvp) -> str:
    """The attendee's private link token, derived from the RSVP's random key."""
    return link_token("rsvp", rsvp.cancel_key, rsvp.cancel_token_hash)


def reply_token(rsvp: Rsvp) -> str:
    """The token in the attendee's reply address (replies+<token>@…): 160 bits derived from
    the RSVP's random key, in lower-case base32 because mail systems may fold the case of an
    address's local part."""
    return link_token("reply", rsvp.cancel_key, rsvp.reply_token_hash, shape=mailbox_safe)


def _next_sequence_offset(screening_id: int, email_normalized: str) -> int:
    """A new reply's SEQUENCE offset: above every earlier reply of the same person to the
    screening, whose CANCEL their calendar has seen."""
    highest = db.session.scalar(
        select(func.max(Rsvp.calendar_sequence_offset)).where(
            Rsvp.screening_id == screening_id, Rsvp.email_normalized == email_normalized
        )
    )
    return 0 if highest is None else highest + 1


def record_calendar_reply(rsvp: Rsvp, partstat: str) -> None:
    """Keep the attendee's answer from their calendar (ACCEPTED or TENTATIVE) for the
    organizer; a DECLINED is a cancellation (cancel_rsvp)."""
    rsvp.reply_partstat = partstat
    db.session.commit()


def find_by_token(token: str) -> Rsvp | None:
    """The RSVP a private link belongs to, or None (unknown, revoked or erased)."""
    if not token or len(token) > 100:
        return None
    rsvp = db.session.scalar(select(Rsvp).where(Rsvp.cancel_token_hash == hash_token(token)))
    if rsvp is None or not tokens_match(token, rsvp.cancel_token_hash):
        return None
    return rsvp


def accepts_rsvps(screening: Screening) -> bool:
    """An approved, future screening whose organizer takes RSVPs. A private one too: its
    guests reach it through the share link (services/visibility.py)."""
    return (
        screening.status == ScreeningStatus.APPROVED
        and screening.rsvps_enabled
        and screening.starts_at > utcnow()
    )


def normalize_email(address: str) -> str:
    return address.strip().lower()


def _active_rsvp(screening_id: int, email_normalized: str) -> Rsvp | None:
    return db.session.scalar(
        select(Rsvp).where(
            Rsvp.screening_id == screening_id,
            Rsvp.email_normalized == email_normalized,
            Rsvp.status != RsvpStatus.CANCELLED,
        )
    )


def _hold_seats(screening_id: int, seats: int) -> bool:
    """Take seats if they are free, atomically; True when taken."""
    result = db.session.execute(
        update(Screening)
        .where(
            Screening.id == screening_id,
            Screening.status == ScreeningStatus.APPROVED,
            Screening.seats_taken + seats <= Screening.capacity,
        )
        # Seats are not a calendar change: keep updated_at (feeds' LAST-MODIFIED and ETags).
        .values(seats_taken=Screening.seats_taken + seats, updated_at=Screening.updated_at)
        .execution_options(synchronize_session=False)
    )
    if after_capacity_check is not None:
        after_capacity_check()
    return result.rowcount == 1


def _still_approved(screening_id: int) -> bool:
    """After a refused seat UPDATE: is it full (True) or no longer approved (False)?

    Read under the row's lock (FOR UPDATE on PostgreSQL; SQLite's write lock is already
    ours from the UPDATE), held to the commit: a cancellation waits for this reply and then
    sees it, so every waiting-list place it lets in hears of the cancellation.
    """
    status = db.session.scalar(
        select(Screening.status).where(Screening.id == screening_id).with_for_update()
    )
    return status == ScreeningStatus.APPROVED


def _release_seats(screening_id: int, seats: int) -> None:
    db.session.execute(
        update(Screening)
        .where(Screening.id == screening_id, Screening.seats_taken >= seats)
        .values(seats_taken=Screening.seats_taken - seats, updated_at=Screening.updated_at)
        .execution_options(synchronize_session=False)
    )


def rsvp(
    screening: Screening,
    *,
    name: str,
    email: str,
    party_size: int,
    consent: bool,
    language: str = "en",
) -> RsvpResult:
    """Reply to a screening: a seat for the party if it fits, else a place on the waiting list.

    The same e-mail address replying twice gets its first RSVP back, unchanged, and its
    e-mail again: whoever typed the address learns only what its owner is told.
    """
    if not accepts_rsvps(screening):
        raise NotAllowed(_("This screening does not take RSVPs."))
    if not consent:
        raise RsvpError(
            _("We need your consent to e-mail you about this screening."), field="consent"
        )
    if not 1 <= party_size <= screening.max_party_size:
        raise RsvpError(
            _("Reserve between 1 and %(n)s seats.", n=screening.max_party_size),
            field="party_size",
        )
    key = normalize_email(email)
    existing = _active_rsvp(screening.id, key)
    if existing is not None:
        return _repeated(existing)

    screening_id = screening.id
    if after_open_check is not None:
        after_open_check()
    # The conditional UPDATE is the transaction's first statement (see the module docstring).
    confirmed = _hold_seats(screening_id, party_size)
    if not confirmed and not _still_approved(screening_id):
        db.session.rollback()
        raise NotAllowed(_("This screening has just been cancelled; it no longer takes RSVPs."))
    cancel_key = new_token()
    now = utcnow()
    row = Rsvp(
        screening_id=screening_id,
        status=RsvpStatus.CONFIRMED if confirmed else RsvpStatus.WAITLISTED,
        name=name,
        email=email,
        email_normalized=key,
        party_size=party_size,
        consent_to_email=consent,
        language=language,
        cancel_key=cancel_key,
        cancel_token_hash=hash_token(derived_token("rsvp", cancel_key)),
        calendar_sequence_offset=_next_sequence_offset(screening_id, key),
        created_at=now,
        confirmed_at=now if confirmed else None,
    )
    row.reply_token_hash = hash_token(reply_token(row))
    door.ensure_ticket(row)
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        # The same person's concurrent duplicate won; the rollback returns our seats.
        db.session.rollback()
        existing = _active_rsvp(screening_id, key)
        if existing is None:
            raise
        return _repeated(existing)
    _send_status(row)
    db.session.commit()
    db.session.refresh(screening)
    return RsvpResult(row, is_new=True)


def _send_status(row: Rsvp) -> None:
    """The e-mail that says where a reply stands: the invitation, or the waiting list."""
    if row.status == RsvpStatus.CONFIRMED:
        emails.send_rsvp_confirmed(row)
    else:
        emails.send_rsvp_waitlisted(row)


def _repeated(existing: Rsvp) -> RsvpResult:
    _send_status(existing)
    db.session.commit()
    return RsvpResult(existing, is_new=False)


def _cancel(rsvp: Rsvp) -> bool:
    """Mark the RSVP cancelled and free its seats (no commit); True if it held seats."""
    previous = rsvp.status
    if previous == RsvpStatus.CANCELLED:
        return False
    result = db.session.execute(
        update(Rsvp)
        .where(Rsvp.id == rsvp.id, Rsvp.status == previous)
        .values(
            status=RsvpStatus.CANCELLED,
            cancelled_at=utcnow(),
            updated_at=utcnow(),
            # Their CANCEL must outrank the REQUEST they hold (RFC 5546 2.1.5).
            calendar_sequence_offset=Rsvp.calendar_sequence_offset + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise NotAllowed(_("This reply has just changed; reload the page."))
    had_seat = previous == RsvpStatus.CONFIRMED
    if had_seat:
        _release_seats(rsvp.screening_id, rsvp.party_size)
    db.session.refresh(rsvp)
    return had_seat


def cancel_rsvp(rsvp: Rsvp) -> None:
    """The attendee cancels: their seats go to the waiting list, and they get a CANCEL."""
    if rsvp.status == RsvpStatus.CANCELLED:
        raise NotAllowed(_("This reply is already cancelled."))
    had_seat = _cancel(rsvp)
    emails.send_rsvp_cancelled(rsvp, had_seat=had_seat)
    if had_seat:
        promote_waitlist(rsvp.screening)
    db.session.commit()


def cancel_for_erasure(rsvp: Rsvp) -> bool:
    """Free an erased attendee's seats and send the CANCEL that takes the entry out of their
    calendar (no commit: services/privacy.erase_attendee); True if they held seats."""
    had_seat = False
    if rsvp.status != RsvpStatus.CANCELLED:
        had_seat = _cancel(rsvp)
        if had_seat:
            emails.send_rsvp_cancelled(rsvp, had_seat=True)
    return had_seat


def promote_waitlist(screening: Screening) -> list[Rsvp]:
    """Give freed seats to the waiting list in order, skipping parties that do not fit.

    Runs inside the caller's transaction (no commit). Each promotion is a conditional seat
    UPDATE plus a conditional status change, so two cancellations never promote one RSVP twice.
    """
    if screening.status != ScreeningStatus.APPROVED:
        return []
    promoted = []
    waiting = db.session.scalars(
        select(Rsvp)
        .where(Rsvp.screening_id == screening.id, Rsvp.status == RsvpStatus.WAITLISTED)
        .order_by(Rsvp.created_at, Rsvp.id)
    ).all()
    for candidate in waiting:
        if not _hold_seats(screening.id, candidate.party_size):
            continue
        moved = db.session.execute(
            update(Rsvp)
            .where(Rsvp.id == candidate.id, Rsvp.status == RsvpStatus.WAITLISTED)
            .values(status=RsvpStatus.CONFIRMED, confirmed_at=utcnow(), updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:
            _release_seats(screening.id, candidate.party_size)
            continue
        db.session.refresh(candidate)
        emails.send_rsvp_confirmed(candidate, promoted=True)
        promoted.append(candidate)
    db.session.refresh(screening)
    return promoted


def attendees(screening: Screening, *, statuses: tuple[str, ...] | None = None) -> list[Rsvp]:
    """The screening's RSVPs in reply order (confirmed and waiting by default)."""
    statuses = statuses or (RsvpStatus.CONFIRMED, RsvpStatus.WAITLISTED)
    return list(
        db.session.scalars(
            select(Rsvp)
            .where(Rsvp.screening_id == screening.id, Rsvp.status.in_(statuses))
            .order_by(Rsvp.created_at, Rsvp.id)
        )
    )


def counts(screening: Screening) -> dict[str, int]:
    """Replies and seats by status, for the organizer."""
    rows = attendees(screening)
    confirmed = [r for r in rows if r.status == RsvpStatus.CONFIRMED]
    waiting = [r for r in rows if r.status == RsvpStatus.WAITLISTED]
    return {
        "confirmed": len(confirmed),
        "confirmed_seats": sum(r.party_size for r in confirmed),
        "waitlisted": len(waiting),
        "waitlisted_seats": sum(r.party_size for r in waiting),
    }


def notify_screening_changed(screening: Screening, before: Screening) -> None:
    """Every guest hears of a change (no commit: the caller's change): each confirmed one with
    an updated REQUEST, each on the waiting list when the time or place they may know moved.
    ``before`` is a copy of the screening as it was (services/bookings.py ``_as_it_is``)."""
    for row in attendees(screening):
        emails.send_rsvp_screening_changed(row, before=before)


def notify_screening_cancelled(screening: Screening) -> None:
    """A CANCEL to every confirmed attendee, a note to the waiting list (no commit)."""
    for row in attendees(screening):
        emails.send_rsvp_screening_cancelled(row, had_seat=row.status == RsvpStatus.CONFIRMED)
