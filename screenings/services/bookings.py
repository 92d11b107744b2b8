"""Bookings: create, approve, reject, edit and cancel a screening, with its licence and e-mails."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .. import emails
from ..capabilities import manage_key, manage_token
from ..extensions import db, rows_changed
from ..models import (
    ChangeRequest,
    ChangeRequestStatus,
    Film,
    Licence,
    LicenceTerms,
    Screening,
    ScreeningStatus,
    TrustedHost,
    utcnow,
)
from ..places import NonexistentLocalTime, venue_time_to_utc
from ..security import derived_token, hash_token, tokens_match
from . import (
    BookingError,
    NotAllowed,
    alerts,
    clashes,
    distribution,
    guests,
    observances,
    rsvps,
    rules,
    visibility,
)
from .history import record_change
from .licences import issue_licence

# Fields whose change alters what the licence states: a new licence revision is issued.
LICENCE_FIELDS = (
    "organization_name",
    "organization_type",
    "venue_name",
    "street_address",
    "city",
    "region",
    "postal_code",
    "country",
    "timezone",
    "local_start",
    "duration_minutes",
    "expected_audience",
    "visibility",
)
# On a film that needs approval, a change of these after approval waits for the producer
# (with a start moved by more than a day, and audience or capacity raised; a listing made
# more discreet applies at once: _material).
REVIEWED_FIELDS = (
    "organization_name",
    "organization_type",
    "organization_country",
    "venue_name",
    "street_address",
    "city",
    "region",
    "postal_code",
    "country",
    "visibility",
    # What the public reads on the screening's page.
    "description",
)
# The longest host note for guests (Screening.host_note), in characters.
HOST_NOTE_MAX = 1000
# The longest public description of the event (Screening.description), in characters.
DESCRIPTION_MAX = 2000
# The texts a form may leave out (None in BookingDetails), with their longest.
LONGEST_TEXTS = {"host_note": HOST_NOTE_MAX, "description": DESCRIPTION_MAX}
# A start moved by more than this goes back to review.
REVIEWED_MOVE = timedelta(days=1)
# Fields whose change must reach calendars (iCalendar SEQUENCE is raised).
CALENDAR_FIELDS = (
    "organization_name",  # the SUMMARY
    "venue_name",
    "street_address",
    "city",
    "region",
    "postal_code",
    "country",
    "timezone",
    "local_start",
    "duration_minutes",
    # Who learns the street changes what confirmed guests' invites say (services/visibility).
    "visibility",
)


def _as_it_is(screening: Screening) -> Screening:
    """A copy of what a screening says in calendars (its host, time and place), never added
    to the session: what it was, once it changes, for the guests' change e-mails."""
    names = (*CALENDAR_FIELDS, "starts_at", "latitude", "longitude")
    return Screening(**{name: getattr(screening, name) for name in names})


@dataclass
class BookingDetails:
    """What an organizer states about a screening, as the booking and edit forms collect it."""

    film_id: int
    organization_name: str
    organization_type: str
    organization_website: str
    organization_country: str
    contact_name: str
    contact_email: str
    contact_phone: str
    venue_name: str
    street_address: str
    city: str
    region: str
    postal_code: str
    country: str
    timezone: str
    start_date: date
    start_time: time
    duration_minutes: int | None
    expected_audience: int
    capacity: int
    # public, guests or private: who learns the address (services/visibility.py).
    visibility: str
    rsvps_enabled: bool
    notes: str
    # The ScreeningFormat the organizer chose (download or physical); None: not chosen.
    format_id: int | None = None
    # What kind of place the venue is (services/rules.VENUE_KINDS); "" not stated.
    venue_kind: str = ""
    # Guest settings (services/guests.py): None and "" leave them to the defaults there.
    approves_guests: bool | None = None
    address_check: str = ""
    host_question: str = ""
    # The host's note for guests (Screening.host_note); None: not on this form, kept as is.
    host_note: str | None = None
    # What the public reads about the event on its page (Screening.description); None: kept.
    description: str | None = None


