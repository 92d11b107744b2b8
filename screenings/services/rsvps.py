"""RSVPs: reply to a public screening, join or leave the waiting list, cancel or erase; the
host's approval of each guest and the confirmation of an address (services/guests.py holds
the settings' rules).

Capacity is held by one conditional UPDATE of the screening's ``seats_taken`` counter
(``… WHERE seats_taken + n <= capacity``) checked by its rowcount: no read-then-write. It is
the first statement of its transaction, so on SQLite the write lock is taken at once (a
deferred transaction that read first could not upgrade its lock under contention) and on
PostgreSQL the row lock makes a concurrent UPDATE re-check the condition.

A *requested* reply (the host approves each guest) holds no seat: approval takes them with the
same conditional UPDATE. An *unconfirmed* reply holds its seats until its address is
confirmed or ``hold_expires_at`` passes; expired holds are released by the periodic job and,
lazily, before every transaction that takes seats, so an expired hold never blocks a seat
even if the job has not run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from .. import emails
from ..capabilities import reply_token
from ..extensions import db, rows_changed
from ..models import Rsvp, RsvpStatus, Screening, ScreeningStatus, normalize_email, utcnow
from ..security import (
    derived_token,
    hash_token,
    link_token,
    new_token,
    tokens_match,
)
from ..urls import external_url
from . import DomainError, NotAllowed, door, guests

# Test-only: called right after the capacity decision, while its lock is held, so a race
# test can widen the window in which a naive check-then-insert would oversell.
after_capacity_check: Callable[[], None] | None = None
# Test-only: called after the form-time "does it take RSVPs?" check and before the seat
# UPDATE, so a race test can cancel the screening in between (issue 18, item 7).
after_open_check: Callable[[], None] | None = None
# The clock address holds are set and expire by (tests move it, never sleep).
clock: Callable[[], datetime] = utcnow

# The statuses whose party holds seats in ``seats_taken``.
HOLDS_SEATS = (RsvpStatus.CONFIRMED, RsvpStatus.UNCONFIRMED)
# Every reply still in play, as the organizer's list shows them.
OPEN_STATUSES = (
    RsvpStatus.CONFIRMED,
    RsvpStatus.UNCONFIRMED,
    RsvpStatus.REQUESTED,
    RsvpStatus.WAITLISTED,
)


class RsvpError(DomainError):
    pass


@dataclass
class RsvpResult:
    rsvp: Rsvp
    # False when the same person had already replied (double submission): nothing changed.
    is_new: bool


def _send_confirmed(rsvp: Rsvp, *, promoted: bool = False) -> None:
    """E-mail a confirmed guest their invite and ticket (its digest saved with this change)."""
    emails.send_rsvp_confirmed(
        rsvp,
        ticket_code=door.ensure_ticket(rsvp),
        ticket_qr_png=door.ticket_qr_png(rsvp),
        promoted=promoted,
    )


def confirm_token(rsvp: Rsvp) -> str:
    """The token of the confirm-address link e-mailed to an unconfirmed reply."""
    return link_token("confirm", rsvp.cancel_key, rsvp.confirm_token_hash)


def find_by_confirm_token(token: str) -> Rsvp | None:
    """The RSVP a confirm-address link belongs to, or None (unknown or erased)."""
    if not token or len(token) > 100:
        return None
    digest = hash_token(token)
    rsvp = db.session.scalar(select(Rsvp).where(Rsvp.confirm_token_hash == digest))
    if rsvp is None or not tokens_match(token, rsvp.confirm_token_hash or ""):
        return None
    return rsvp


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
    taken = rows_changed(
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
    return taken == 1


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
    answer: str = "",
) -> RsvpResult:
    """Reply to a screening: a seat for the party if it fits, else a place on the waiting list;
    a request the host decides on, where they approve each guest; seats held until the
    address is confirmed, where the screening's address check asks for it.

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
    if existing is not None and not _hold_lapsed(existing):
        return _repeated(existing)

    screening_id = screening.id
    answer = (answer or "").strip()[:300] if screening.host_question else ""
    approves = screening.approves_guests
    confirms = guests.confirms_address(screening, party_size)
    if after_open_check is not None:
        after_open_check()
    # Expired holds go first, so their seats (and a lapsed earlier reply of this person)
    # never stand in the way; the next write stays the first statement when there are none.
    release_lapsed_holds(screening_id)
    if approves:
        status = RsvpStatus.REQUESTED
        is_open = _still_approved(screening_id)
    else:
        held = _hold_seats(screening_id, party_size)
        is_open = held or _still_approved(screening_id)
        status = RsvpStatus.WAITLISTED
        if held:
            status = RsvpStatus.UNCONFIRMED if confirms else RsvpStatus.CONFIRMED
    if not is_open:
        db.session.rollback()
        raise NotAllowed(_("This screening has just been cancelled; it no longer takes RSVPs."))
    cancel_key = new_token()
    now = utcnow()
    row = Rsvp(
        screening_id=screening_id,
        status=status,
        answer=answer,
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
        confirmed_at=now if status == RsvpStatus.CONFIRMED else None,
    )
    row.reply_token_hash = hash_token(reply_token(row))
    if status == RsvpStatus.UNCONFIRMED:
        for name, value in _address_hold(row).items():
            setattr(row, name, value)
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


