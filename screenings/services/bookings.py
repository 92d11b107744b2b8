"""Bookings: create, approve, reject, edit and cancel a screening, with its licence and e-mails."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .. import emails
from ..extensions import db
from ..models import Film, Screening, ScreeningStatus, utcnow
from ..places import NonexistentLocalTime, venue_time_to_utc
from ..security import derived_token, hash_token, link_token, tokens_match
from . import BookingError, NotAllowed, distribution, rsvps, visibility
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
# Fields whose change must reach calendars (iCalendar SEQUENCE is raised).
CALENDAR_FIELDS = (
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


@dataclass
class BookingResult:
    screening: Screening
    manage_token: str
    is_new: bool
    # The local time occurred twice (a DST fall-back); the first occurrence was used.
    was_ambiguous: bool = False


def _manage_key(screening: Screening) -> str:
    return f"{screening.submission_key}:{screening.manage_token_version}"


def manage_token(screening: Screening) -> str:
    """The organizer's private manage-link token (derived, so it can be re-sent)."""
    return link_token("manage", _manage_key(screening), screening.manage_token_hash)


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
        # The terms shown on the form the organizer accepted (the film's current ones).
        accepted_terms=film.current_terms,
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
    if film.requires_approval:
        emails.send_booking_received(screening)
    else:
        _approve(screening, actor="system:auto-approval")
    db.session.commit()
    return BookingResult(screening, token, is_new=True, was_ambiguous=ambiguous)


def _find_by_submission(submission_key: str) -> Screening | None:
    return db.session.scalar(select(Screening).where(Screening.submission_key == submission_key))


def _transition(screening: Screening, allowed: tuple[str, ...], new_status: str) -> None:
    """Change status only from an allowed one, atomically, so two clicks act once."""
    result = db.session.execute(
        update(Screening)
        .where(Screening.id == screening.id, Screening.status.in_(allowed))
        .values(status=new_status, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise NotAllowed(f"This screening is {screening.status}; it cannot become {new_status}.")
    screening.status = new_status


def _approve(screening: Screening, actor: str) -> None:
    _transition(screening, (ScreeningStatus.PENDING,), ScreeningStatus.APPROVED)
    licence = issue_licence(screening)
    record_change(screening, actor, "approved", licence=licence.number)
    distribution.prepare_delivery(screening)
    emails.send_licence_issued(screening, licence)


def approve_booking(screening: Screening, *, actor: str) -> None:
    """Approve a pending booking: issue its licence and send it."""
    _approve(screening, actor)
    db.session.commit()


def reject_booking(screening: Screening, *, reason: str, actor: str) -> None:
    """Decline a pending booking with a reason the organizer will read."""
    _transition(screening, (ScreeningStatus.PENDING,), ScreeningStatus.REJECTED)
    screening.rejection_reason = reason
    record_change(screening, actor, "rejected", reason=reason)
    emails.send_booking_rejected(screening)
    db.session.commit()


def cancel_booking(screening: Screening, *, actor: str, reason: str = "") -> None:
    """Cancel a pending or approved screening; its licence stops being valid."""
    if screening.is_past:
        raise NotAllowed("This screening has already taken place.")
    had_licence = screening.current_licence is not None
    _transition(
        screening, (ScreeningStatus.PENDING, ScreeningStatus.APPROVED), ScreeningStatus.CANCELLED
    )
    screening.calendar_sequence += 1
    record_change(screening, actor, "cancelled", reason=reason)
    emails.send_booking_cancelled(screening, had_licence=had_licence)
    rsvps.notify_screening_cancelled(screening)
    db.session.commit()


def update_booking(screening: Screening, details: BookingDetails, *, actor: str) -> BookingResult:
    """Edit a screening; a change to what the licence states issues a new revision."""
    if not screening.is_open_for_changes:
        raise NotAllowed("This screening can no longer be changed.")
    starts_at, ambiguous = _start_in_utc(details)
    if details.capacity < screening.seats_taken:
        raise BookingError(
            _(
                "%(n)s seats are already reserved; capacity cannot be lower.",
                n=screening.seats_taken,
            ),
            field="capacity",
        )
    changes = _apply(screening, details, starts_at)
    if not changes:
        return BookingResult(screening, manage_token(screening), is_new=False)
    calendar_changed = any(name in CALENDAR_FIELDS for name in changes)
    if calendar_changed:
        screening.calendar_sequence += 1
    record_change(screening, actor, "edited", changes=changes)
    if screening.status == ScreeningStatus.APPROVED:
        distribution.prepare_delivery(screening)
    if screening.status == ScreeningStatus.APPROVED and any(
        name in LICENCE_FIELDS for name in changes
    ):
        licence = issue_licence(screening)
        emails.send_licence_issued(screening, licence)
    if screening.status == ScreeningStatus.APPROVED:
        db.session.flush()
        if calendar_changed:
            rsvps.notify_screening_changed(screening)
        if "capacity" in changes and changes["capacity"][1] > changes["capacity"][0]:
            rsvps.promote_waitlist(screening)
    db.session.commit()
    return BookingResult(screening, manage_token(screening), is_new=False, was_ambiguous=ambiguous)


def default_duration(film: Film) -> int:
    return film.runtime_minutes + current_app.config["DISCUSSION_MINUTES"]


def reissue_manage_link(screening: Screening, *, actor: str) -> None:
    """Revoke every manage link sent so far and e-mail the organizer a new one."""
    screening.manage_token_version += 1
    screening.manage_token_hash = hash_token(derived_token("manage", _manage_key(screening)))
    record_change(screening, actor, "manage link reissued")
    emails.send_manage_link(screening)
    db.session.commit()