@dataclass
class BookingResult:
    screening: Screening
    manage_token: str
    is_new: bool
    # The local time occurred twice (a DST fall-back); the first occurrence was used.
    was_ambiguous: bool = False
    # The film's licence rules this booking breaks, in words (services/rules.py).
    broken_rules: tuple[str, ...] = ()
    # Gentle, never blocking: clashes with other screenings (services/clashes.py).
    notes: tuple[str, ...] = ()


def find_by_manage_token(token: str) -> Screening | None:
    if not token or len(token) > 100:
        return None
    screening = db.session.scalar(
        select(Screening).where(Screening.manage_token_hash == hash_token(token))
    )
    if screening is None or not tokens_match(token, screening.manage_token_hash):
        return None
    return screening


def _start_in_utc(details: BookingDetails) -> tuple[datetime, bool]:
    try:
        starts_at, ambiguous = venue_time_to_utc(
            details.start_date, details.start_time, details.timezone
        )
    except NonexistentLocalTime:
        raise BookingError(
            _(
                "This time does not exist in the venue's time zone (the clocks skip it for "
                "daylight saving). Choose another time."
            ),
            field="start_time",
        ) from None
    if starts_at <= utcnow():
        raise BookingError(_("The screening must start in the future."), field="start_date")
    return starts_at, ambiguous


def _film(film_id: int) -> Film:
    film = db.session.get(Film, film_id)
    if film is None or not film.is_active:
        raise BookingError(_("Choose a film from the list."), field="film_id")
    return film


def _apply(screening: Screening, details: BookingDetails, starts_at: datetime) -> dict:
    """Copy details onto the screening; returns {field: [old, new]} for what changed."""
    distribution.check_format(screening.film, details.format_id)
    values = asdict(details)
    start_date, start_time = values.pop("start_date"), values.pop("start_time")
    values.pop("film_id")
    guests.resolve(values)
    for name, longest in LONGEST_TEXTS.items():
        if values[name] is None:  # not on this form: kept as it is
            del values[name]
        elif len(values[name]) > longest:
            raise BookingError(_("Keep this to %(n)s characters.", n=longest), field=name)
    values["local_start"] = datetime.combine(start_date, start_time)
    if values["duration_minutes"] is None:
        values["duration_minutes"] = (
            screening.film.runtime_minutes + current_app.config["DISCUSSION_MINUTES"]
        )
    changes = {}
    for name, value in values.items():
        old = getattr(screening, name, None)
        if old != value:
            changes[name] = [old, value]
            setattr(screening, name, value)
    visibility.apply(screening, details.visibility)
    visibility.ensure_share_link(screening)
    screening.starts_at = starts_at
    return changes


def create_booking(
    details: BookingDetails, *, submission_key: str, language: str = "en"
) -> BookingResult:
    """Register a screening; issue its licence at once where the film needs no approval.

    The same form submitted twice (double click, reload) returns the first booking.
    """
    existing = _find_by_submission(submission_key)
    if existing is not None:
        return BookingResult(existing, manage_token(existing), is_new=False)
    film = _film(details.film_id)
    starts_at, ambiguous = _start_in_utc(details)
    screening = Screening(
        film=film,
        submission_key=submission_key,
        manage_token_version=1,
        language=language,
        status=ScreeningStatus.PENDING,
        seats_taken=0,
        calendar_sequence=0,
        # The terms shown on the form the organizer accepted (the film's current ones), in
        # the language the form showed them in.
        accepted_terms=film.current_terms,
        accepted_terms_language=film.current_terms.language_for(language)
        if film.current_terms
        else "en",
    )
    _apply(screening, details, starts_at)
    token = manage_token(screening)
    screening.manage_token_hash = hash_token(token)
    db.session.add(screening)
    try:
        db.session.flush()
    except IntegrityError:
        # A concurrent duplicate of this very form won the unique submission key.
        db.session.rollback()
        existing = _find_by_submission(submission_key)
        if existing is None:
            raise
        return BookingResult(existing, manage_token(existing), is_new=False)
    record_change(screening, f"organizer:{details.contact_email}", "booked")
    broken, approver = rules.decide(screening)
    notes = clashes.organizer_notes(screening) + observances.warnings(screening)
    if approver is None:
        if broken:
            record_change(screening, "system:licence-rules", "rules not met", rules=broken)
        emails.send_booking_received(screening, broken_rules=broken, notes=notes)
        alerts.booking_awaiting_approval(screening)
    else:
        _approve(screening, actor=approver)
    db.session.commit()
    return BookingResult(
        screening,
        token,
        is_new=True,
        was_ambiguous=ambiguous,
        broken_rules=tuple(broken),
        notes=tuple(notes),
    )


