"""The public upcoming list: what a visitor can narrow it by, its pages (keyset paging), the
screenings the public may see, and the version the lists are cached under. The near-me list,
the map, the JSON API and the calendar feeds build on it."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from flask_babel import gettext as _
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Row,
    Select,
    bindparam,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import aliased, contains_eager, selectinload

from ..caching import ScreeningState, counter_version
from ..extensions import db
from ..models import Film, Screening, ScreeningStatus, utcnow, zone_named
from ..places import city_by_id, country_name, start_words
from . import escape_like, visibility
from .radius import nearest

PER_PAGE = 20
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Filters:
    """What a visitor can narrow the list by: the city (prefix), the country and the film;
    a near-me feed by the distance from a gazetteer town (its id, and the radius)."""

    city: str = ""
    country: str = ""
    film: str = ""  # the film's slug
    near_city: int = 0
    near_km: int = 0

    def apply(self, query: Select) -> Select:
        if self.near_city:
            query = _within(query, self.near_city, self.near_km)
        kinds, values = self.shape()
        return query.where(*_clauses(kinds, values.__getitem__))

    def shape(self) -> tuple[tuple[str, ...], dict[str, str]]:
        """Which of the list's WHERE clauses (_clauses) the city, country and film set, and
        their values: upcoming's statements are built once per shape, the values bound."""
        kinds: list[str] = []
        values: dict[str, str] = {}
        if self.city:
            kinds.append("city")
            values["city_folded"] = escape_like(self.city.lower()) + "%"
            values["city_typed"] = escape_like(self.city) + "%"
        if self.country:
            kinds.append("country")
            values["country"] = self.country.upper()
        if self.film:
            kinds.append("film")
            values["film"] = self.film
        return tuple(kinds), values


def _clauses(kinds: Iterable[str], value: Callable[[str], Any]) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a shape of the filters (Filters.shape), each value `value(name)`:
    the filters' own, or a bound parameter of a statement built once."""
    clauses: list[ColumnElement[bool]] = []
    if "city" in kinds:
        # SQLite's lower() folds ASCII letters only: "Örebro" stays "Örebro", so the city as
        # stored (the map's links) is matched as typed too.
        clauses.append(
            or_(
                func.lower(Screening.city).like(value("city_folded"), escape="\\"),
                Screening.city.like(value("city_typed"), escape="\\"),
            )
        )
    if "country" in kinds:
        clauses.append(Screening.country == value("country"))
    if "film" in kinds:
        clauses.append(
            Screening.film_id == select(Film.id).where(Film.slug == value("film")).scalar_subquery()
        )
    return clauses


def _within(query: Select, city_id: int, km: int) -> Select:
    """The query narrowed to the screenings within `km` of the town (by public point)."""
    city = city_by_id(city_id)
    if city is None:
        return query.where(false())
    ids = [screening_id for _distance, _start, screening_id in nearest(query, city, km)]
    return query.where(Screening.id.in_(ids))


def listed_upcoming(since: datetime | None = None, *, shown: bool = False) -> Select:
    """Approved listed screenings that have not started yet (and start at `since` or later:
    one lower bound, so SQLite's index range starts there rather than at now): whole
    screenings, or (`shown`) the rows of what a list shows of them (_SHOWN)."""
    now = utcnow()
    return _listed_from(max(since, now) if since is not None else now, shown=shown)


def _listed_from(start: datetime | BindParameter[datetime], *, shown: bool) -> Select:
    """Approved listed screenings starting at `start` or later (a time, or a bound one)."""
    query = (
        select(*_SHOWN).join(_SHOWN_FILM, _SHOWN_FILM.id == Screening.film_id)
        if shown
        else select(Screening)
    )
    return query.where(
        Screening.status == ScreeningStatus.APPROVED,
        visibility.listed_clause(),
        Screening.starts_at >= start,
    )


# What a public list shows of each screening (ListItem), read as plain rows: whole screenings
# and their films made up most of a cold list's query time (1.1 ms of CPU for a page of 20,
# 0.1 ms as rows). The film is joined under a name of its own, so a film filter's subquery on
# `films` (Filters.apply) stays a query of its own.
_SHOWN_FILM = aliased(Film, name="shown_film")
_SHOWN = (
    Screening.id,
    Screening.starts_at,
    Screening.timezone,
    Screening.organization_name,
    Screening.city,
    Screening.country,
    _SHOWN_FILM.title.label("film_title"),
)


@dataclass
class Page:
    """A page of a list by number (the list near a town, sorted in Python by distance)."""

    items: list[Screening]
    page: int
    per_page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    def next_args(self) -> dict[str, object]:
        """The query arguments of the next page's link (beside the filters)."""
        return {"page": self.page + 1}

    def prev_args(self) -> dict[str, object]:
        return {"page": self.page - 1}


