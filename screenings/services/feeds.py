"""Finding public screenings: the upcoming list, the JSON API and the calendar feeds.

A feed body is cached in-process, gzipped, under a version stamp: the latest ``updated_at`` and
the highest id of any screening, the next start still to come (a screening that starts
leaves the feeds) and the films' latest edit. Index look-ups in one query, whatever the size
of the data, read at most once a second per worker (caching.stamp), so an unchanged feed
costs no query and, for a conditional request, nothing more (304). A change
to any screening changes every feed's stamp; that costs a rebuild, never a stale feed. Feeds
are built from plain column rows, not ORM objects, in a few seconds for 50,000 screenings.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import selectinload

from .. import calendar
from ..caching import VersionedCache, stamp
from ..extensions import db
from ..models import Film, Licence, Rsvp, Screening, ScreeningStatus, utcnow
from ..urls import external_url, public_domain
from . import visibility

PER_PAGE = 20
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Filters:
    """What a visitor can narrow the list by: the city (prefix), the country and the film."""

    city: str = ""
    country: str = ""
    film: str = ""  # the film's slug

    def apply(self, query: Select) -> Select:
        if self.city:
            escaped = self.city.lower().replace("\\", "\\\\").replace("%", "\\%")
            escaped = escaped.replace("_", "\\_")
            query = query.where(func.lower(Screening.city).like(escaped + "%", escape="\\"))
        if self.country:
            query = query.where(Screening.country == self.country.upper())
        if self.film:
            query = query.where(
                Screening.film_id == select(Film.id).where(Film.slug == self.film).scalar_subquery()
            )
        return query


def _listed() -> Select:
    """Approved listed screenings that have not started yet."""
    return select(Screening).where(
        Screening.status == ScreeningStatus.APPROVED,
        visibility.listed_clause(),
        Screening.starts_at >= utcnow(),
    )


@dataclass
class Page:
    items: list[Screening]
    page: int
    per_page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def upcoming(filters: Filters, *, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """A page of listed screenings, soonest first (offset paging over the status/start index)."""
    page = max(page, 1)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    query = (
        filters.apply(_listed())
        .options(selectinload(Screening.film))
        .order_by(Screening.starts_at, Screening.id)
        .offset((page - 1) * per_page)
        .limit(per_page + 1)
    )
    rows = list(db.session.scalars(query))
    return Page(rows[:per_page], page, per_page, has_next=len(rows) > per_page)


def public_screening(screening_id: int) -> Screening | None:
    """A screening the public may see: listed and approved, or cancelled after approval."""
    screening = db.session.get(Screening, screening_id)
    if screening is None or not visibility.is_listed(screening):
        return None
    return public_screening_status(screening)


def public_screening_status(screening: Screening) -> Screening | None:
    """The screening if its status may be shown: approved, or cancelled after approval."""
    if screening.status == ScreeningStatus.APPROVED:
        return screening
    if screening.status == ScreeningStatus.CANCELLED and screening.licences:
        return screening
    return None


def screening_url(screening: Screening) -> str:
    return external_url("public.screening", screening_id=screening.id)


def as_json(screening: Screening) -> dict:
    """What the API says about a screening: public particulars only, never contact data,
    and the street only where its organizer made the address public."""
    local = screening.local_start_aware
    place = visibility.public_place(screening)
    return {
        "id": screening.id,
        "url": screening_url(screening),
        "ics_url": external_url("public.screening_ics", screening_id=screening.id),
        "film": {"slug": screening.film.slug, "title": screening.film.title},
        "organization": screening.organization_name,
        "venue": {
            "name": place.venue_name,
            "street_address": place.street_address,
            "city": place.city,
            "region": place.region,
            "postal_code": place.postal_code,
            "country": place.country,
        },
        "address_for_guests_only": not visibility.shows_street_publicly(screening),
        "timezone": screening.timezone,
        "starts_at": screening.starts_at_utc.isoformat().replace("+00:00", "Z"),
        "local_start": local.isoformat(),
        "duration_minutes": screening.duration_minutes,
        "seats_left": screening.seats_left,
        "rsvps_open": bool(screening.rsvps_enabled),
    }


# -- calendar feeds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    """A built feed, kept gzipped (a tenth of the size): calendar clients accept gzip."""

    gzipped: bytes
    etag: str
    last_modified: datetime | None

    @property
    def body(self) -> bytes:
        return gzip.decompress(self.gzipped)

    def chunks(self, size: int = 1 << 16) -> Iterator[bytes]:
        """The plain body, decompressed piece by piece, for a client that refuses gzip."""
        decompressor = zlib.decompressobj(wbits=31)
        for start in range(0, len(self.gzipped), size):
            piece = decompressor.decompress(self.gzipped[start : start + size])
            if piece:
                yield piece
        yield decompressor.flush()


class _Film:
    __slots__ = ("title", "runtime_minutes", "content_advisory")

    def __init__(self, title: str, runtime_minutes: int, content_advisory: str) -> None:
        self.title = title
        self.runtime_minutes = runtime_minutes
        self.content_advisory = content_advisory


_FEED_COLUMNS = (
    Screening.id,
    Screening.film_id,
    Screening.status,
    Screening.calendar_sequence,
    Screening.timezone,
    Screening.starts_at,
    Screening.duration_minutes,
    Screening.organization_name,
    Screening.venue_name,
    Screening.street_address,
    Screening.city,
    Screening.region,
    Screening.postal_code,
    Screening.country,
    Screening.latitude,
    Screening.longitude,
    Screening.visibility,
    Screening.created_at,
    Screening.updated_at,
)


class _FeedItem:
    """What calendar.publish reads of a screening, from one plain row (no ORM object)."""

    __slots__ = (*(column.key for column in _FEED_COLUMNS), "film")

    def __init__(self, row, film: _Film) -> None:
        for column, value in zip(_FEED_COLUMNS, row, strict=True):
            setattr(self, column.key, value)
        self.film = film

    @property
    def starts_at_utc(self) -> datetime:
        return self.starts_at.replace(tzinfo=UTC)

    @property
    def ends_at_utc(self) -> datetime:
        return self.starts_at_utc + timedelta(minutes=self.duration_minutes)


def _feed_rows(*, include_private: bool) -> Select:
    """Future screenings a feed lists: approved ones, and cancelled ones that had a licence
    (so subscribed calendars see the cancellation rather than a silent disappearance)."""
    had_licence = exists().where(Licence.screening_id == Screening.id)
    query = select(Screening).where(
        Screening.starts_at >= utcnow(),
        or_(
            Screening.status == ScreeningStatus.APPROVED,
            (Screening.status == ScreeningStatus.CANCELLED) & had_licence,
        ),
    )
    if not include_private:
        query = query.where(visibility.listed_clause())
    return query


# Gzipped feeds by (base URL, feed key, stamp): the feed of every screening is a few MB.
feed_cache = VersionedCache(48 << 20, size_of=lambda feed: len(feed.gzipped))
# One screening's .ics, by (base URL, id, locale, stamp): small, and the hottest download.
ics_cache = VersionedCache(8 << 20)


def feed_version(filters: Filters | None = None, *, include_private: bool = False) -> tuple:
    """(highest id, latest updated_at, next start) of all screenings and the films' latest
    edit: changes whenever any feed would (see the module docstring), in index look-ups.
    ``filters`` and ``include_private`` are accepted for the callers' sake; the stamp is the
    same for all feeds.

    Reused for a second (caching.stamp): feeds already allow clients five minutes
    (Cache-Control), so a second more is no change in kind."""
    del filters, include_private
    return stamp("feeds", _read_version)


def _version_columns() -> tuple:
    return (
        select(func.max(Screening.id)).scalar_subquery(),
        select(func.max(Screening.updated_at)).scalar_subquery(),
        select(func.min(Screening.starts_at))
        .where(Screening.starts_at >= utcnow())
        .scalar_subquery(),
        select(func.max(Film.updated_at)).scalar_subquery(),
    )


def _read_version() -> tuple:
    last_id, latest, next_start, film_changed = db.session.execute(
        select(*_version_columns())
    ).one()
    return last_id or 0, latest, next_start, film_changed


def listing_version() -> tuple:
    """The feeds' stamp and the latest RSVP (new, cancelled, promoted, erased): public pages
    show seats left, which only RSVPs change. Index look-ups only."""
    return stamp("listing", _read_listing_version)


def _read_listing_version() -> tuple:
    last_id, latest, next_start, film_changed, last_rsvp, latest_rsvp = db.session.execute(
        select(
            *_version_columns(),
            select(func.max(Rsvp.id)).scalar_subquery(),
            select(func.max(Rsvp.updated_at)).scalar_subquery(),
        )
    ).one()
    return last_id or 0, latest, next_start, film_changed, last_rsvp or 0, latest_rsvp


def feed_etag(key: str, version: tuple) -> str:
    raw = f"{current_app.config['PUBLIC_BASE_URL']}|{key}|{version}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def build_feed(
    key: str,
    name: str,
    filters: Filters,
    *,
    include_private: bool = False,
    version: tuple | None = None,
) -> Feed:
    """The feed's METHOD:PUBLISH calendar, from the cache when no screening has changed.

    `key` names the feed in one language; `name` (its title, maybe a lazy string) is only
    rendered when the feed is built."""
    version = version or feed_version(filters, include_private=include_private)
    cache_key = (current_app.config["PUBLIC_BASE_URL"], key, version)
    cached = feed_cache.get(cache_key)
    if cached is not None:
        return cached
    films = {
        film_id: _Film(title, runtime, advisory)
        for film_id, title, runtime, advisory in db.session.execute(
            select(Film.id, Film.title, Film.runtime_minutes, Film.content_advisory)
        )
    }
    query = filters.apply(_feed_rows(include_private=include_private)).order_by(
        Screening.starts_at, Screening.id
    )
    # Both passes stream rows in batches: a feed of every screening is never in memory whole.
    spans = (
        (zone, starts_at, starts_at + timedelta(minutes=minutes))
        for zone, starts_at, minutes in db.session.execute(
            query.with_only_columns(
                Screening.timezone, Screening.starts_at, Screening.duration_minutes
            ).execution_options(yield_per=2000)
        )
    )
    items = (
        _FeedItem(row, films[row.film_id])
        for row in db.session.execute(
            query.with_only_columns(*_FEED_COLUMNS).execution_options(yield_per=2000)
        )
    )
    base = external_url("public.screening", screening_id=0).removesuffix("0")
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    pieces = [
        compressor.compress(chunk)
        for chunk in calendar.publish_chunks(
            items,
            name=str(name),
            # Private screenings have no public page; the URL is the feed owner's bookmark.
            url_for=lambda screening: f"{base}{screening.id}",
            domain=public_domain(),
            # The producer's own feed has every address; a public feed what the public may know.
            place_of=visibility.guest_place if include_private else visibility.public_place,
            spans=spans,
        )
    ]
    pieces.append(compressor.flush())
    feed = Feed(b"".join(pieces), feed_etag(key, version), version[1])
    feed_cache.put(cache_key, feed)
    return feed