def _address_hold(row: Rsvp) -> dict:
    """What holds a reply's seats until its address is confirmed: when the hold lapses and
    the hash of the link that confirms it."""
    minutes = float(current_app.config["ADDRESS_HOLD_MINUTES"])
    return {
        "hold_expires_at": clock() + timedelta(minutes=minutes),
        "confirm_token_hash": hash_token(confirm_token(row)),
    }


def _hold_lapsed(row: Rsvp) -> bool:
    """An unconfirmed hold past its time (released by the next seat-taking transaction)."""
    return (
        row.status == RsvpStatus.UNCONFIRMED
        and row.hold_expires_at is not None
        and row.hold_expires_at <= clock()
    )


def _send_status(row: Rsvp) -> None:
    """The e-mail that says where a reply stands: the invitation, the waiting list, the
    host's decision to come, the link that confirms the address, or the host's refusal."""
    if row.status == RsvpStatus.CONFIRMED:
        _send_confirmed(row)
    elif row.status == RsvpStatus.REQUESTED:
        emails.send_rsvp_requested(row)
    elif row.status == RsvpStatus.UNCONFIRMED:
        emails.send_rsvp_confirm_address(row, confirm_url=_confirm_url(row))
    elif row.status == RsvpStatus.DECLINED:
        emails.send_rsvp_declined(row)
    else:
        emails.send_rsvp_waitlisted(row)


def _confirm_url(row: Rsvp) -> str:
    return external_url("attendee.confirm_address", token=confirm_token(row))


def _repeated(existing: Rsvp) -> RsvpResult:
    _send_status(existing)
    db.session.commit()
    return RsvpResult(existing, is_new=False)


