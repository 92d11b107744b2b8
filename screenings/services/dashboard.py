"""The producer's dashboard: the upcoming list, the approval queue, one screening.

Every listing runs a fixed number of queries whatever the data: one page of rows with
their film joined, the current licences of that page in one ``selectinload``, one count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Integer,
    Select,
    SQLColumnExpression,
    String,
    bindparam,
    case,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import contains_eager, selectinload

from ..caching import kept_until_change
from ..extensions import db
from ..models import (
    Film,
    Licence,
    OutboxMessage,
    Screening,
    ScreeningCount,
    ScreeningFormat,
    ScreeningStatus,
    utcnow,
    zone_named,
)
from . import DomainError, alerts, distribution, escape_like, listings, reports, rsvps
from . import bookings as booking_service

DEFAULT_DAYS = 90
PER_PAGE = 50
STATUS_FILTERS = ("active", "pending", "approved", "cancelled", "rejected", "all")
MAX_ID = 2**31 - 1  # an INTEGER primary key
COUNTRY_CODE = re.compile(r"[A-Za-z]{2}")
SORTS = {
    "starts_at": (Screening.starts_at,),
    "film": (Film.title, Screening.starts_at),
    "organization": (Screening.organization_name, Screening.starts_at),
    "city": (Screening.city, Screening.starts_at),
    "country": (Screening.country, Screening.city, Screening.starts_at),
    "status": (Screening.status, Screening.starts_at),
    "seats": (Screening.seats_taken, Screening.starts_at),
}


@dataclass(frozen=True)
class ScreeningFilter:
    """What the producer narrowed the screening list to (all optional)."""

    film_id: int | None = None
    country: str = ""
    status: str = "active"
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    sort: str = "starts_at"
    descending: bool = False
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def upcoming(cls, today: date | None = None, **values: Any) -> ScreeningFilter:
        """The default view: from today (UTC, or the day given) to DEFAULT_DAYS days ahead."""
        today = today or utcnow().date()
        values.setdefault("date_from", today)
        values.setdefault("date_to", today + timedelta(days=DEFAULT_DAYS))
        return cls(**values)

    def without_page(self) -> ScreeningFilter:
        return replace(self, page=1)


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int
    extra: dict = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


class FilterError(DomainError):
    pass


def filter_refusal(filters: ScreeningFilter) -> FilterError | None:
    """Why no screening can match these filters (a value out of range), or None."""
    if filters.film_id is not None and not 0 < filters.film_id <= MAX_ID:
        return FilterError(_("Choose a film from the list."), field="film")
    if filters.country and not COUNTRY_CODE.fullmatch(filters.country):
        return FilterError(_("Choose a country from the list."), field="country")
    if "\x00" in filters.q:
        return FilterError(_("The search contains invisible control characters."), field="q")
    return None


def check_filter(filters: ScreeningFilter) -> None:
    """Raise FilterError for filters no screening can match: an export checks first.

    A streamed file cannot turn into an error page once its first line is sent; the
    dashboard's own page simply lists nothing for such values.
    """
    refusal = filter_refusal(filters)
    if refusal is not None:
        raise refusal


def _shape(filters: ScreeningFilter) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Which of the WHERE clauses the filters set (_CLAUSES: the statements' shape, each
    shape's statements built once) and the values of their bound parameters."""
    if filter_refusal(filters) is not None:
        return ("refused",), {}  # never sent: the database may refuse such values
    kinds: list[str] = []
    values: dict[str, Any] = {}
    if filters.film_id:
        kinds.append("film")
        values["film_id"] = filters.film_id
    if filters.country:
        kinds.append("country")
        values["country"] = filters.country.upper()
    if filters.status == "active":
        kinds.append("active")
    elif filters.status in set(ScreeningStatus):
        kinds.append("status")
        values["status"] = filters.status
    # Dates are days in UTC; a screening late at night west of Greenwich may fall on the next.
    if filters.date_from:
        kinds.append("from")
        values["day_from"] = filters.date_from
        values["starts_from"] = datetime.combine(filters.date_from, time())
    if filters.date_to and filters.date_to < date.max:  # the last day has no day after
        kinds.append("to")
        values["day_to"] = filters.date_to
        values["starts_before"] = datetime.combine(filters.date_to + timedelta(days=1), time())
    text = filters.q.strip()
    if text:
        kinds.append("q")
        values["pattern"] = f"%{escape_like(text.lower())}%"
    return tuple(kinds), values