@dataclass
class ListPage:
    """A page of the upcoming list read from a position in it (keyset paging on start and
    id: a deep page reads its rows from the index, no OFFSET skipping those before it)."""

    items: list[Any]  # screenings, or rows of what a list shows (upcoming's `shown`)
    per_page: int
    next_cursor: str | None  # the last item's position, if any come after it
    prev_cursor: str | None  # the first item's, if any come before it

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_prev(self) -> bool:
        return self.prev_cursor is not None

    def next_args(self) -> dict[str, object]:
        return {"after": self.next_cursor}

    def prev_args(self) -> dict[str, object]:
        return {"before": self.prev_cursor}


class BadCursor(ValueError):
    """A cursor that no page link wrote (the view answers 400)."""


_CURSOR = re.compile(r"([0-9]{20})\.([0-9]{1,10})")
_MAX_ID = 2**31 - 1  # the id column's range: a larger number is no position


def encode_cursor(screening: Screening | Row) -> str:
    """A screening's position in the list, as an opaque string for a link."""
    raw = f"{screening.starts_at:%Y%m%d%H%M%S%f}.{screening.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, int]:
    """(start, id) of a cursor encode_cursor wrote; BadCursor for anything else."""
    if not 0 < len(text) <= 48:
        raise BadCursor(text)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        found = _CURSOR.fullmatch(raw)
        if found is None or int(found[2]) > _MAX_ID:
            raise BadCursor(text)
        start = datetime.strptime(found[1], "%Y%m%d%H%M%S%f")  # noqa: DTZ007 naive UTC, as starts_at
        return start, int(found[2])
    except (ValueError, UnicodeDecodeError) as error:  # binascii.Error is a ValueError
        raise BadCursor(text) from error


# Loader options built once: building one costs more than the query it shapes (~50 µs).
_FILM_IN_ONE_MORE_QUERY = selectinload(Screening.film)


def upcoming(
    filters: Filters,
    *,
    after: str | None = None,
    before: str | None = None,
    per_page: int = PER_PAGE,
    shown: bool = False,
) -> ListPage:
    """A page of listed screenings, soonest first: the first, the one after the screening
    at cursor `after`, or the one before `before` (keyset paging on the index the list is
    sorted by: start, then id, so screenings at the same minute keep one order). Its items
    are screenings with their films, or (`shown`) rows of what a list shows (list_items).
    The filters are a list's (city, country, film): a near-me feed's are read by feeds.py."""
    if filters.near_city:
        raise ValueError("a list near a town is paged by nearby.upcoming_near")
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    kinds, values = filters.shape()
    now = utcnow()
    if before:
        at, screening_id = decode_cursor(before)
        statement = _upcoming_statement(kinds, "before", shown)
        bound = {**values, "since": now, "at": at, "id": screening_id, "limit": per_page + 1}
        rows = _read(statement, bound, shown)
        if len(rows) <= per_page:  # back at the start: the first page, whole
            return upcoming(filters, per_page=per_page, shown=shown)
        items = rows[per_page - 1 :: -1]
        return ListPage(items, per_page, encode_cursor(items[-1]), encode_cursor(items[0]))
    if after:
        at, screening_id = decode_cursor(after)
        statement = _upcoming_statement(kinds, "after", shown)
        bound = {**values, "since": max(at, now), "at": at, "id": screening_id}
    else:
        statement = _upcoming_statement(kinds, "first", shown)
        bound = {**values, "since": now}
    rows = _read(statement, {**bound, "limit": per_page + 1}, shown)
    items = rows[:per_page]
    return ListPage(
        items,
        per_page,
        encode_cursor(items[-1]) if len(rows) > per_page else None,
        encode_cursor(items[0]) if after and items else None,
    )


@lru_cache(maxsize=64)
def _upcoming_statement(kinds: tuple[str, ...], direction: str, shown: bool) -> Select:
    """A page of the list for a shape of the filters (Filters.shape), the first or the one
    after or before a position (`direction`), its values bound: built (and its cache key
    made) once; building it was a third of a cold list's query time."""
    query = _listed_from(bindparam("since"), shown=shown).where(*_clauses(kinds, bindparam))
    if not shown:
        query = query.options(_FILM_IN_ONE_MORE_QUERY)
    forward = (Screening.starts_at, Screening.id)
    at: BindParameter[datetime] = bindparam("at")
    screening_id: BindParameter[int] = bindparam("id")
    if direction == "before":
        query = query.where(
            Screening.starts_at <= at, or_(Screening.starts_at < at, Screening.id < screening_id)
        ).order_by(*(column.desc() for column in forward))
    else:
        if direction == "after":
            query = query.where(or_(Screening.starts_at > at, Screening.id > screening_id))
        query = query.order_by(*forward)
    return query.limit(bindparam("limit", type_=Integer))