def _find_by_submission(submission_key: str) -> Screening | None:
    return db.session.scalar(select(Screening).where(Screening.submission_key == submission_key))


def _transition(screening: Screening, allowed: tuple[str, ...], new_status: str) -> None:
    """Change status only from an allowed one, atomically, so two clicks act once."""
    changed = rows_changed(
        update(Screening)
        .where(Screening.id == screening.id, Screening.status.in_(allowed))
        .values(status=new_status, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if changed != 1:
        db.session.rollback()
        raise NotAllowed(
            _(
                "This screening has changed meanwhile and can no longer change this way. "
                "Reload the page to see where it stands."
            )
        )
    screening.status = new_status


def _approve(screening: Screening, actor: str) -> Licence:
    if screening.has_started:
        raise NotAllowed(
            _(
                "The date of this screening has passed, so it can no longer be approved. "
                "Reject it with a reason, or let it expire."
            )
        )
    _transition(screening, (ScreeningStatus.PENDING,), ScreeningStatus.APPROVED)
    licence = issue_licence(screening)
    record_change(screening, actor, "approved", licence=licence.number)
    distribution.prepare_delivery(screening)
    emails.send_licence_issued(screening, licence)
    return licence


def approve_booking(screening: Screening, *, actor: str) -> Licence:
    """Approve a pending booking: issue its licence and send it; the licence issued."""
    licence = _approve(screening, actor)
    db.session.commit()
    return licence


def approve_and_trust(screening: Screening, *, whole_domain: bool, actor: str) -> TrustedHost:
    """Approve a pending booking and trust its organizer, in one transaction."""
    host = rules.trust(screening, whole_domain=whole_domain, actor=actor)
    record_change(screening, actor, "host trusted", kind=host.kind, value=host.value)
    approve_booking(screening, actor=actor)
    return host


def reject_booking(screening: Screening, *, reason: str, actor: str) -> None:
    """Decline a pending booking with a reason the organizer will read."""
    _transition(screening, (ScreeningStatus.PENDING,), ScreeningStatus.REJECTED)
    screening.rejection_reason = reason
    record_change(screening, actor, "rejected", reason=reason)
    emails.send_booking_rejected(screening)
    db.session.commit()


def expire_past_bookings() -> int:
    """Bookings still waiting when their start passes can never be approved: each is declined
    with the reason, in its organizer's language, and the organizer told (booking_rejected).
    The periodic job "expire bookings" runs this; running it twice declines nothing twice."""
    expired = list(
        db.session.scalars(
            select(Screening)
            .where(Screening.status == ScreeningStatus.PENDING, Screening.starts_at <= utcnow())
            .order_by(Screening.id)
        )
    )
    count = 0
    for screening in expired:
        with force_locale(screening.language):
            reason = _(
                "The date of the screening passed before the producer could decide on the "
                "booking, so it has expired. You are welcome to book a new date."
            )
        try:
            reject_booking(screening, reason=reason, actor=EXPIRY_ACTOR)
        except NotAllowed:  # decided meanwhile
            continue
        count += 1
    return count


# Who declines an expired booking, as the history records it.
EXPIRY_ACTOR = "system:expired"


def cancel_booking(
    screening: Screening,
    *,
    actor: str,
    reason: str = "",
    cause: str = "",
    by_producer: bool = False,
) -> None:
    """Cancel a pending or approved screening; its licence stops being valid.

    The organizer's cancellation carries a structured cause (alerts.CANCEL_CAUSES) and
    alerts the producers; the producer's is e-mailed to the organizer with its reason. Either
    way every guest gets a CANCEL (those on the waiting list a note).
    """
    if screening.is_past:
        raise NotAllowed(_("This screening has already taken place."))
    had_licence = screening.current_licence is not None
    _transition(
        screening, (ScreeningStatus.PENDING, ScreeningStatus.APPROVED), ScreeningStatus.CANCELLED
    )
    screening.calendar_sequence += 1
    _withdraw_pending_changes(screening)
    if by_producer:
        record_change(screening, actor, "cancelled by the producer", reason=reason)
        emails.send_cancelled_by_producer(screening, reason=reason, had_licence=had_licence)
    else:
        if cause not in dict(alerts.CANCEL_CAUSES):
            cause = alerts.NO_CAUSE
        screening.cancel_cause = cause
        record_change(screening, actor, "cancelled", reason=reason, cause=cause)
        emails.send_booking_cancelled(screening, had_licence=had_licence)
        alerts.cancelled_by_organizer(screening, reason=reason, cause=cause)
    rsvps.notify_screening_cancelled(screening)
    db.session.commit()


def revoke_licence(screening: Screening, *, reason: str, actor: str) -> None:
    """The producer withdraws the licence: the verification page says revoked, the
    screening is cancelled (it may not take place without one), organizer and guests told."""
    licence = screening.current_licence
    if licence is None or licence.revoked_at is not None:
        raise NotAllowed(_("This screening has no licence to revoke."))
    if screening.is_past:
        raise NotAllowed(_("This screening has already taken place."))
    _transition(screening, (ScreeningStatus.APPROVED,), ScreeningStatus.CANCELLED)
    licence.revoked_at = utcnow()
    licence.revocation_reason = reason
    screening.calendar_sequence += 1
    _withdraw_pending_changes(screening)
    record_change(screening, actor, "licence revoked", licence=licence.number, reason=reason)
    emails.send_licence_revoked(screening, reason=reason)
    rsvps.notify_screening_cancelled(screening)
    db.session.commit()


def terms_to_accept(screening: Screening) -> LicenceTerms | None:
    """The film's newer terms when they changed since the organizer accepted theirs."""
    current = screening.film.current_terms
    accepted = screening.accepted_terms
    if current is None or accepted is None or current.id == accepted.id:
        return None
    return current


def _material(screening: Screening, changes: dict, moved: timedelta) -> dict:
    """The part of an approved screening's changes the producer must review."""
    held = {name: pair for name, pair in changes.items() if name in REVIEWED_FIELDS}
    if "visibility" in held and visibility.is_more_discreet(*reversed(held["visibility"])):
        del held["visibility"]  # hiding takes effect at once; only opening up is reviewed
    for name in ("expected_audience", "capacity"):
        if name in changes and changes[name][1] > changes[name][0]:
            held[name] = changes[name]
    if abs(moved) > REVIEWED_MOVE:
        for name in ("local_start", "timezone"):
            if name in changes:
                held[name] = changes[name]
    return held


def _hold_for_review(
    screening: Screening, details: BookingDetails, held: dict, actor: str
) -> ChangeRequest:
    """Undo the held changes on the screening and keep them as a ChangeRequest."""
    for name, (old, _new) in held.items():
        if name == "visibility":
            visibility.apply(screening, old)
        else:
            setattr(screening, name, old)
    _withdraw_pending_changes(screening)
    proposal = ChangeRequest(
        screening=screening,
        actor=actor[:300],
        # Only what approval applies: no contact data waits in this table.
        proposed_json=json.dumps(
            {
                name: value
                for name, value in asdict(details).items()
                if name in held or name in ("start_date", "start_time", "timezone")
            },
            default=str,
            ensure_ascii=False,
        ),
        changes_json=json.dumps(held, default=str, ensure_ascii=False),
    )
    db.session.add(proposal)
    db.session.flush()
    record_change(screening, actor, "change proposed", changes=held, change_request=proposal.id)
    emails.send_change_received(screening, changes=proposal.changes)
    alerts.change_awaiting_approval(screening, proposal)
    return proposal


def _withdraw_pending_changes(screening: Screening) -> None:
    db.session.execute(
        update(ChangeRequest)
        .where(
            ChangeRequest.screening_id == screening.id,
            ChangeRequest.status == ChangeRequestStatus.PENDING,
        )
        .values(status=ChangeRequestStatus.WITHDRAWN, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def recheck_rules(screening: Screening, changes: dict) -> list[str]:
    """An auto-approving film's rules, checked again after a change: what the change breaks
    is recorded in the history for the producer (the change itself is not refused)."""
    broken = rules.evaluate(screening)
    if broken:
        record_change(
            screening, "system:licence-rules", "rules not met after a change", rules=broken
        )
    return broken


def pending_change(screening: Screening) -> ChangeRequest | None:
    """The organizer's change waiting for the producer, if any."""
    return db.session.scalar(
        select(ChangeRequest).where(
            ChangeRequest.screening_id == screening.id,
            ChangeRequest.status == ChangeRequestStatus.PENDING,
        )
    )


def pending_changes(limit: int = 200) -> list[ChangeRequest]:
    """Organizers' changes waiting for the producer, oldest first (the approvals queue)."""
    return list(
        db.session.scalars(
            select(ChangeRequest)
            .where(ChangeRequest.status == ChangeRequestStatus.PENDING)
            .order_by(ChangeRequest.created_at, ChangeRequest.id)
            .limit(limit)
        )
    )


def update_booking(
    screening: Screening,
    details: BookingDetails,
    *,
    actor: str,
    by_producer: bool = False,
    accept_new_terms: bool = False,
    terms_language: str = "en",
) -> BookingResult:
    """Edit a screening; a change to what the licence states issues a new revision.

    ``terms_language``: the language the page showed the new terms to accept in.

    After approval, on a film that needs approval, a material change by the organizer is
    held for the producer (a ChangeRequest): the screening, its public pages and its licence
    keep the approved particulars until the producer approves. The producer's own edits
    apply at once and the organizer is told.
    """
    if not screening.is_open_for_changes:
        raise NotAllowed(_("This screening can no longer be changed."))
    new_terms = None if by_producer else terms_to_accept(screening)
    if new_terms is not None and not accept_new_terms:
        raise BookingError(
            _("The film's licence terms have changed: accept them to save your changes."),
            field="accept_new_terms",
        )
    starts_at, ambiguous = _start_in_utc(details)
    if details.capacity < screening.seats_taken:
        raise BookingError(
            _(
                "%(n)s seats are already reserved; capacity cannot be lower.",
                n=screening.seats_taken,
            ),
            field="capacity",
        )
    was_starting_at = screening.starts_at
    before = _as_it_is(screening)
    changes = _apply(screening, details, starts_at)
    if new_terms is not None:
        screening.accepted_terms = new_terms
        screening.accepted_terms_language = new_terms.language_for(terms_language)
        record_change(screening, actor, "accepted new terms", terms_version=new_terms.version)
    held = {}
    if (
        not by_producer
        and screening.status == ScreeningStatus.APPROVED
        and screening.film.requires_approval
    ):
        held = _material(screening, changes, starts_at - was_starting_at)
    if held:
        if "local_start" in held or "timezone" in held:
            screening.starts_at = was_starting_at
        _hold_for_review(screening, details, held, actor)
        changes = {name: pair for name, pair in changes.items() if name not in held}
    if not changes:
        db.session.commit()
        return BookingResult(
            screening, manage_token(screening), is_new=False, was_ambiguous=ambiguous
        )
    _apply_changes(screening, changes, before, actor=actor, by_producer=by_producer)
    if not screening.film.requires_approval:
        recheck_rules(screening, changes)
    db.session.commit()
    return BookingResult(screening, manage_token(screening), is_new=False, was_ambiguous=ambiguous)


def _apply_changes(
    screening: Screening,
    changes: dict,
    before: Screening,
    *,
    actor: str,
    by_producer: bool,
) -> None:
    """What follows changes set on the screening (``before`` is what it said until now):
    history, revision, calendars, reminder, guests."""
    calendar_changed = any(name in CALENDAR_FIELDS for name in changes)
    if calendar_changed:
        screening.calendar_sequence += 1
    if screening.starts_at != before.starts_at:
        # A reminder sent for the old time says nothing of the new one: remind again.
        screening.reminder_sent_at = None
    record_change(
        screening, actor, "edited by the producer" if by_producer else "edited", changes=changes
    )
    if screening.status == ScreeningStatus.APPROVED:
        distribution.prepare_delivery(screening)
    if screening.status == ScreeningStatus.APPROVED and any(
        name in LICENCE_FIELDS for name in changes
    ):
        licence = issue_licence(screening)
        emails.send_licence_issued(screening, licence)
    if by_producer:
        emails.send_changed_by_producer(
            screening, changes=json.loads(json.dumps(changes, default=str))
        )
    if screening.status == ScreeningStatus.APPROVED:
        db.session.flush()
        if calendar_changed:
            rsvps.notify_screening_changed(screening, before)
        if "capacity" in changes and changes["capacity"][1] > changes["capacity"][0]:
            rsvps.promote_waitlist(screening)


def _claim_change(change: ChangeRequest, new_status: str, actor: str, reason: str) -> None:
    changed = rows_changed(
        update(ChangeRequest)
        .where(ChangeRequest.id == change.id, ChangeRequest.status == ChangeRequestStatus.PENDING)
        .values(
            status=new_status, decided_at=utcnow(), decided_by=actor[:300], decision_reason=reason
        )
        .execution_options(synchronize_session=False)
    )
    if changed != 1:
        db.session.rollback()
        raise NotAllowed(_("This change has already been decided."))
    db.session.refresh(change)


def approve_change(change: ChangeRequest, *, actor: str) -> None:
    """The producer approves a held change: it applies, and a revised licence is sent."""
    screening = change.screening
    if not screening.is_open_for_changes:
        raise NotAllowed(_("This screening can no longer be changed."))
    _claim_change(change, ChangeRequestStatus.APPROVED, actor, "")
    before = _as_it_is(screening)
    proposed = change.proposed
    held = change.changes
    for name in held:
        if name == "local_start":
            screening.local_start = datetime.fromisoformat(proposed["start_date"]).replace(
                hour=time.fromisoformat(proposed["start_time"]).hour,
                minute=time.fromisoformat(proposed["start_time"]).minute,
            )
        elif name == "timezone":
            screening.timezone = proposed["timezone"]
        elif name == "visibility":
            visibility.apply(screening, proposed["visibility"])
            visibility.ensure_share_link(screening)
        else:
            setattr(screening, name, proposed[name])
    if "local_start" in held or "timezone" in held:
        starts_at, _ambiguous = venue_time_to_utc(
            screening.local_start.date(), screening.local_start.time(), screening.timezone
        )
        screening.starts_at = starts_at
    applied = {name: [pair[0], getattr(screening, name)] for name, pair in held.items()}
    record_change(screening, actor, "change approved", change_request=change.id)
    _apply_changes(screening, applied, before, actor=change.actor, by_producer=False)
    db.session.commit()


def reject_change(change: ChangeRequest, *, reason: str, actor: str) -> None:
    """The producer declines a held change; the approved particulars and licence stand."""
    _claim_change(change, ChangeRequestStatus.REJECTED, actor, reason)
    screening = change.screening
    record_change(screening, actor, "change rejected", change_request=change.id, reason=reason)
    emails.send_change_rejected(screening, changes=change.changes, reason=reason)
    db.session.commit()


def default_duration(film: Film) -> int:
    return film.runtime_minutes + current_app.config["DISCUSSION_MINUTES"]


def reissue_manage_link(screening: Screening, *, actor: str) -> None:
    """Revoke every manage link sent so far and e-mail the organizer a new one."""
    screening.manage_token_version += 1
    screening.manage_token_hash = hash_token(derived_token("manage", manage_key(screening)))
    record_change(screening, actor, "manage link reissued")
    emails.send_manage_link(screening)
    db.session.commit()