def _cancel(rsvp: Rsvp) -> bool:
    """Mark the RSVP cancelled and free any seats it held (no commit); True if it was a
    confirmed seat (whose calendar entry a CANCEL must remove)."""
    previous = rsvp.status
    if previous == RsvpStatus.CANCELLED:
        return False
    changed = rows_changed(
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
    if changed != 1:
        db.session.rollback()
        raise NotAllowed(_("This reply has just changed; reload the page."))
    if previous in HOLDS_SEATS:
        _release_seats(rsvp.screening_id, rsvp.party_size)
    db.session.refresh(rsvp)
    return previous == RsvpStatus.CONFIRMED


def cancel_rsvp(rsvp: Rsvp) -> None:
    """The attendee cancels: their seats go to the waiting list, and they get a CANCEL."""
    if rsvp.status == RsvpStatus.CANCELLED:
        raise NotAllowed(_("This reply is already cancelled."))
    if rsvp.status == RsvpStatus.DECLINED:  # the host's answer stands; erasing is still open
        raise NotAllowed(_("The host has declined this request."))
    freed = rsvp.status in HOLDS_SEATS
    had_seat = _cancel(rsvp)
    emails.send_rsvp_cancelled(rsvp, had_seat=had_seat)
    if freed:
        promote_waitlist(rsvp.screening)
    db.session.commit()


# The replies whose party size the attendee may change: not a hold waiting on its address
# (its seats lapse on their own), nor a closed reply.
RESIZABLE = (RsvpStatus.CONFIRMED, RsvpStatus.WAITLISTED, RsvpStatus.REQUESTED)


def change_party_size(rsvp: Rsvp, party_size: int) -> None:
    """The attendee changes their number of seats: more take seats by the same conditional
    UPDATE as a reply (never past capacity), fewer free seats for the waiting list as a
    cancellation does; a confirmed guest gets their invite again with a higher SEQUENCE."""
    screening = rsvp.screening
    if rsvp.status not in RESIZABLE or not accepts_rsvps(screening):
        raise NotAllowed(_("This reply's seats can no longer be changed."))
    if not 1 <= party_size <= screening.max_party_size:
        raise RsvpError(
            _("Reserve between 1 and %(n)s seats.", n=screening.max_party_size),
            field="party_size",
        )
    more = party_size - rsvp.party_size
    if more == 0:
        return
    has_seats = rsvp.status == RsvpStatus.CONFIRMED
    if has_seats and more > 0 and not _hold_seats(screening.id, more):
        db.session.rollback()
        db.session.refresh(screening)
        raise RsvpError(
            ngettext(
                "Only %(num)d more seat is left.",
                "Only %(num)d more seats are left.",
                screening.seats_left,
            )
            if screening.seats_left
            else _("No more seats are left."),
            field="party_size",
        )
    changed = rows_changed(
        update(Rsvp)
        .where(Rsvp.id == rsvp.id, Rsvp.status == rsvp.status, Rsvp.party_size == rsvp.party_size)
        .values(
            party_size=party_size,
            updated_at=utcnow(),
            # The updated REQUEST must outrank the one they hold (RFC 5546 2.1.5).
            calendar_sequence_offset=Rsvp.calendar_sequence_offset + (1 if has_seats else 0),
        )
        .execution_options(synchronize_session=False)
    )
    if changed != 1:
        db.session.rollback()
        raise NotAllowed(_("This reply has just changed; reload the page."))
    db.session.refresh(rsvp)
    if has_seats:
        if more < 0:
            _release_seats(screening.id, -more)
            promote_waitlist(screening)
        _send_confirmed(rsvp)
    db.session.commit()
    db.session.refresh(screening)


def cancel_for_erasure(rsvp: Rsvp) -> bool:
    """Free an erased attendee's seats and send the CANCEL that takes the entry out of their
    calendar (no commit: services/privacy.erase_attendee); True if they held seats."""
    freed = False
    if rsvp.status != RsvpStatus.CANCELLED:
        freed = rsvp.status in HOLDS_SEATS
        if _cancel(rsvp):
            emails.send_rsvp_cancelled(rsvp, had_seat=True)
    return freed


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
        # Where the address check asks it of this party, freed seats are held for it as for
        # a new reply (a made-up address on the waiting list gets no seat for good); a guest
        # the host let onto the list has been looked at already.
        confirms = not screening.approves_guests and guests.confirms_address(
            screening, candidate.party_size
        )
        values = {"status": RsvpStatus.CONFIRMED, "confirmed_at": utcnow()}
        if confirms:
            values = {"status": RsvpStatus.UNCONFIRMED, **_address_hold(candidate)}
        moved = rows_changed(
            update(Rsvp)
            .where(Rsvp.id == candidate.id, Rsvp.status == RsvpStatus.WAITLISTED)
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        if moved != 1:
            _release_seats(screening.id, candidate.party_size)
            continue
        db.session.refresh(candidate)
        if confirms:
            emails.send_rsvp_confirm_address(candidate, confirm_url=_confirm_url(candidate))
        else:
            _send_confirmed(candidate, promoted=True)
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
    rows = attendees(screening, statuses=OPEN_STATUSES)
    found = {}
    for status in OPEN_STATUSES:
        mine = [r for r in rows if r.status == status]
        found[str(status)] = len(mine)
        found[f"{status}_seats"] = sum(r.party_size for r in mine)
    return found


def notify_screening_changed(screening: Screening, before: Screening) -> None:
    """Every guest hears of a change (no commit: the caller's change): each confirmed one with
    an updated REQUEST, each on the waiting list when the time or place they may know moved.
    ``before`` is a copy of the screening as it was (services/bookings.py ``_as_it_is``)."""
    for row in attendees(screening):
        emails.send_rsvp_screening_changed(row, before=before)


def notify_screening_cancelled(screening: Screening) -> None:
    """A CANCEL to every confirmed attendee, a note to everyone else still replying (no
    commit)."""
    for row in attendees(screening, statuses=OPEN_STATUSES):
        emails.send_rsvp_screening_cancelled(row, had_seat=row.status == RsvpStatus.CONFIRMED)


# -- the host's approval -------------------------------------------------------------------------


@dataclass
class Decision:
    """What a decision on several requests did: whom it let in, and who found no seat."""

    done: list[Rsvp] = field(default_factory=list)
    full: list[Rsvp] = field(default_factory=list)


def _requests(screening: Screening, rsvp_ids: Iterable[int]) -> list[Rsvp]:
    """The screening's requested replies among rsvp_ids, in reply order."""
    return list(
        db.session.scalars(
            select(Rsvp)
            .where(
                Rsvp.screening_id == screening.id,
                Rsvp.id.in_([int(i) for i in rsvp_ids]),
                Rsvp.status == RsvpStatus.REQUESTED,
            )
            .order_by(Rsvp.created_at, Rsvp.id)
        )
    )


def _decide(row: Rsvp, new_status: str, **values: datetime) -> bool:
    """Move a requested reply to new_status unless someone decided it first."""
    moved = rows_changed(
        update(Rsvp)
        .where(Rsvp.id == row.id, Rsvp.status == RsvpStatus.REQUESTED)
        .values(status=new_status, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return moved == 1


def approve_requests(screening: Screening, rsvp_ids: Iterable[int]) -> Decision:
    """The host approves requests: each takes its seats with the same conditional UPDATE as
    an RSVP, then gets its confirmation and invite; one that finds no seat stays requested
    (``full``). One transaction per request, its seat UPDATE first."""
    screening_id = screening.id
    decision = Decision()
    for row in _requests(screening, rsvp_ids):
        seats = row.party_size
        release_lapsed_holds(screening_id)
        if not _hold_seats(screening_id, seats):
            if not _still_approved(screening_id):
                db.session.rollback()
                raise NotAllowed(_("This screening no longer takes RSVPs."))
            db.session.commit()  # the expired holds released stay released
            decision.full.append(row)
            continue
        if not _decide(row, RsvpStatus.CONFIRMED, confirmed_at=utcnow()):
            db.session.rollback()  # decided meanwhile (another tab, a second click)
            continue
        db.session.refresh(row)
        _send_confirmed(row)
        db.session.commit()
        decision.done.append(row)
    db.session.refresh(screening)
    return decision


def decline_requests(screening: Screening, rsvp_ids: Iterable[int]) -> Decision:
    """The host declines requests: each gets a polite e-mail; no seat was ever held."""
    decision = Decision()
    for row in _requests(screening, rsvp_ids):
        if _decide(row, RsvpStatus.DECLINED, declined_at=utcnow()):
            db.session.refresh(row)
            emails.send_rsvp_declined(row)
            decision.done.append(row)
    db.session.commit()
    return decision


def waitlist_requests(screening: Screening, rsvp_ids: Iterable[int]) -> Decision:
    """The host lets requests in as seats free up: they join the waiting list (in their
    reply order) and are promoted as any waiting reply is, at once if seats are free."""
    decision = Decision()
    for row in _requests(screening, rsvp_ids):
        if _decide(row, RsvpStatus.WAITLISTED):
            decision.done.append(row)
    promoted = {r.id for r in promote_waitlist(screening)}
    for row in decision.done:
        db.session.refresh(row)
        if row.id not in promoted:
            emails.send_rsvp_waitlisted(row)
    db.session.commit()
    return decision


# -- confirming the address ----------------------------------------------------------------------


def confirm_address(rsvp: Rsvp) -> str:
    """The e-mailed link was clicked: the held seats become the guest's (confirmation and
    invite sent). Returns "confirmed", "already" (clicked before), "expired", or "closed"
    (the screening is no longer approved: nothing to confirm, no invite)."""
    if rsvp.status == RsvpStatus.CONFIRMED:
        return "already"
    now = clock()
    approved = select(Screening.id).where(Screening.status == ScreeningStatus.APPROVED)
    moved = rows_changed(
        update(Rsvp)
        .where(
            Rsvp.id == rsvp.id,
            Rsvp.status == RsvpStatus.UNCONFIRMED,
            Rsvp.hold_expires_at > now,
            Rsvp.screening_id.in_(approved),
        )
        .values(status=RsvpStatus.CONFIRMED, confirmed_at=now, hold_expires_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved != 1:
        db.session.rollback()
        release_expired_holds(rsvp.screening_id)
        db.session.commit()
        db.session.refresh(rsvp)
        if rsvp.status == RsvpStatus.CONFIRMED:
            return "already"
        return "expired" if rsvp.screening.status == ScreeningStatus.APPROVED else "closed"
    db.session.refresh(rsvp)
    _send_confirmed(rsvp)
    db.session.commit()
    return "confirmed"


def release_lapsed_holds(screening_id: int) -> int:
    """Where seats are counted: release the screening's expired holds, if it has any (a read
    first, which on SQLite takes no lock, so a screening without any pays no write)."""
    lapsed = db.session.scalar(
        select(Rsvp.id)
        .where(
            Rsvp.screening_id == screening_id,
            Rsvp.status == RsvpStatus.UNCONFIRMED,
            Rsvp.hold_expires_at <= clock(),
        )
        .limit(1)
    )
    return 0 if lapsed is None else release_expired_holds(screening_id)


def release_expired_holds(screening_id: int | None = None) -> int:
    """Cancel unconfirmed replies whose hold has expired and give their seats back (to the
    waiting list first); of one screening, or of all. No commit: the caller's transaction.

    One conditional UPDATE … RETURNING claims the expired holds, so two transactions never
    release the same hold twice. Returns how many holds it released.
    """
    now = clock()
    statement = update(Rsvp).where(
        Rsvp.status == RsvpStatus.UNCONFIRMED, Rsvp.hold_expires_at <= now
    )
    if screening_id is not None:
        statement = statement.where(Rsvp.screening_id == screening_id)
    released = db.session.execute(
        statement.values(status=RsvpStatus.CANCELLED, cancelled_at=utcnow(), updated_at=utcnow())
        .returning(Rsvp.screening_id, Rsvp.party_size)
        .execution_options(synchronize_session=False)
    ).all()
    freed: Counter[int] = Counter()
    for held_by, seats in released:
        freed[held_by] += seats
    for held_by, seats in sorted(freed.items()):
        _release_seats(held_by, seats)
        screening = db.session.get(Screening, held_by)
        if screening is not None:
            promote_waitlist(screening)
    return len(released)


def expire_address_holds() -> int:
    """The periodic job: release every expired unconfirmed hold, in one transaction."""
    released = release_expired_holds()
    db.session.commit()
    return released