@dataclass(slots=True)
class ListItem:
    """A screening as a public list shows it (templates/public/_screening_item.html), its
    words in the page's language."""

    id: int
    film_title: str
    host: str
    city: str
    country: str  # the country's name
    start: str  # the start at the venue, ISO 8601 with its offset (for <time datetime>)
    start_words: str  # places.start_words
    distance: str = ""  # "12 km" in a list near a town


class Shown(NamedTuple):
    """Everything a list shows of a screening (list_items words nothing else): the key its
    item is kept rendered under (public.views._items)."""

    id: int
    starts_at: datetime
    timezone: str
    organization_name: str
    city: str
    country: str
    film_title: str


def shown(row: Screening | Row) -> Shown:
    """What a list shows of a screening, whole or a row of upcoming's `shown`."""
    return Shown(
        row.id,
        row.starts_at,
        row.timezone,
        row.organization_name,
        row.city,
        row.country,
        row.film.title if isinstance(row, Screening) else row.film_title,
    )


def list_items(
    found: Iterable[Shown], locale: str, distances: Mapping[int, float] | None = None
) -> list[ListItem]:
    """What a list shows of each screening (`shown`), in the language `locale`: the words
    made here once per page, not looked up per row in the template (the "km" sentence is
    translated once; a country's name and a day's date, Babel's slowest part, once each)."""
    km = _("%(km)s km") if distances else ""
    starts: dict[tuple[datetime, str], tuple[str, str]] = {}
    items = []
    for row in found:
        key = (row.starts_at, row.timezone)
        start = starts.get(key)
        if start is None:
            # Screening.local_start_aware, for a row as for a screening.
            local = row.starts_at.replace(tzinfo=UTC).astimezone(zone_named(row.timezone))
            start = starts[key] = (local.isoformat(), start_words(local, row.timezone, locale))
        distance = distances.get(row.id) if distances else None
        items.append(
            ListItem(
                id=row.id,
                film_title=row.film_title,
                host=row.organization_name,
                city=row.city,
                country=country_name(row.country, locale),
                start=start[0],
                start_words=start[1],
                # As Jinja's round filter and int: half to even, as round() does.
                distance="" if distance is None else km % {"km": int(round(distance, 0))},
            )
        )
    return items


def _read(statement: Select, values: Mapping[str, Any], shown: bool) -> list[Any]:
    if shown:
        return list(db.session.execute(statement, values))
    return list(db.session.scalars(statement, values))


def page_position(filters: Filters, page: int, per_page: int = PER_PAGE) -> str | None:
    """The cursor that page number `page` of the list now starts after (an old ``?page=``
    link is redirected to it), or None for the first page or one past the end."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    if page <= 1:
        return None
    query = (
        filters.apply(listed_upcoming())
        .order_by(Screening.starts_at, Screening.id)
        .offset((page - 1) * per_page - 1)
        .limit(1)
    )
    found = db.session.scalar(query)
    return encode_cursor(found) if found is not None else None


# Built once, the id bound: Session.get built the statement and its cache key on each call
# (a quarter of reading the screening page's screening).
_SCREENING_WITH_FILM = (
    select(Screening)
    .join(Screening.film)
    .options(contains_eager(Screening.film))
    .where(Screening.id == bindparam("id"))
)


def public_screening(screening_id: int) -> Screening | None:
    """A screening the public may see: listed and approved, or cancelled after approval.
    Its film comes in the same query: every page and file of a screening shows it."""
    found = db.session.execute(_SCREENING_WITH_FILM, {"id": screening_id})
    screening = found.scalar_one_or_none()
    if screening is None or not visibility.is_listed(screening):
        return None
    return public_screening_status(screening)


def public_screening_status(screening: Screening) -> Screening | None:
    """The screening if its status may be shown: approved, or cancelled after approval."""
    return screening if shows_status(screening.status, lambda: bool(screening.licences)) else None


def shows_status(status: str, had_licence: Callable[[], bool]) -> bool:
    """Whether a screening in this status may be shown: approved, or cancelled after
    approval (it had a licence; asked only then)."""
    return status == ScreeningStatus.APPROVED or (
        status == ScreeningStatus.CANCELLED and had_licence()
    )


def is_public_state(state: ScreeningState) -> bool:
    """public_screening's rule on the state read with a screening's version."""
    return visibility.is_listed(state) and shows_status(state.status, lambda: state.had_licence)


def listing_version(**_view_args: object) -> tuple:
    """The number the public lists are cached under: the "listing" counter (feeds' changes
    and every RSVP's: lists show seats) and the next start to come."""
    return counter_version("listing")
