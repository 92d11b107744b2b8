"""Finding public screenings: the upcoming list, the JSON API and the calendar feeds.

A feed body is cached in-process under a version stamp of its rows (their count and latest
``updated_at``), computed by one indexed aggregate query; an unchanged feed costs that query
and, for a conditional request, nothing more (304).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import selectinload

from .. import calendar
from ..extensions import db
from ..models import Film, Licence, Screening, ScreeningStatus, utcnow
from ..urls import external_url, public_domain

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
    """Approved public screenings that have not started yet."""
    return select(Screening).where(
        Screening.status == ScreeningStatus.APPROVED,
        Screening.is_public.is_(True),
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
    """A screening the public may see: public and approved, or cancelled after approval."""
    screening = db.session.get(Screening, screening_id)
    if screening is None or not screening.is_public:
        return None
    if screening.status == ScreeningStatus.APPROVED:
        return screening
    if screening.status == ScreeningStatus.CANCELLED and screening.licences:
        return screening
    return None


def screening_url(screening: Screening) -> str:
    return external_url("public.screening", screening_id=screening.id)


def as_json(screening: Screening) -> dict:
    """What the API says about a screening: public particulars only, never contact data."""
    local = screening.local_start_aware
    return {
        "id": screening.id,
        "url": screening_url(screening),
        "ics_url": external_url("public.screening_ics", screening_id=screening.id),
        "film": {"slug": screening.film.slug, "title": screening.film.title},
        "organization": screening.organization_name,
        "venue": {
            "name": screening.venue_name,
            "street_address": screening.street_address,
            "city": screening.city,
            "region": screening.region,
            "postal_code": screening.postal_code,
            "country": screening.country,
        },
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
    body: bytes
    etag: str
    last_modified: datetime | None


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
        query = query.where(Screening.is_public.is_(True))
    return query


class _FeedCache:
    """Feed bodies by (feed key, version): a small LRU shared by a process's threads."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.items: OrderedDict[tuple, Feed] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> Feed | None:
        with self.lock:
            feed = self.items.get(key)
            if feed is not None:
                self.items.move_to_end(key)
            return feed

    def put(self, key: tuple, feed: Feed) -> None:
        with self.lock:
            self.items[key] = feed
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


feed_cache = _FeedCache()


def feed_version(filters: Filters, *, include_private: bool = False) -> tuple[int, datetime | None]:
    """(row count, latest updated_at) of a feed's rows: changes whenever the feed would."""
    query = filters.apply(_feed_rows(include_private=include_private)).subquery()
    count, latest = db.session.execute(
        select(func.count(), func.max(query.c.updated_at)).select_from(query)
    ).one()
    return count, latest


def feed_etag(key: str, version: tuple[int, datetime | None]) -> str:
    raw = f"{current_app.config['PUBLIC_BASE_URL']}|{key}|{version[0]}|{version[1]}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def build_feed(
    key: str,
    name: str,
    filters: Filters,
    *,
    include_private: bool = False,
    version: tuple[int, datetime | None] | None = None,
) -> Feed:
    """The feed's METHOD:PUBLISH calendar, from the cache when its rows have not changed."""
    version = version or feed_version(filters, include_private=include_private)
    cache_key = (current_app.config["PUBLIC_BASE_URL"], key, name, version)
    cached = feed_cache.get(cache_key)
    if cached is not None:
        return cached
    rows = db.session.scalars(
        filters.apply(_feed_rows(include_private=include_private))
        .options(selectinload(Screening.film))
        .order_by(Screening.starts_at, Screening.id)
    )
    base = external_url("public.screening", screening_id=0).removesuffix("0")
    body = calendar.publish(
        rows,
        name=name,
        # Private screenings have no public page; their URL is the feed owner's bookmark only.
        url_for=lambda screening: f"{base}{screening.id}",
        domain=public_domain(),
    )
    feed = Feed(body, feed_etag(key, version), version[1])
    feed_cache.put(cache_key, feed)
    return feed
