"""The calendar feeds: every upcoming screening, each film's, each country's, each near-me
town's and the producer's, cut from the public list's rules (services/listings.py).

A feed is built gzipped under the "feeds" change counter (caching.py), and stored with its
ETag in the cache: by `flask feeds build` (a worker or a timer), or by a background thread that
the first request after a change starts. Visitors get the last build; only a feed never built
is built on a request, once for all requests.

A rebuild redoes only what changed. Each VEVENT is made once per version of its screening and
film and kept (EventKeys); its DTSTAMP comes from those rows too (calendar.revised_at), so its
bytes are its versions'. A feed's events are deflated in segments cut by screening id
(SEGMENT_EVENTS), each kept deflated in the builder's memory under what it is made of, and a
build joins them into one gzip member (segmented_gzip): after one change, one segment per feed
is compressed again and only its events looked up. A `feeds build` pass (FeedPasses) builds a
feed only if its content ETag changed, and records once, for every other, that its build is
current at the version the pass read (caching.keep_verified).
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial
from operator import itemgetter
from typing import Any, BinaryIO

from flask import current_app
from flask_babel import LazyString, force_locale, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import Row, Select, exists, or_, select

from .. import LANGUAGES, caching, calendar, segmented_gzip
from ..caching import counter_versions
from ..extensions import db
from ..models import Film, Licence, Screening, ScreeningStatus, utcnow
from ..places import City, city_by_id, country_name
from ..urls import external_url, public_domain
from . import visibility
from .films import active_films
from .listings import Filters
from .near_alerts import offered_feeds
from .radius import distance_within

# The zlib level each run of events (a segment) is deflated at, the head and the end too:
# level 4 (lazy matching's cheapest) gave 12 % more bytes than level 6 for half its CPU, when a
# feed was one stream; a segment is compressed once and then only joined (tests/test_feeds.py).
FEED_GZIP_LEVEL = 4
# A feed's events are deflated in runs that end after a screening whose id hashes to one in
# SEGMENT_EVENTS (128 events a run on average, some 90 kB): cut by content, not by position,
# so an event changed, added or removed changes the one run it is in. Each run starts with
# an empty window: 51,000 events gzip to 8 % more bytes than in one stream (16 % in runs of
# 64, 4 % in runs of 256).
SEGMENT_EVENTS = 128


def near_feed_title(city: City, km: int) -> LazyString:
    """The near-me feed's title (what subscribed calendars are named), in the current
    language."""
    return _l(
        "Screenings within %(km)s km of %(town)s",
        km=km,
        town=city.label(str(get_locale() or "en")),
    )


class _Film:
    __slots__ = ("content_advisory", "runtime_minutes", "title", "updated_at")

    def __init__(
        self, title: str, runtime_minutes: int, content_advisory: str, updated_at: datetime
    ) -> None:
        self.title = title
        self.runtime_minutes = runtime_minutes
        self.content_advisory = content_advisory
        self.updated_at = updated_at  # an event's DTSTAMP (calendar.revised_at)


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
    """What calendar.publish and the place rules (visibility.Addressed) read of a screening,
    from one plain row (no ORM object): _FEED_COLUMNS' values, in that order."""

    __slots__ = (*(column.key for column in _FEED_COLUMNS), "film")
    id: int
    film_id: int
    status: str
    calendar_sequence: int
    timezone: str
    starts_at: datetime
    duration_minutes: int
    organization_name: str
    venue_name: str
    street_address: str
    city: str
    region: str
    postal_code: str
    country: str
    latitude: float | None
    longitude: float | None
    visibility: str
    created_at: datetime
    updated_at: datetime

    def __init__(self, row: Sequence[object], film: _Film) -> None:
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


def feed_state(key: str) -> tuple[str, tuple]:
    """(the name the feed's build is stored under, the version it must be built at), read in
    one query. The name changes whenever a screening is hidden (made guests-only or private,
    or deleted), so a build from before that is never served, not even while the next one is
    built: the first request after it waits for a fresh one."""
    version, withdrawals = counter_versions("feeds", "withdrawals")
    return f"{key}@{withdrawals[1]}", version