def _search() -> ColumnElement[bool]:
    pattern = bindparam("pattern", type_=String)
    columns = (
        Screening.organization_name,
        Screening.city,
        Screening.venue_name,
        Screening.contact_name,
        Screening.contact_email,
        Film.title,
    )
    licence_match = select(Licence.screening_id).where(
        func.lower(Licence.number).like(pattern, escape="\\")
    )
    return or_(
        *(func.lower(column).like(pattern, escape="\\") for column in columns),
        Screening.id.in_(licence_match),
    )


# Each kind of _shape's clauses, its values bound by name.
_CLAUSES: dict[str, Callable[[], ColumnElement[bool]]] = {
    "refused": false,
    "film": lambda: Screening.film_id == bindparam("film_id"),
    "country": lambda: Screening.country == bindparam("country"),
    "active": lambda: Screening.status.in_((ScreeningStatus.PENDING, ScreeningStatus.APPROVED)),
    "status": lambda: Screening.status == bindparam("status"),
    "from": lambda: Screening.starts_at >= bindparam("starts_from"),
    "to": lambda: Screening.starts_at < bindparam("starts_before"),
    "q": _search,  # reads the films table
}


def _conditions(kinds: tuple[str, ...]) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a shape (_shape), with bound parameters in place of values."""
    return [_CLAUSES[kind]() for kind in kinds]


def _order(filters: ScreeningFilter) -> tuple:
    columns = SORTS.get(filters.sort, SORTS["starts_at"])
    if filters.descending:
        return (*(column.desc() for column in columns), Screening.id)
    return (*columns, Screening.id)


# Loader options built once: building one costs more than the query it shapes (~50 µs).
_FILM_FROM_THE_JOIN = contains_eager(Screening.film)
_LICENCES_IN_ONE_MORE_QUERY = selectinload(Screening.licences)


def _with_film() -> Select:
    return select(Screening).join(Screening.film).options(_FILM_FROM_THE_JOIN)


def filtered(filters: ScreeningFilter) -> Select:
    """SELECT screenings (film joined) matching the filters, sorted; no paging."""
    kinds, values = _shape(filters)
    query = _with_film().where(*_conditions(kinds)).order_by(*_order(filters))
    return query.params(values) if values else query


def _matching(
    kinds: tuple[str, ...],
    *columns: SQLColumnExpression[object],
    order: tuple | None = None,
    sort: str = "",
) -> Select:
    """SELECT columns of the screenings a shape matches, joining films only where they are
    read (sorted by `order`, if given: the film's title when `sort` is "film").

    ``film_id`` is a required foreign key and films are never deleted, so the join drops no
    row: without it a count, or a page of ids in date order, is read from an index alone.
    """
    query = select(*columns).select_from(Screening).where(*_conditions(kinds))
    if "q" in kinds or (order is not None and sort == "film"):
        query = query.join(Screening.film)
    return query.order_by(*order) if order is not None else query


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One line of the dashboard's list: only the columns it shows, read as a plain row."""

    id: int
    starts_at: datetime
    timezone: str
    film_title: str
    organization_name: str
    city: str
    country: str
    status: str
    seats_taken: int
    capacity: int
    licence_number: str | None

    @property
    def local_start_aware(self) -> datetime:
        """The start in the venue's zone, with the offset that applies on the day."""
        return self.starts_at.replace(tzinfo=UTC).astimezone(zone_named(self.timezone))


# The current licence is the highest revision, as Screening.current_licence reads it.
_LICENCE_NUMBER = (
    select(Licence.number)
    .where(Licence.screening_id == Screening.id)
    .order_by(Licence.revision.desc(), Licence.id.desc())
    .limit(1)
    .correlate(Screening)
    .scalar_subquery()
)
_ROW_COLUMNS = (
    Screening.id,
    Screening.starts_at,
    Screening.timezone,
    Film.title,
    Screening.organization_name,
    Screening.city,
    Screening.country,
    Screening.status,
    Screening.seats_taken,
    Screening.capacity,
    _LICENCE_NUMBER,
)


def screening_page(filters: ScreeningFilter) -> Page:
    """One page of the dashboard's list (BoardRow items): its total, then its rows.

    The page's ids are chosen first (from an index where the sort allows), then only those
    rows are read, as plain rows with their film's title and current licence number: a deep
    page skips index entries, not whole rows, and no ORM object is built (50 Screenings with
    their films and licences cost ~6 ms of CPU at 30,000 screenings; these rows ~1 ms). The
    statements are built once per shape of the filters (_page_statement), values bound.
    """
    total = matching_count(filters)
    per_page = max(1, min(filters.per_page, 500))
    pages = max((total + per_page - 1) // per_page, 1)
    page = max(1, min(filters.page, pages))
    kinds, values = _shape(filters)
    statement = _page_statement(kinds, filters.sort, filters.descending)
    rows = _read(statement, {**values, "limit": per_page, "offset": (page - 1) * per_page})
    return Page([BoardRow(*row) for row in rows], total, page, per_page)


@lru_cache(maxsize=256)
def _page_statement(kinds: tuple[str, ...], sort: str, descending: bool) -> Select:
    """A page of rows of a shape of the filters, sorted: built (and its cache key made) once;
    building it was a third of the dashboard's SQL time."""
    order = _order(ScreeningFilter(sort=sort, descending=descending))
    ids = (
        _matching(kinds, Screening.id, order=order, sort=sort)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    return (
        select(*_ROW_COLUMNS)
        .join(Screening.film)
        .where(Screening.id.in_(ids.correlate(None).scalar_subquery()))
        .order_by(*order)
    )


def matching_count(filters: ScreeningFilter) -> int:
    """How many screenings match the filters: from the maintained day counts when only the
    status and the dates are set (the dashboard as it opens), else counted."""
    kinds, values = _shape(filters)
    return _read(_count_statement(kinds), values).scalar() or 0


@lru_cache(maxsize=64)
def _count_statement(kinds: tuple[str, ...]) -> Select:
    if not set(kinds) <= {"active", "status", "from", "to"}:
        return _matching(kinds, func.count())
    query = select(func.sum(ScreeningCount.n))
    if "active" in kinds:
        query = query.where(
            ScreeningCount.status.in_((ScreeningStatus.PENDING, ScreeningStatus.APPROVED))
        )
    elif "status" in kinds:
        query = query.where(ScreeningCount.status == bindparam("status"))
    # The same UTC days as _shape: from date_from's midnight to the end of date_to.
    if "from" in kinds:
        query = query.where(ScreeningCount.day >= bindparam("day_from"))
    if "to" in kinds:
        query = query.where(ScreeningCount.day <= bindparam("day_to"))
    return query


def _read(
    statement: Select, values: dict[str, Any] | None = None
) -> CursorResult[*tuple[Any, ...]]:
    """Run a SELECT of columns (no ORM entity) on the session's connection, in its
    transaction: the ORM's execution layer costs ~80 µs a query and has nothing to do here."""
    return db.session.connection().execute(statement, values or {})


def filter_choices() -> dict[str, tuple]:
    """Films and countries for the filter form, read again only after a change to a film or
    a screening (the "feeds" counter: caching.kept_until_change), not on every request."""
    return kept_until_change("feeds", _read_filter_choices)


def _read_filter_choices() -> dict[str, tuple]:
    films = tuple(db.session.execute(select(Film.id, Film.title).order_by(Film.title)))
    return {"films": films, "countries": tuple(_countries())}


def _countries() -> list[str]:
    """Every country that has a screening, in code order.

    A DISTINCT reads the whole country index, one entry per screening; this hops from each
    country to the next one in the index instead, one lookup per country.
    """
    hops = select(func.min(Screening.country).label("country")).cte("hops", recursive=True)
    following = (
        select(func.min(Screening.country))
        .where(Screening.country > hops.c.country)
        .scalar_subquery()
    )
    hops = hops.union_all(select(following).where(hops.c.country.is_not(None)))
    return list(
        db.session.scalars(
            select(hops.c.country).where(hops.c.country.is_not(None)).order_by(hops.c.country)
        )
    )


# ---------------------------------------------------------------- approvals
APPROVALS_PER_PAGE = 50


def approval_queue(page: int = 1, per_page: int = APPROVALS_PER_PAGE) -> Page:
    """Pending bookings a page at a time: the soonest upcoming first, then those whose date
    has passed (they can no longer be approved: flagged, and expired by a job)."""
    now = utcnow()
    total = (
        db.session.scalar(
            select(func.count(Screening.id)).where(Screening.status == ScreeningStatus.PENDING)
        )
        or 0
    )
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(max(page, 1), pages)
    query = (
        select(Screening)
        .join(Screening.film)
        .options(contains_eager(Screening.film))
        .where(Screening.status == ScreeningStatus.PENDING)
        .order_by(case((Screening.starts_at <= now, 1), else_=0), Screening.starts_at, Screening.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = list(db.session.scalars(query))
    # How many earlier screenings each organization has held (one grouped query).
    names = {row.organization_name for row in rows}
    history = {}
    if names:
        history = dict(
            db.session.execute(
                select(Screening.organization_name, func.count(Screening.id))
                .where(
                    Screening.organization_name.in_(names),
                    Screening.status == ScreeningStatus.APPROVED,
                )
                .group_by(Screening.organization_name)
            ).all()
        )
    return Page(rows, total, page, per_page, extra={"approved_before": history, "now": now})


def pending_ids() -> list[int]:
    """Every booking waiting for a decision (the queue's "all waiting bookings")."""
    return list(
        db.session.scalars(
            select(Screening.id)
            .where(Screening.status == ScreeningStatus.PENDING)
            .order_by(Screening.starts_at, Screening.id)
        )
    )


@dataclass
class BulkOutcome:
    done: list[Screening] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def decide(screening_ids: list[int], *, approve: bool, reason: str, actor: str) -> BulkOutcome:
    """Approve or reject several pending bookings; each is its own transaction and e-mail.

    One that changed meanwhile (already decided, cancelled) or whose date has passed is
    reported with the reason, not fatal. The e-mails are composed and their PDFs rendered
    by the outbox at delivery, so two hundred decisions are a few seconds' work.
    """
    if not approve and not reason.strip():
        raise DomainError(_("Give the organizers a reason."), field="reason")
    outcome = BulkOutcome()
    wanted = list(dict.fromkeys(screening_ids))
    found = {
        s.id: s
        for s in db.session.scalars(
            select(Screening)
            .where(Screening.id.in_(wanted))
            .options(selectinload(Screening.film), selectinload(Screening.licences))
        )
    }
    for screening_id in wanted:
        screening = found.get(screening_id)
        if screening is None:
            outcome.failed.append((screening_id, _("No such screening.")))
            continue
        try:
            if approve:
                booking_service.approve_booking(screening, actor=actor)
            else:
                booking_service.reject_booking(screening, reason=reason, actor=actor)
        except DomainError as error:
            outcome.failed.append((screening_id, error.message))
        else:
            outcome.done.append(screening)
    return outcome


# ---------------------------------------------------------------- one screening
def screening_detail(screening_id: int) -> dict | None:
    """Everything the producer's screening page shows, loaded in a few queries."""
    screening = db.session.scalar(
        select(Screening)
        .where(Screening.id == screening_id)
        .options(
            selectinload(Screening.film),
            selectinload(Screening.licences).selectinload(Licence.terms),
            selectinload(Screening.changes),
        )
    )
    if screening is None:
        return None

    messages = list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.screening_id == screening.id)
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
    )
    link, shipment = distribution.delivery_of(screening)
    return {
        "screening": screening,
        "attendees": _attendees(screening),
        "messages": messages,
        "download_link": link,
        "shipment": shipment,
        "report": reports.report_of(screening),
        "format": db.session.get(ScreeningFormat, screening.format_id)
        if screening.format_id
        else None,
    }


def _attendees(screening: Screening) -> list:
    """Attendees: every reply still open (confirmed, unconfirmed, requested, waiting)."""
    return rsvps.attendees(screening, statuses=rsvps.OPEN_STATUSES)


_PENDING = select(func.sum(ScreeningCount.n)).where(
    ScreeningCount.status == ScreeningStatus.PENDING
)
_BY_CAUSE = (
    select(ScreeningCount.status, ScreeningCount.cancel_cause, func.sum(ScreeningCount.n))
    .where(ScreeningCount.status.in_((ScreeningStatus.PENDING, ScreeningStatus.CANCELLED)))
    .group_by(ScreeningCount.status, ScreeningCount.cancel_cause)
)


def pending_count() -> int:
    """Bookings waiting for a decision (the navigation's badge), from the maintained counts."""
    return _read(_PENDING).scalar() or 0


@dataclass(frozen=True)
class BoardCounts:
    """The dashboard's counts: bookings waiting for a decision, cancellations by cause."""

    pending: int
    cancel_causes: list[tuple[str, int]]


def board_counts() -> BoardCounts:
    """Both of the dashboard's counts in one aggregate over the maintained counts (a row per
    status, day and cause: models/counts.py), rather than counting screenings."""
    rows = _read(_BY_CAUSE).all()
    pending = sum(n for status, _cause, n in rows if status == ScreeningStatus.PENDING)
    causes = {
        cause: n for status, cause, n in rows if status == ScreeningStatus.CANCELLED and cause and n
    }
    return BoardCounts(pending, alerts.cancellation_causes(causes))


def version() -> tuple:
    """The dashboard's cache key: the "listing" change counter (raised by any change to a
    screening, RSVP, film or licence, private and pending screenings included) and the date,
    which sets its default window."""
    return (*listings.listing_version(), utcnow().date())