def stored_name(key: str) -> str:
    """The name a feed's build is stored under now (see feed_state)."""
    return feed_state(key)[0]


def feed_etag(key: str, version: tuple) -> str:
    raw = f"{current_app.config['PUBLIC_BASE_URL']}|{key}|{version}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def feed_chunks(feed: caching.Built, size: int = 1 << 16) -> Iterator[bytes]:
    """The plain body of a gzipped feed, piece by piece, for a client that refuses gzip
    (read from its file a piece at a time, when it is kept in one)."""
    decompressor = zlib.decompressobj(wbits=31)
    if feed.file is not None:
        pieces = file_chunks(feed.file, size)
    else:
        gzipped = feed.body or b""
        pieces = (gzipped[start : start + size] for start in range(0, len(gzipped), size))
    for piece in pieces:
        if plain := decompressor.decompress(piece):
            yield plain
    yield decompressor.flush()


def file_chunks(file: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """A kept build's file, a megabyte at a time (few hand-overs of the GIL to a build
    running beside it), closed at its end (or when the server closes the response)."""
    with file:
        while piece := file.read(size):
            yield piece


@dataclass(frozen=True)
class EventKeys:
    """The one key builder of published VEVENTs' bytes (calendar.published_event): a key is
    everything the bytes are made of. Here, what a whole build shares: the language of the
    text, the place rule ("public" or "guests": how much of the address an event shows),
    the links' base URL, the UIDs' domain, the years the VTIMEZONEs cover (an event
    outside them is written in UTC) and the code's release; per event (``key``), the
    screening and the cache_version of its row and of its film's (each raised with any
    change to the row).

    A key is a slot (what is shared, and the screening) and a tag (the versions), stored at
    the front of the value: a screening's new version overwrites its old one, so the store
    holds at most one event per screening and kind of feed, however often it changes."""

    language: str | None
    place_rule: str
    base_url: str
    domain: str
    zone_years: tuple[int, int]
    release: str = ""  # caching.code_release: the code that wrote the bytes
    prefix: str = "screenings"

    def key(self, screening_id: int, screening_version: int, film_version: int) -> tuple:
        """(the store's key, the tag its value must start with)."""
        return f"{self.shared}:{screening_id}", b"%d:%d\n" % (screening_version, film_version)

    @cached_property
    def shared(self) -> str:
        """What every key of these EventKeys starts with: a digest of the shared parts."""
        raw = repr(
            (
                self.language,
                self.place_rule,
                self.base_url,
                self.domain,
                self.zone_years,
                self.release,
            )
        )
        return f"{self.prefix}:vevent:{hashlib.sha256(raw.encode()).hexdigest()[:24]}"


def event_keys(*, include_private: bool) -> EventKeys:
    """The event keys of a feed built now, for the public or for the producer."""
    return EventKeys(
        language=None,  # a feed's events share one text (calendar.published_event)
        place_rule="guests" if include_private else "public",
        base_url=_screening_base_url(),
        domain=public_domain(),
        zone_years=calendar.zone_years(),
        release=current_app.config["CACHE_RELEASE"],
        prefix=current_app.config["CACHE_KEY_PREFIX"],
    )


def kept_event(
    keys: EventKeys, screening_id: int, screening_version: int, film_version: int
) -> bytes | None:
    """A screening's VEVENT kept under these keys at these versions (by a feed build or a
    download of its .ics), or None."""
    slot, tag = keys.key(screening_id, screening_version, film_version)
    return _kept_event(caching.event_store().get(slot), tag)


def keep_event(
    keys: EventKeys, screening_id: int, screening_version: int, film_version: int, body: bytes
) -> None:
    """Keep a VEVENT made from the screening's and film's rows at these versions, for the
    next build or download that wants it."""
    slot, tag = keys.key(screening_id, screening_version, film_version)
    caching.event_store().set(slot, tag + body, current_app.config["FEED_KEEP_SECONDS"])


def _screening_base_url() -> str:
    return external_url("public.screening", screening_id=0).removesuffix("0")


# What every feed is cut from: its order, the event keys' parts and the feeds' filters.
_FEED_KEY_COLUMNS = (
    Screening.id,
    Screening.cache_version,
    Screening.film_id,
    Screening.timezone,
    Screening.is_public,
    Screening.country,
    Screening.public_latitude,
    Screening.public_longitude,
)
# The same columns by position, for the walks over every row of a run (a Row's attributes
# cost a lookup each; its items and C-level maps over them do not).
_ROW_ID, _ROW_VERSION, _ROW_FILM, _ROW_ZONE, _ROW_PUBLIC, _ROW_COUNTRY = map(itemgetter, range(6))
_MISSES_PER_QUERY = 500
# A feed's rows, and the same by country and by film (FeedRows._grouped).
_Groups = tuple[
    Sequence[Row[*tuple[Any, ...]]],
    dict[str, list[Row[*tuple[Any, ...]]]],
    dict[int, list[Row[*tuple[Any, ...]]]],
]


@dataclass
class FeedRows:
    """The ids, versions and filtered columns of every screening any feed lists (the
    private ones included), soonest first, with the films' versions: read once for a whole
    `feeds build` (every feed in every language is cut from them), once for a feed built
    alone. The feeds' version and stored name are read before the rows, so every build
    cut from them is at least as new as it says."""

    version: tuple
    withdrawals: int
    films: dict[int, tuple[int, _Film]]
    film_ids: dict[str, int]  # by slug
    rows: Sequence[Row[*tuple[Any, ...]]]
    _cuts: dict[tuple, Sequence[Row[*tuple[Any, ...]]]] = field(default_factory=dict)
    _groups: dict[bool, _Groups] = field(default_factory=dict)
    _contents: dict[int, tuple[Sequence[Row[*tuple[Any, ...]]], bytes]] = field(
        default_factory=dict
    )
    # Each row's "id:version:film's version" line (what contents and the segments' keys are
    # made of); the events this run looked up or made, by EventKeys (once per run, not per
    # feed and language); each cut's deflated events and zones (its languages share them).
    _lines: dict[int, bytes] = field(default_factory=dict)
    _ends: frozenset[int] | None = None
    _keys: dict[bool, EventKeys] = field(default_factory=dict)
    _events: dict[EventKeys, _RunEvents] = field(default_factory=dict)
    _deflated: dict[
        tuple[int, EventKeys], tuple[Sequence[Row[*tuple[Any, ...]]], segmented_gzip.Deflated]
    ] = field(default_factory=dict)
    _zones: dict[int, tuple[Sequence[Row[*tuple[Any, ...]]], frozenset[str]]] = field(
        default_factory=dict
    )

    @classmethod
    def read(cls) -> FeedRows:
        version, withdrawals = counter_versions("feeds", "withdrawals")
        films, film_ids = {}, {}
        for film_id, slug, film_version, title, runtime, advisory, updated in db.session.execute(
            select(
                Film.id,
                Film.slug,
                Film.cache_version,
                Film.title,
                Film.runtime_minutes,
                Film.content_advisory,
                Film.updated_at,
            )
        ):
            films[film_id] = (film_version, _Film(title, runtime, advisory, updated))
            film_ids[slug] = film_id
        query = _feed_rows(include_private=True).order_by(Screening.starts_at, Screening.id)
        # Core rows: no ORM work for 50,000 of them.
        rows = db.session.connection().execute(query.with_only_columns(*_FEED_KEY_COLUMNS)).all()
        return cls(version, withdrawals[1], films, film_ids, rows)

    def stored_name(self, key: str) -> str:
        """The name a feed built from these rows is stored under (see feed_state)."""
        return f"{key}@{self.withdrawals}"

    def countries(self) -> list[str]:
        """The countries of the listed screenings, sorted: each has a feed."""
        _rows, by_country, _by_film = self._grouped(include_private=False)
        return sorted(by_country)

    def select(self, filters: Filters, *, include_private: bool) -> Sequence[Row[*tuple[Any, ...]]]:
        """The rows of one feed: what `filters.apply` on the feed's query selects, in order
        (cut once per run and filters: a feed's languages share it)."""
        if filters.city:
            raise ValueError("feeds are not narrowed by city")
        cut = (filters.country.upper(), filters.film, filters.near_city, filters.near_km)
        found = self._cuts.get((*cut, include_private))
        if found is None:
            found = self._cuts[(*cut, include_private)] = self._cut(filters, include_private)
        return found

    def _cut(self, filters: Filters, include_private: bool) -> Sequence[Row[*tuple[Any, ...]]]:
        rows, by_country, by_film = self._grouped(include_private)
        if filters.country:
            rows = by_country.get(filters.country.upper(), [])
        if filters.film:
            film_id = self.film_ids.get(filters.film)
            if filters.country:
                rows = [row for row in rows if row.film_id == film_id]
            else:
                rows = by_film.get(film_id, []) if film_id is not None else []
        if filters.near_city:
            city = city_by_id(filters.near_city)
            measure = distance_within(city, filters.near_km) if city else None
            rows = [
                row
                for row in rows
                if measure and measure(row.public_latitude, row.public_longitude) is not None
            ]
        return rows

    def _grouped(self, include_private: bool) -> _Groups:
        """The rows (public ones only unless `include_private`), and the same by country and
        by film, in order: one walk over the rows for every country's and film's feed."""
        found = self._groups.get(include_private)
        if found is None:
            rows = self.rows if include_private else list(filter(_ROW_PUBLIC, self.rows))
            by_country: dict[str, list[Row[*tuple[Any, ...]]]] = {}
            by_film: dict[int, list[Row[*tuple[Any, ...]]]] = {}
            for row, country, film_id in zip(
                rows, map(_ROW_COUNTRY, rows), map(_ROW_FILM, rows), strict=True
            ):
                by_country.setdefault(country, []).append(row)
                by_film.setdefault(film_id, []).append(row)
            found = self._groups[include_private] = (rows, by_country, by_film)
        return found

    def contents(self, rows: Sequence[Row[*tuple[Any, ...]]]) -> bytes:
        """What a feed's events are made of, as a digest: each listed screening's id and its
        row's and film's versions, in order (an event's bytes change only with these, and
        EventKeys' shared parts). Computed once per cut (a feed's languages share it)."""
        key = id(rows)
        found = self._contents.get(key)
        if found is None or found[0] is not rows:
            lines = self.lines()
            digest = hashlib.sha256(b"".join(map(lines.__getitem__, map(_ROW_ID, rows)))).digest()
            found = self._contents[key] = (rows, digest)
        return found[1]

    def lines(self) -> dict[int, bytes]:
        """Each row's b"id:version:film's version\n", by id (made once per run)."""
        if not self._lines and self.rows:
            films = self.films
            self._lines = {
                screening_id: b"%d:%d:%d\n" % (screening_id, version, films[film_id][0])
                for screening_id, version, film_id, *_rest in self.rows
            }
        return self._lines

    def segment_ends(self) -> frozenset[int]:
        """The ids of the rows a segment ends after (_ends_segment), once per run."""
        if self._ends is None:
            self._ends = frozenset(filter(_ends_segment, map(_ROW_ID, self.rows)))
        return self._ends

    def event_keys(self, *, include_private: bool) -> EventKeys:
        """event_keys for this run's feeds (made once per run and place rule)."""
        found = self._keys.get(include_private)
        if found is None:
            found = self._keys[include_private] = event_keys(include_private=include_private)
        return found

    def zones(self, rows: Sequence[Row[*tuple[Any, ...]]]) -> frozenset[str]:
        """The time zones of a cut's screenings (its head's VTIMEZONEs), once per cut."""
        found = self._zones.get(id(rows))
        if found is None or found[0] is not rows:
            found = self._zones[id(rows)] = (rows, frozenset(map(_ROW_ZONE, rows)))
        return found[1]

    def deflated_events(
        self, rows: Sequence[Row[*tuple[Any, ...]]], keys: EventKeys, *, keep_events: bool
    ) -> segmented_gzip.Deflated:
        """A cut's events, deflated in segments (SEGMENT_EVENTS): each segment kept in this
        process (caching.segment_store) under a digest of what it is made of (EventKeys'
        shared part, the level, each event's screening id and versions), so only the
        segments a change touched are compressed again, and only their events looked up or
        made. Once per cut and keys: a feed's languages share it (one text for all)."""
        found = self._deflated.get((id(rows), keys))
        if found is not None and found[0] is rows:
            return found[1]
        # Not keeping: an LRU of no size, which holds nothing.
        segments = caching.segment_store() if keep_events else caching.MemoryObjects(0, lambda _: 1)
        lines = self.lines()
        shared = f"{keys.shared}:{FEED_GZIP_LEVEL}:".encode()
        pieces: list[segmented_gzip.Deflated | None] = []
        missing: list[tuple[int, Sequence[Row[*tuple[Any, ...]]], bytes]] = []
        start = 0
        last = len(rows) - 1
        ends = self.segment_ends()
        for index, screening_id in enumerate(map(_ROW_ID, rows)):
            if index < last and screening_id not in ends:
                continue
            part = rows[start : index + 1]
            start = index + 1
            key = hashlib.sha256(
                shared + b"".join(map(lines.__getitem__, map(_ROW_ID, part)))
            ).digest()
            piece = segments.get(key)
            if piece is None:
                missing.append((len(pieces), part, key))
            pieces.append(piece)
        if missing:
            events = self._run_events(keys)
            events.look_up([row for _index, part, _key in missing for row in part], keep_events)
            for index, part, key in missing:
                bodies = [events.made.get(row.id) for row in part]
                piece = segmented_gzip.deflate(
                    b"".join([body for body in bodies if body is not None]), FEED_GZIP_LEVEL
                )
                if not any(row.id in events.other_versions for row in part):
                    segments.set(key, piece)
                pieces[index] = piece
        deflated = segmented_gzip.joined(piece for piece in pieces if piece is not None)
        self._deflated[(id(rows), keys)] = (rows, deflated)
        return deflated

    def _run_events(self, keys: EventKeys) -> _RunEvents:
        found = self._events.get(keys)
        if found is None:
            found = self._events[keys] = _RunEvents(keys, self.films)
        return found


def _ends_segment(screening_id: int) -> bool:
    """Whether a feed's run of events (a segment) ends after this screening's: one id in
    SEGMENT_EVENTS, by a multiplicative hash of the id alone (the same in every feed)."""
    return (screening_id * 0x9E3779B1) & 0xFFFFFFFF < (1 << 32) // SEGMENT_EVENTS


class _RunEvents:
    """The VEVENTs of one run of `feeds build` (or one feed built alone) under one EventKeys:
    each looked up in the kept events (or made) once, whatever the feeds and languages
    that list it."""

    def __init__(self, keys: EventKeys, films: dict[int, tuple[int, _Film]]) -> None:
        self.keys, self.films = keys, films
        self.made: dict[int, bytes] = {}
        # Screenings whose event is not at the versions the run read (made from a newer row,
        # or gone since): a segment holding one is not kept.
        self.other_versions: set[int] = set()
        self.looked_up: set[int] = set()

    def look_up(self, rows: Iterable[Row[*tuple[Any, ...]]], keep_events: bool) -> None:
        """Find (or make and keep) the events of these rows not looked up yet."""
        keys, films = self.keys, self.films
        need = [row for row in rows if row.id not in self.looked_up]
        self.looked_up.update(row.id for row in need)
        wanted = [keys.key(row.id, row.cache_version, films[row.film_id][0]) for row in need]
        stored = caching.event_store().get_many([slot for slot, _tag in wanted])
        missing: dict[int, int] = {}  # id: the version the run read
        for row, value, (_slot, tag) in zip(need, stored, wanted, strict=True):
            body = _kept_event(value, tag)
            if body is None:
                missing[row.id] = row.cache_version
            else:
                self.made[row.id] = body
        if missing:
            self._make(missing, keep_events)

    def _make(self, missing: dict[int, int], keep_events: bool) -> None:
        """Make the events of these screenings from their whole rows (and keep them, unless
        not `keep_events`)."""
        keys, films = self.keys, self.films
        include_private = keys.place_rule == "guests"
        # The producer's own feed has every address; a public feed what the public may know.
        place_of = visibility.guest_place if include_private else visibility.public_place
        whole = select(*_FEED_COLUMNS, Screening.cache_version)
        if len(missing) <= _MISSES_PER_QUERY:
            whole = whole.where(Screening.id.in_(sorted(missing)))
        else:  # a build from scratch, or nearly: one query, streamed, whatever the number
            whole = (
                _feed_rows(include_private=include_private)
                .with_only_columns(*whole.selected_columns)
                .execution_options(yield_per=2000)
            )
        kept: dict[str, bytes] = {}
        ttl = current_app.config["FEED_KEEP_SECONDS"]
        found: set[int] = set()
        for row in db.session.connection().execute(whole):
            if row.id not in missing:
                continue
            found.add(row.id)
            film_version, film = films[row.film_id]
            item = _FeedItem(row[:-1], film)
            body = calendar.published_event(
                # Private screenings have no public page; the URL is the feed owner's bookmark.
                item,
                url=f"{keys.base_url}{item.id}",
                domain=keys.domain,
                place=place_of(item),
                language=keys.language,
            )
            # Under the version the row itself carries: it may be newer than the first read.
            slot, tag = keys.key(item.id, row[-1], film_version)
            if row[-1] != missing[item.id]:
                self.other_versions.add(item.id)
            if keep_events:
                kept[slot] = tag + body
            self.made[item.id] = body
            if len(kept) >= 1000:
                caching.event_store().set_many(kept, ttl)
                kept = {}
        caching.event_store().set_many(kept, ttl)
        # A screening deleted between the two reads has no event: it is left out.
        self.other_versions.update(missing.keys() - found)


def build_feed(
    key: str,
    name: str,
    filters: Filters,
    *,
    include_private: bool = False,
    feed_rows: FeedRows | None = None,
    keep_events: bool = True,
) -> caching.Built:
    """Build the feed's calendar now, gzipped (a worker, a background thread or the first
    request of a feed never built calls this; visitors get the stored build).

    One gzip member: zlib's header, the head (name, VTIMEZONEs) deflated, the events'
    segments (FeedRows.deflated_events: only those a change touched are compressed again,
    only their events looked up, and only the changed screenings' rows read whole and their
    events made) and the end, with the CRC combined. Its plain bytes are exactly a build from
    scratch's. `feed_rows` is read here if not given. With `keep_events` False nothing made
    is kept, events or segments (a web worker's build when the builder process keeps them:
    see latest_feed)."""
    feed_rows = feed_rows or FeedRows.read()
    keys = feed_rows.event_keys(include_private=include_private)
    rows = feed_rows.select(filters, include_private=include_private)
    events = feed_rows.deflated_events(rows, keys, keep_events=keep_events)
    head = calendar.published_head(str(name), feed_rows.zones(rows))
    body = segmented_gzip.gzip_member(
        [
            segmented_gzip.deflate(head, FEED_GZIP_LEVEL),
            events,
            segmented_gzip.deflate(calendar.PUBLISHED_END, FEED_GZIP_LEVEL),
        ],
        FEED_GZIP_LEVEL,
    )
    etag = content_etag(key, name, keys, feed_rows.contents(rows))
    return caching.Built(
        body, etag, repr(feed_rows.version), _last_modified(feed_rows.stored_name(key), etag)
    )


def content_etag(key: str, name: str, keys: EventKeys, contents: bytes) -> str:
    """A feed build's ETag: made of all its bytes are made of (its key, its title, what its
    events share and the screenings' ids and versions, FeedRows.contents: an event's DTSTAMP
    is its rows' too, calendar.revised_at),
    so it changes exactly when they do, and a pass finds a feed it need not build again
    (FeedPasses) before building it."""
    return feed_etag(key, (str(name), repr(keys), contents.hex()))


def _kept_event(value: bytes | None, tag: bytes) -> bytes | None:
    """The event kept in a store's value, if it was kept under that tag (a bytes copy: a
    memoryview is an object the garbage collector tracks, and 50,000 of them set it off)."""
    if value is None or not value.startswith(tag):
        return None
    return value[len(tag) :]


def _last_modified(name_stored: str, etag: str) -> datetime:
    """Now, to the second, but always after the previous build's (a host whose clock is
    behind must not make an If-Modified-Since look fresh)."""
    now = datetime.now(UTC).replace(microsecond=0)
    previous = caching.built_meta(name_stored)
    if previous is not None and previous.last_modified is not None:
        if previous.etag == etag:
            return previous.last_modified
        now = max(now, previous.last_modified + timedelta(seconds=1))
    return now


def latest_feed(
    key: str,
    name: str,
    filters: Filters,
    *,
    include_private: bool = False,
    etag_known: Callable[[str], bool] | None = None,
) -> caching.Built:
    """The feed as last built (see caching.latest_built): never built on a visitor's
    request unless no build exists at all."""
    name_stored, version = feed_state(key)
    # A web worker beside the builder process keeps no events of its own (without Redis
    # they would stay in its memory): the builder keeps them for every rebuild.
    config = current_app.config
    keep_events = not config["FEED_BUILDER_RUNS"] or bool(config.get("CACHE_REDIS_URL"))
    return caching.latest_built(
        name_stored,
        version,
        lambda: build_feed(
            key, name, filters, include_private=include_private, keep_events=keep_events
        ),
        etag_known=etag_known,
    )


def every_feed(feed_rows: FeedRows) -> Iterator[tuple[str, object, Filters, bool]]:
    """(key, title, filters, include_private) of each feed the site serves, in one language:
    all screenings, each active film's, each listed country's (in `feed_rows`), each near-me
    feed someone subscribed to (near_alerts.offered_feeds) and the producer's."""
    yield "screenings", _l("Screenings"), Filters(), False
    for film in active_films():
        yield (
            f"film-{film.slug}",
            _l("Screenings of %(title)s", title=film.title),
            Filters(film=film.slug),
            False,
        )
    for code in feed_rows.countries():
        yield (
            f"country-{code.lower()}",
            _l("Screenings in %(country)s", country=country_name(code)),
            Filters(country=code),
            False,
        )
    for city, km in offered_feeds():
        yield (
            near_feed_key(city.id, km),
            near_feed_title(city, km),
            Filters(near_city=city.id, near_km=km),
            False,
        )
    if len(current_app.config.get("PRODUCER_FEED_TOKEN") or "") >= 16:
        yield "producer", _l("All screenings (producer)"), Filters(), True


def near_feed_key(city_id: int, km: int) -> str:
    return f"near-{city_id}-{km}"


def build_stale_feeds() -> int:
    """One pass of FeedPasses (`flask feeds build` without --watch); how many were built."""
    return FeedPasses().run()


class FeedPasses:
    """`feeds build`'s passes: each builds, in every language, each feed whose stored build
    is not current (caching.is_current) or missing (skipping one another worker is building).

    The screenings' ids and versions are read once per pass (FeedRows): every feed in every
    language is cut from them. A feed whose content did not change (the same ETag:
    content_etag) is not built again, and nothing is written for it: once every feed is
    checked or built, the pass records in one note which build of each is current at the
    version it read (caching.keep_verified), so after one screening's change a pass builds
    the feeds that list it, before or after the change, and writes nothing for the others.
    A build found unchanged has its lifetime renewed now and then (FEED_KEEP_SECONDS / 4).
    After a withdrawal (the names builds are stored under change: feed_state), a feed whose
    content the previous pass built under the old name is linked under the new one, not
    built (this process remembers that name between passes)."""

    def __init__(self) -> None:
        self.withdrawals: int | None = None  # the last pass's
        self.unchanged = 0  # feeds the last pass found unchanged
        self.renewed: dict[str, float] = {}  # when each build's lifetime was last renewed

    def run(self) -> int:
        """One pass: how many feeds it built."""
        feed_rows = FeedRows.read()
        before = self.withdrawals if self.withdrawals != feed_rows.withdrawals else None
        built = self.unchanged = 0
        current: dict[str, str] = {}  # the ETag of each build current at feed_rows.version
        fresh: set[str] = set()  # stored by this pass
        for language in LANGUAGES:
            with force_locale(language):
                for key, title, filters, include_private in list(every_feed(feed_rows)):
                    name = f"{key}-{language}"
                    name_stored = feed_rows.stored_name(name)
                    meta = caching.built_meta(name_stored)
                    if meta is not None and caching.is_current(
                        name_stored, meta, feed_rows.version
                    ):
                        current[name_stored] = meta.etag
                        continue
                    feed = (name, str(title), filters, include_private)
                    if (same := self._unchanged(feed_rows, feed, meta, before)) is not None:
                        self.unchanged += 1
                        current[name_stored] = same
                        continue
                    build = partial(
                        build_feed,
                        name,
                        str(title),
                        filters,
                        include_private=include_private,
                        feed_rows=feed_rows,
                    )
                    made = caching.build_unless_busy(name_stored, build)
                    if made is not None:
                        built += 1
                        current[name_stored] = made.etag
                        fresh.add(name_stored)
        verified = caching.verified_builds()
        if verified is None or verified != (repr(feed_rows.version), current):
            caching.keep_verified(feed_rows.version, current)
        self._renew(current, fresh)
        self.withdrawals = feed_rows.withdrawals
        return built

    def _renew(self, current: dict[str, str], fresh: set[str]) -> None:
        """Renew the lifetime of the builds found current that this process has not stored
        or renewed for a quarter of FEED_KEEP_SECONDS (a build is stored with a lifetime,
        and one found unchanged is not stored again)."""
        now = time.monotonic()
        every = current_app.config["FEED_KEEP_SECONDS"] / 4
        for name in fresh:
            self.renewed[name] = now
        due = {
            name: etag
            for name, etag in current.items()
            if now - self.renewed.get(name, -every) >= every
        }
        if due:
            caching.renew_builds(due)
            for name in due:
                self.renewed[name] = now
        self.renewed = {name: self.renewed[name] for name in current}

    @staticmethod
    def _unchanged(
        feed_rows: FeedRows,
        feed: tuple[str, str, Filters, bool],
        meta: caching.Built | None,
        before: int | None,
    ) -> str | None:
        """The ETag of the feed's last build (under its name now, or before the last
        withdrawal: then linked under the new name) if it has the bytes a build now would
        have; else None."""
        name, title, filters, include_private = feed
        source = feed_rows.stored_name(name)
        if meta is None and before is not None:
            source = f"{name}@{before}"
            meta = caching.built_meta(source)
        if meta is None:
            return None
        rows = feed_rows.select(filters, include_private=include_private)
        keys = feed_rows.event_keys(include_private=include_private)
        if content_etag(name, title, keys, feed_rows.contents(rows)) != meta.etag:
            return None
        if source == feed_rows.stored_name(name):
            return meta.etag  # kept as it is: nothing to write
        same = caching.Built(None, meta.etag, repr(feed_rows.version), meta.last_modified)
        return (
            meta.etag if caching.keep_unchanged(feed_rows.stored_name(name), same, source) else None
        )
