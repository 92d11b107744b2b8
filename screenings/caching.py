"""Caches that never serve a stale answer, in one store for every worker.

**Keys change in the transaction of the change.** Every cached answer is stored under a key
made of numbers that the database changes in the same transaction as anything the answer
shows (STYLE.md rule 13):

- a screening's page and ``.ics`` file: the screening's ``cache_version`` and its film's
  (raised with every change to either row, seats included) and which side of its start and
  end the clock is on;
- the lists (home, upcoming, embed, the producer's dashboard): the ``listing`` change counter,
  raised by every insert, update or delete of a screening, RSVP, film or licence;
- the calendar feeds: the ``feeds`` counter (the same, RSVPs aside: a feed shows no seats);
- lists and feeds also carry the next start still to come, as their queries do.

The raising is done by session hooks (`track_changes`), not by the services: a flush's
inserts, updates and deletes, and every ORM-enabled ``update()``/``delete()`` statement, are
seen whatever service or helper runs them, and a statement updating a screening or a film
raises its ``cache_version`` in the same UPDATE. The counters are raised just before COMMIT,
so a transaction holds the counter row only for the instant of its commit.

A request reads the numbers first (one query over primary keys), then the data. Whatever it
renders is at least as new as its key, so the key of an answer never outlives the data it
shows: a change is visible to the first request that starts after its commit, on every
worker and every host, whatever their clocks say. No wall-clock maximum, no lifetime.

**One store.** With ``CACHE_REDIS_URL`` set, every worker on every host reads and writes one
Redis (keys under ``CACHE_KEY_PREFIX``, each with a lifetime, values above
``CACHE_MAX_VALUE_BYTES`` not stored); otherwise each process keeps an LRU of
``CACHE_MEMORY_BYTES`` (cachetools). A Redis that fails is a miss, never an error. Built
artefacts (the feeds, megabytes each) go to Redis too, or without it to files that every
worker on the host serves (`BuiltFiles`), never into each worker's LRU.

Rendered pages are cached for anonymous visitors only (public pages), or per logged-in user
(the producer's dashboard); never while a flashed message waits. A page's CSRF token belongs
to its visitor's session, so the cached copy holds a placeholder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache, wraps
from inspect import unwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, Protocol, TypeVar

import cachetools
from flask import Flask, Request, Response, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import (
    Connection,
    Engine,
    Result,
    Select,
    Update,
    bindparam,
    create_engine,
    event,
    exists,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import DBAPIError, ResourceClosedError, SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.sql.compiler import SQLCompiler
from werkzeug.http import HTTP_STATUS_CODES, dump_cookie

from .extensions import Model, app_object, db
from .models import ChangeCounter, Film, Licence, NearbySubscription, Rsvp, Screening, utcnow

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

# -- the store -----------------------------------------------------------------------------------


class Store(Protocol):
    """What both stores answer (MemoryStore, RedisStore): bytes kept under a key for a time."""

    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl: int) -> None: ...
    def get_many(self, keys: list[str]) -> list[bytes | None]: ...
    def set_many(self, values: dict[str, bytes], ttl: int) -> None: ...
    def add(self, key: str, value: bytes, ttl: int) -> bool: ...
    def touch(self, keys: list[str], ttl: int) -> None: ...
    def delete(self, key: str) -> None: ...
    def clear(self) -> None: ...


class MemoryStore:
    """This process's cache: an LRU bounded in bytes, shared by the worker's threads."""

    def __init__(self, max_bytes: int, max_value_bytes: int) -> None:
        self.max_value_bytes = max_value_bytes
        self.items: cachetools.LRUCache = cachetools.LRUCache(max_bytes, getsizeof=len)
        self.expiry: dict[str, float] = {}
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None and self.expiry.get(key, 0) < time.monotonic():
                self.items.pop(key, None)
                return None
            return value

    def set(self, key: str, value: bytes, ttl: int) -> None:
        if len(value) > min(self.max_value_bytes, self.items.maxsize):
            return
        with self.lock:
            self.items[key] = value
            self.expiry[key] = time.monotonic() + ttl
            if len(self.expiry) > 2 * len(self.items) + 1000:
                self.expiry = {k: v for k, v in self.expiry.items() if k in self.items}

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        now = time.monotonic()
        with self.lock:
            found = [self.items.get(key) for key in keys]
            return [
                None if value is None or self.expiry.get(key, 0) < now else value
                for key, value in zip(keys, found, strict=True)
            ]

    def set_many(self, values: dict[str, bytes], ttl: int) -> None:
        for key, value in values.items():
            self.set(key, value, ttl)

    def add(self, key: str, value: bytes, ttl: int) -> bool:
        """Set only if absent (or expired): True if this call set it (a lock taken)."""
        with self.lock:
            if key in self.items and self.expiry.get(key, 0) >= time.monotonic():
                return False
            self.items[key] = value
            self.expiry[key] = time.monotonic() + ttl
            return True

    def touch(self, keys: list[str], ttl: int) -> None:
        """Give the keys still held a new lifetime."""
        with self.lock:
            until = time.monotonic() + ttl
            for key in keys:
                if key in self.items:
                    self.expiry[key] = until

    def delete(self, key: str) -> None:
        with self.lock:
            self.items.pop(key, None)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.expiry.clear()


class MemoryObjects:
    """Objects kept in this process's memory (the feed builder's deflated segments): an LRU
    bounded by `size_of` each, shared by the process's threads, with no lifetime."""

    def __init__(self, max_size: int, size_of: Callable[[Any], int]) -> None:
        self.items: cachetools.LRUCache = cachetools.LRUCache(max_size, getsizeof=size_of)
        self.size_of = size_of
        self.lock = threading.Lock()

    def get(self, key: bytes) -> Any:
        with self.lock:
            return self.items.get(key)

    def set(self, key: bytes, value: object) -> None:
        if self.size_of(value) > self.items.maxsize:
            return
        with self.lock:
            self.items[key] = value

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


class RedisStore:
    """One Redis for every worker and host. Keys carry the prefix; a failure is a miss."""

    def __init__(self, url: str, prefix: str, max_value_bytes: int) -> None:
        import redis  # noqa: PLC0415 Redis only where REDIS_URL is set

        self.redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.errors = redis.RedisError
        self.prefix = prefix
        self.max_value_bytes = max_value_bytes

    def get(self, key: str) -> bytes | None:
        try:
            return _redis_bytes(self.redis.get(key))
        except self.errors as error:
            log.warning("cache unavailable: %s", error)
            return None

    def set(self, key: str, value: bytes, ttl: int) -> None:
        if len(value) > self.max_value_bytes:
            return
        try:
            self.redis.set(key, value, ex=ttl)
        except self.errors as error:
            log.warning("cache unavailable: %s", error)

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        found: list[bytes | None] = []
        try:
            for start in range(0, len(keys), 1000):
                found += map(_redis_bytes, self.redis.mget(keys[start : start + 1000]))
        except self.errors as error:
            log.warning("cache unavailable: %s", error)
            return [None] * len(keys)
        return found

    def set_many(self, values: dict[str, bytes], ttl: int) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key, value in values.items():
                if len(value) <= self.max_value_bytes:
                    pipe.set(key, value, ex=ttl)
            pipe.execute()
        except self.errors as error:
            log.warning("cache unavailable: %s", error)

    def add(self, key: str, value: bytes, ttl: int) -> bool:
        try:
            return bool(self.redis.set(key, value, ex=ttl, nx=True))
        except self.errors as error:
            log.warning("cache unavailable: %s", error)
            return True  # no lock to be had: build rather than wait for nobody

    def touch(self, keys: list[str], ttl: int) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.expire(key, ttl)
            pipe.execute()
        except self.errors as error:
            log.warning("cache unavailable: %s", error)

    def delete(self, key: str) -> None:
        try:
            self.redis.delete(key)
        except self.errors as error:
            log.warning("cache unavailable: %s", error)

    def clear(self) -> None:
        """Delete this prefix's keys (and only those: never the rest of the Redis)."""
        for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            self.redis.delete(key)


def _redis_bytes(value: bytes | str | None) -> bytes | None:
    """A Redis answer as the bytes it is: the client is made without decode_responses, so it
    never decodes, though its type says it may."""
    return value.encode() if isinstance(value, str) else value


def init_cache(app: Flask) -> None:
    """Give the app its store: Redis when CACHE_REDIS_URL is set, else an in-process LRU;
    the feeds' built events in the same Redis, or in an LRU of their own (FEED_EVENTS_BYTES)
    so that they never push pages out; their deflated segments in this process's memory."""
    url = app.config.get("CACHE_REDIS_URL") or ""
    limit = int(app.config["CACHE_MAX_VALUE_BYTES"])
    store: Store
    events: Store
    copies: MemoryStore | None = None
    if url:
        store = events = RedisStore(url, app.config["CACHE_KEY_PREFIX"], limit)
        copies = MemoryStore(int(app.config["CACHE_COPY_BYTES"]), limit)
    else:
        store = MemoryStore(int(app.config["CACHE_MEMORY_BYTES"]), limit)
        events = MemoryStore(int(app.config["FEED_EVENTS_BYTES"]), limit)
    app.extensions["screenings_cache"] = store
    app.extensions["screenings_copies"] = copies  # versioned_get's, with Redis only
    app.extensions["screenings_event_cache"] = events
    # Deflated runs of events (services/feeds.py): objects, and only the builder's to reuse.
    app.extensions["screenings_segments"] = MemoryObjects(
        int(app.config["FEED_SEGMENTS_BYTES"]), lambda piece: len(piece.data) + 200
    )
    app.extensions["screenings_kept"] = {}  # kept_until_change's answers
    kept_builds: Builds[Any] = (
        StoredBuilds(store)
        if url
        else BuiltFiles(Path(app.config["FEED_FILES_DIR"] or Path(app.instance_path) / "feeds"))
    )
    app.extensions["screenings_builds"] = kept_builds
    app.config["CACHE_RELEASE"] = app.config.get("CACHE_RELEASE") or code_release(
        Path(app.root_path).parent
    )
    init_caching()


@cache
def code_release(root: Path) -> str:
    """A digest of the code, templates, catalogues and data this process serves. Every key carries
    it, so after a deploy no host serves a page rendered by the previous release from a shared
    Redis (hosts running the same files agree on it without being told)."""
    digest = hashlib.sha256()
    for folder in ("screenings", "templates"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in {
                ".py",
                ".html",
                ".txt",
                ".ics",
                ".mo",
                ".js",
                ".css",
                ".json",  # the map's country shapes, drawn into cached pages
            }:
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def store() -> Store:
    found: Store = current_app.extensions["screenings_cache"]
    return found


def event_store() -> Store:
    """Where feeds keep each VEVENT they built (services/feeds.py EventKeys)."""
    found: Store = current_app.extensions["screenings_event_cache"]
    return found


def segment_store() -> MemoryObjects:
    """Where feeds keep their deflated segments (services/feeds.py FeedRows.deflated_events)."""
    found: MemoryObjects = current_app.extensions["screenings_segments"]
    return found


def builds() -> Builds[Any]:
    """Where built artefacts (feeds) are kept: Redis, or files on this host. (Any: the lock
    handed back is that store's own, a key or a file descriptor, given back to it as is.)"""
    found: Builds[Any] = current_app.extensions["screenings_builds"]
    return found


def versioned_get(key: str) -> bytes | None:
    """What is stored under a key that names the exact version its value was made at (a
    page's: page_key; a screening's .ics), read from this worker's copies first.

    Such a value never goes out of date: a change makes a new key, read from the database
    on every request. So with Redis each worker keeps copies of what it read there (an LRU
    of CACHE_COPY_BYTES) and serves a hot page without a round trip to Redis, exactly as
    true as Redis's. Without Redis the store is this process's already."""
    copies: MemoryStore | None = current_app.extensions["screenings_copies"]
    if copies is None:
        return store().get(key)
    value = copies.get(key)
    if value is None:
        value = store().get(key)
        if value is not None:
            copies.set(key, value, current_app.config["CACHE_PAGE_SECONDS"])
    return value


def versioned_set(key: str, value: bytes, ttl: int) -> None:
    """Store a value under a key that names its exact version (versioned_get), and keep
    this worker's copy."""
    store().set(key, value, ttl)
    copies: MemoryStore | None = current_app.extensions["screenings_copies"]
    if copies is not None:
        copies.set(key, value, ttl)


def clear() -> None:
    """Empty the current app's cache (tests measuring a cold render)."""
    store().clear()
    event_store().clear()
    segment_store().clear()
    builds().clear()
    copies: MemoryStore | None = current_app.extensions["screenings_copies"]
    if copies is not None:
        copies.clear()


def cache_key(kind: str, *parts: object) -> str:
    """The store's key for `parts`: under the prefix and kind, for this site's base URL and
    the release of the code that renders it."""
    config = current_app.config
    raw = repr((config["PUBLIC_BASE_URL"], config["CACHE_RELEASE"], *parts))
    digest = hashlib.sha256(raw.encode()).hexdigest()[:40]
    return f"{current_app.config['CACHE_KEY_PREFIX']}:{kind}:{digest}"


# -- raising versions and counters in the transaction ---------------------------------------------

_PENDING = "screenings.cache_changes"  # session.info: counter names to raise at commit


def _tracked() -> dict[type[Model], tuple[str, ...]]:
    """Which counters each model's changes raise."""
    return {
        Screening: ("listing", "feeds"),
        Film: ("listing", "feeds"),
        Licence: ("listing", "feeds"),
        Rsvp: ("listing",),
        # Lists offer a town's near-me feed once someone confirmed alerts there.
        NearbySubscription: ("listing",),
    }


def _versioned() -> tuple[type[Screening], type[Film]]:
    return (Screening, Film)


def _note(session: Session, names: Iterable[str]) -> None:
    session.info.setdefault(_PENDING, set()).update(names)


# Screening columns no feed shows: changing only these (an RSVP's seats, a job's claim)
# raises the "listing" counter, not the "feeds" one. Any other column counts for both.
_NOT_IN_FEEDS = frozenset(
    {"seats_taken", "updated_at", "cache_version", "reminder_sent_at", "report_requested_at"}
)


# Screening columns whose change can take something out of the public's sight: a feed built
# before it may no longer be served while the next is built ("withdrawals", services/feeds.py).
_WITHDRAWING = frozenset({"visibility", "is_public"})


def _names_for(model: type[Model], changed: set[str] | None) -> tuple[str, ...]:
    """The counters a change to `model` raises (`changed`: the columns, if an update)."""
    names = _tracked()[model]
    if model.__tablename__ == "nearby_subscriptions" and changed:
        # An alert's watermark changes no list; a confirmation does.
        return names if "confirmed_at" in changed else ()
    if model.__tablename__ != "screenings" or not changed:
        return names
    if changed <= _NOT_IN_FEEDS:
        return ("listing",)
    if changed & _WITHDRAWING:
        return (*names, "withdrawals")
    return names


def _before_flush(session: Session, _context: UOWTransaction, _instances: object) -> None:
    """Note the counters this flush's inserts, updates and deletes raise at commit; a
    screening or film updated gets its cache_version raised in the same UPDATE."""
    tracked, versioned = _tracked(), _versioned()
    for obj in session.dirty:
        model = type(obj)
        if model not in tracked or not session.is_modified(obj, include_collections=False):
            continue
        state = inspect(obj)
        changed = {
            attr.key
            for attr in state.mapper.column_attrs
            if state.attrs[attr.key].history.has_changes()
        }
        _note(session, _names_for(model, changed))
        if model in versioned:
            obj.cache_version = model.cache_version + 1
    for obj in (*session.new, *session.deleted):
        if type(obj) in tracked:
            _note(session, _names_for(type(obj), None))
    if any(type(obj).__tablename__ == "screenings" for obj in session.deleted):
        _note(session, ("withdrawals",))


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    """A licence issued or removed changes its screening's page (a cancelled screening is
    shown only if it had one): raise the screening's cache_version."""
    screenings = {
        obj.screening_id
        for obj in (*session.new, *session.deleted)
        if isinstance(obj, Licence) and obj.screening_id is not None
    }
    if screenings:
        session.connection().execute(
            update(Screening)
            .where(Screening.id.in_(sorted(screenings)))
            .values(cache_version=Screening.cache_version + 1)
        )


def _do_orm_execute(state: ORMExecuteState) -> Result[Any] | None:
    """An ORM-enabled INSERT, UPDATE or DELETE statement (bulk, not through a flush) is
    noted too, and an UPDATE of screenings or films raises the rows' cache_version in the
    same statement."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return None
    table = getattr(getattr(state.statement, "table", None), "name", None)
    for model in _tracked():
        if table != model.__tablename__:
            continue
        changed = None
        statement = state.statement
        if state.is_update and isinstance(statement, Update):
            changed = {getattr(c, "key", str(c)) for c in statement._values or ()}
        _note(state.session, _names_for(model, changed if changed else None))
        if state.is_delete and table == "screenings":  # as a flushed delete does
            _note(state.session, ("withdrawals",))
        if (
            changed
            and isinstance(statement, Update)  # as it is when changed is
            and model in _versioned()
            and not isinstance(state.parameters, list)
        ):
            statement = statement.values(cache_version=model.cache_version + 1)
            return state.invoke_statement(statement=statement)
    return None


def _before_commit(session: Session) -> None:
    """Raise the noted counters, last thing before COMMIT (so in the same transaction)."""
    if session.info.get(_PENDING) is None and not (session.new or session.dirty or session.deleted):
        return
    session.flush()  # the commit's own flush comes after this hook: run it now, and note it
    names = session.info.pop(_PENDING, None)
    if names:
        raise_counters(session.connection(), sorted(names))


def raise_counters(connection: Connection, names: Iterable[str]) -> None:
    """Add one to each named counter (creating it, from a random start, if it is missing:
    numbers from before a database was emptied are never met again)."""
    table = ChangeCounter.__table__
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    for name in names:
        statement = dialect.insert(table).values(name=name, value=secrets.randbelow(1 << 40))
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.name], set_={"value": table.c.value + 1}
            )
        )


_listening = False


def init_caching() -> None:
    """Hook the scoped session (shared by every app a process creates) once."""
    global _listening
    if _listening:
        return
    _listening = True
    event.listen(db.session, "before_flush", _before_flush)
    event.listen(db.session, "after_flush", _after_flush)
    event.listen(db.session, "do_orm_execute", _do_orm_execute)
    event.listen(db.session, "before_commit", _before_commit)


# -- reading the numbers a key is made of ---------------------------------------------------------


# Built once: a busy page's key costs the query alone.
_statements: dict[str, Select[*tuple[Any, ...]]] = {}


def _statement(name: str) -> Select[*tuple[Any, ...]]:
    """The version reads, built on first use with bind parameters (and so compiled once)."""
    found = _statements.get(name)
    if found is not None:
        return found

    next_start = (
        select(func.min(Screening.starts_at))
        .where(Screening.starts_at >= bindparam("now"))
        .scalar_subquery()
    )
    if name.startswith("counters:"):
        counters = [
            select(ChangeCounter.value)
            .where(ChangeCounter.name == bindparam(f"name{index}"))
            .scalar_subquery()
            for index in range(int(name.removeprefix("counters:")))
        ]
        found = select(*counters, next_start)
    else:
        found = (
            select(
                Screening.cache_version,
                Screening.created_at,
                Screening.starts_at,
                Screening.duration_minutes,
                Film.cache_version,
            )
            .join(Film, Film.id == Screening.film_id)
            .where(Screening.id == bindparam("id"))
        )
        if name == "screening-state":
            had_licence = exists().where(Licence.screening_id == Screening.id)
            found = found.add_columns(
                Screening.status, Screening.visibility, Screening.timezone, had_licence
            )
    _statements[name] = found
    return found


def _read_numbers(
    statement: Select[*tuple[Any, ...]], parameters: dict[str, object]
) -> Sequence[Any] | None:
    """The row of one version read. Inside a transaction of the session already begun (a
    feed build, a page of a logged-in producer), on its connection; otherwise on the
    connection this thread keeps for them (_HeldReads): what every cached hit pays. Either
    way the numbers are committed ones read before the page's data, so a key never outlives
    the data."""
    sessions = db.session.registry
    if sessions.has() and sessions().in_transaction():
        return sessions().connection().execute(statement, parameters).first()
    return _held_reads(db.engine).read(statement, parameters)


class _HeldReads:
    """Version reads outside a transaction, on a connection each thread keeps.

    Each read runs in autocommit: one statement is one snapshot on its own, taken when it
    starts, so it sees every change committed before it (on any worker) with no BEGIN before
    it and no ROLLBACK after it. Kept between reads, the connection is neither checked out of
    a pool (with the app pool's pre-ping, a round trip) nor checked in again for each one: in
    process a screening's version read went 511-575 -> 156-207 us wall. The kept connections
    come from a pool of their own (the app's settings, unlimited overflow, no pre-ping), so
    they never take the app's sessions' places; a thread's goes back to it when the thread
    ends. A read that finds its connection lost (a database restart) tries once more on a new
    one; if that fails too the error goes up, and the request goes on to Flask and its 503
    page. A forked child never uses its parent's connections (nor closes them: the parent may
    still), and the app engine's dispose() closes them all. On SQLite the kept connection saves
    the pool's checkout and checkin (pysqlite in autocommit begins no transaction, so each
    read sees every commit before it); an in-memory database, which a second engine would not
    share, reads on a connection of the app's pool checked out for the read."""

    def __init__(self, engine: Engine, options: dict[str, Any]) -> None:
        self.keeps = not _in_memory(engine)
        self.engine = engine
        if self.keeps:
            options = {key: value for key, value in options.items() if key != "pool_pre_ping"}
            options.update(isolation_level="AUTOCOMMIT", max_overflow=-1)
            self.engine = create_engine(engine.url, **options)
            event.listen(engine, "engine_disposed", lambda _engine: self.close_all())
        self.local = threading.local()
        self.all: weakref.WeakSet[_Kept] = weakref.WeakSet()
        # Each version read's SQL, compiled once (None: read through Core, see _DirectRead).
        self.direct: dict[Select[*tuple[Any, ...]], _DirectRead | None] = {}
        # Held while a connection goes back to the pool and while close_all closes them: a
        # thread ending as the engine is disposed (its kept connection given back by __del__)
        # either finishes first, and dispose() closes it in the pool, or sees the generation
        # moved on and closes it itself, never leaving it open in a discarded pool.
        self.lock = threading.RLock()  # a __del__ may run inside close_all, on its thread
        self.generation = 0

    def read(
        self, statement: Select[*tuple[Any, ...]], parameters: dict[str, object]
    ) -> Sequence[Any] | None:
        if not self.keeps:
            with self.engine.connect() as connection:
                return connection.execute(statement, parameters).first()
        for attempt in (1, 2):
            kept = self._kept()
            held = kept.connection
            if held is None:  # closed by close_all (the engine disposed) since _kept()
                raise ResourceClosedError("this thread's kept connection was closed")
            try:
                direct = self._direct(statement)
                if direct is None:
                    return held.execute(statement, parameters).first()
                return direct.fetch(kept, parameters)
            except DBAPIError as error:
                self.local.kept = None
                kept.close(invalidate=True)
                if attempt == 2 or not error.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def _direct(self, statement: Select[*tuple[Any, ...]]) -> _DirectRead | None:
        if statement not in self.direct:
            self.direct[statement] = _DirectRead.of(statement, self.engine.dialect)
        return self.direct[statement]

    def _kept(self) -> _Kept:
        kept = getattr(self.local, "kept", None)
        if kept is not None and kept.pid == os.getpid():
            return kept
        if kept is not None:  # forked: the parent's, kept alive and never closed here
            _forked.append(kept)
        self.local.kept = kept = _Kept(self, self.engine.connect())
        self.all.add(kept)
        return kept

    def close_all(self) -> None:
        with self.lock:
            self.generation += 1
            for kept in list(self.all):
                kept.close(invalidate=True, locked=True)
            self.local = threading.local()
            self.engine.dispose()


class _DirectRead:
    """A version read sent straight to the DBAPI cursor of the kept connection, its SQL
    compiled once: the statement Core would send, without Core's execution context, result
    object and events around it (screening_version went 115 -> 50 us of CPU in process).
    Only where Core would convert nothing, neither a column nor a parameter, and binds by
    name (PostgreSQL's psycopg: integers, timestamps and text come back as they are), so the
    row is the one Core reads; SQLite's timestamps are text Core parses, and its reads stay
    Core's. psycopg prepares the statement after its fifth run on a connection, as under
    Core. A DBAPI error is raised as Core raises it (DBAPIError, saying whether the
    connection was lost), so _HeldReads retries and the front gives way to Flask alike. No
    engine event sees these reads (tests/producer_helpers.py count_queries counts them)."""

    def __init__(self, compiled: SQLCompiler, dialect: Dialect) -> None:
        self.compiled, self.sql, self.dialect = compiled, compiled.string, dialect

    @classmethod
    def of(cls, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> _DirectRead | None:
        """The direct read of `statement` on `dialect`, or None where Core converts a value."""
        compiled = statement.compile(dialect=dialect)
        if not isinstance(compiled, SQLCompiler):  # what a SELECT compiles to
            return None
        converts = any(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ) or any(
            bind.type.dialect_impl(dialect).bind_processor(dialect)
            for bind in compiled.binds.values()
        )
        return None if converts or dialect.positional else cls(compiled, dialect)

    def fetch(self, kept: _Kept, parameters: dict[str, object]) -> Sequence[Any] | None:
        """The row, read on the cursor `kept` holds (made on first use: one per connection)."""
        held = kept.connection
        dbapi_connection = None if held is None else held.connection.dbapi_connection
        if dbapi_connection is None:  # closed or invalidated since: never reconnected here
            raise ResourceClosedError("this thread's kept connection was closed")
        values = self.compiled.construct_params(parameters)
        errors = self.dialect.loaded_dbapi.Error
        cursor = kept.cursor
        try:
            if cursor is None:
                cursor = kept.cursor = dbapi_connection.cursor()
            cursor.execute(self.sql, values)
            row: Sequence[Any] | None = cursor.fetchone()
            return row
        except errors as error:
            lost = self.dialect.is_disconnect(error, dbapi_connection, cursor)
            raise DBAPIError.instance(
                self.sql, values, error, errors, connection_invalidated=lost, dialect=self.dialect
            ) from error


class _Kept:
    """One thread's kept connection, given back to its pool when the thread ends."""

    def __init__(self, owner: _HeldReads, connection: Connection) -> None:
        self.owner, self.generation = owner, owner.generation
        self.connection: Connection | None = connection
        self.cursor: DBAPICursor | None = None  # _DirectRead's, closed with the connection
        self.pid = os.getpid()

    def close(self, invalidate: bool = False, locked: bool = False) -> None:
        if self.pid != os.getpid() or self.connection is None:
            return
        with contextlib.nullcontext() if locked else self.owner.lock:
            connection, self.connection, self.cursor = self.connection, None, None
            if connection is None:
                return
            invalidate = invalidate or self.generation != self.owner.generation
            with contextlib.suppress(Exception):
                if invalidate:
                    connection.invalidate()  # closed for good: never back in the pool
                connection.close()

    def __del__(self) -> None:
        self.close()


_forked: list[_Kept] = []


def _in_memory(engine: Engine) -> bool:
    """An SQLite database in memory: one engine's own, which another engine cannot open."""
    url = engine.url
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    )


_held: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_held_lock = threading.Lock()


def _held_reads(engine: Engine) -> _HeldReads:
    found = _held.get(engine)
    if found is None:
        with _held_lock:
            found = _held.get(engine)
            if found is None:
                options = current_app.config["SQLALCHEMY_ENGINE_OPTIONS"]
                found = _held[engine] = _HeldReads(engine, options)
    return found


def counter_version(name: str) -> tuple:
    """(the named change counter, the next start still to come), in one query."""
    return counter_versions(name)[0]


def counter_versions(*names: str) -> list[tuple]:
    """counter_version of each name, all read in one query (one snapshot of them all)."""
    parameters = {f"name{index}": name for index, name in enumerate(names)}
    row = _read_numbers(_statement(f"counters:{len(names)}"), {**parameters, "now": utcnow()})
    if row is None:  # a SELECT of scalar subqueries, without FROM, answers one row
        raise LookupError("the change counters' read answered no row")
    *values, next_start = row
    return [(name, value or 0, next_start) for name, value in zip(names, values, strict=True)]


_T = TypeVar("_T")
_Mark = TypeVar("_Mark")


def kept_until_change(counter: str, build: Callable[[], _T]) -> _T:
    """`build()`'s answer, built once by this app per value of the named change counter
    (one query over a primary key): an option list the data decides (the films, the
    countries that have a screening) read afresh only after a change commits, not on every
    request. Only the latest value's answer is held, per builder, with the app (as its
    store is): an app made later over the same database, emptied and filled again with its
    counters back at the same values (each test's), never takes this one's answers."""
    value = counter_version(counter)[1]
    if not value:  # no counter row yet: nothing would say when the data changes
        return build()
    kept: dict[tuple, tuple[int, object]] = current_app.extensions["screenings_kept"]
    key = (counter, build.__module__, build.__qualname__)
    held = kept.get(key)
    if held is not None and held[0] == value:
        return held[1]  # type: ignore[return-value]
    answer = build()
    kept[key] = (value, answer)
    return answer


def screening_version(screening_id: int) -> tuple | None:
    """The numbers a screening's page and .ics are cached under, or None if there is none."""
    row = _read_numbers(_statement("screening"), {"id": screening_id})
    return None if row is None else _screening_numbers(screening_id, *row)


class ScreeningState(NamedTuple):
    """What a screening's .ics reads in the query of its version: whether the public may see
    it, its zone, and the versions of its row and film (the key of its kept VEVENT)."""

    version: tuple  # screening_version's
    cache_version: int
    film_version: int
    status: str
    visibility: str
    timezone: str
    had_licence: bool


def screening_state(screening_id: int) -> ScreeningState | None:
    """screening_version with the screening's status, visibility, zone and whether it had a
    licence, in the same query (one snapshot): what its .ics needs before its kept event."""
    row = _read_numbers(_statement("screening-state"), {"id": screening_id})
    if row is None:
        return None
    *numbers, status, visibility, timezone, had_licence = row
    version = _screening_numbers(screening_id, *numbers)
    return ScreeningState(
        version, numbers[0], numbers[4], status, visibility, timezone, bool(had_licence)
    )


def _screening_numbers(
    screening_id: int,
    version: int,
    created_at: datetime,
    starts_at: datetime,
    minutes: int,
    film_version: int,
) -> tuple:
    now = utcnow()
    # Before the start, during, after the end: the page says "past", RSVPs close.
    phase = (now >= starts_at) + (now >= starts_at + timedelta(minutes=minutes))
    return ("screening", screening_id, version, created_at, film_version, phase)


# -- rendered pages ------------------------------------------------------------------------------

# Stands where the visitor's CSRF token goes in a cached page; never a valid token itself.
CSRF_PLACEHOLDER = "\x00csrf-token\x00"

# Headers a view sets that belong to the page, not to one visitor's response.
_REPLAYED = frozenset({"content-type", "cache-control", "content-security-policy"})


def _anonymous() -> bool:
    remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    return "_user_id" not in session and remember_cookie not in request.cookies


View = Callable[..., ResponseReturnValue]


def cached_page(
    version: Callable[..., tuple | None], *, per_user: bool = False
) -> Callable[[View], View]:
    """Serve a GET from the cache under the key `version(**view_args)` returns (None: not
    cached). Public pages (the default) are cached for anonymous visitors only; a page
    `per_user` (the producer's, behind login) for each logged-in user separately. A visitor
    with a flashed message waiting always gets a fresh page."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            if (
                request.method != "GET"
                or not current_app.config["PAGE_CACHE_ENABLED"]
                or "_flashes" in session
                or (not per_user and not _anonymous())
            ):
                return view(*args, **kwargs)
            numbers = version(**kwargs)
            if numbers is None:
                return view(*args, **kwargs)
            key = page_key(
                session.get("_user_id") if per_user else None,
                request.full_path,
                str(get_locale()),
                numbers,
            )
            raw = versioned_get(key)
            if raw is None:
                response = current_app.make_response(view(*args, **kwargs))
                if response.status_code != 200 or response.is_streamed:
                    return response
                meta, body = _remember(key, response)
            else:
                meta, body = _stored_page(raw)
            if meta["csrf"]:
                body = body.replace(_CSRF_PLACEHOLDER_BYTES, generate_csrf().encode())
            response = current_app.response_class(body, meta["status"], meta["headers"])
            response.vary.add("Accept-Language")
            # Whether the page came from the cache: the benchmark counts these (hit rates).
            response.headers["X-Cache"] = "miss" if raw is None else "hit"
            return response

        if not per_user:  # CachedPagesFront answers its hits for visitors without a cookie
            _front_versions[wrapper] = version
        return wrapper

    return decorator


def page_key(user_id: str | None, full_path: str, language: str, numbers: tuple) -> str:
    """The store's key of a rendered page: whose it is (None: anyone's), the path with its
    query, the language and the numbers of its version."""
    return cache_key("page", user_id, full_path, language, numbers)


_CSRF_PLACEHOLDER_BYTES = CSRF_PLACEHOLDER.encode()


def _remember(key: str, response: Response) -> tuple[dict, bytes]:
    """Store a rendered page as its status and headers (a line of JSON) and then its body's
    bytes as sent: a hit reads a short line and hands the bytes on, decoding nothing."""
    body = response.get_data()
    # Set on g by generate_csrf() if the page rendered a form.
    token = g.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    has_token = bool(token) and token.encode() in body
    if has_token:
        body = body.replace(token.encode(), _CSRF_PLACEHOLDER_BYTES)
    headers = [[k, v] for k, v in response.headers.items() if k.lower() in _REPLAYED]
    meta = {"status": response.status_code, "headers": headers, "csrf": has_token}
    line = json.dumps(meta).encode()
    versioned_set(key, line + b"\n" + body, current_app.config["CACHE_PAGE_SECONDS"])
    return meta, body


def _stored_page(raw: bytes) -> tuple[dict, bytes]:
    line, _, body = raw.partition(b"\n")
    return json.loads(line), body


# -- built artefacts: the last one built, rebuilt off the request path ----------------------------


class NotBuiltYet(Exception):
    """No version of the artefact exists and another worker is still building the first."""


class Built:
    """A built artefact (a gzipped feed) with its ETag, the version it was built at, and
    when the data it shows last changed. Its bytes are in ``body`` (just built, or from
    Redis) or in ``file`` (an open file of the build on this host's disk), or neither (the
    client already has it: 304)."""

    __slots__ = ("body", "etag", "file", "last_modified", "version")

    def __init__(
        self,
        body: bytes | None,
        etag: str,
        version: str,
        last_modified: datetime | None,
        file: BinaryIO | None = None,
    ) -> None:
        self.body, self.etag, self.version, self.last_modified = body, etag, version, last_modified
        self.file = file

    @property
    def has_body(self) -> bool:
        return self.body is not None or self.file is not None

    def read(self) -> bytes:
        """The bytes, whole (tests, and callers that need them in memory; a file is read
        and closed)."""
        if self.body is None:
            if self.file is None:
                raise ValueError("no body: the client has this build")
            with self.file:
                self.body, self.file = self.file.read(), None
        return self.body

    def meta(self) -> dict:
        modified = self.last_modified.astimezone(UTC).isoformat() if self.last_modified else None
        return {"etag": self.etag, "version": self.version, "last_modified": modified}

    @classmethod
    def from_meta(cls, meta: dict) -> Built:
        modified = meta["last_modified"]
        return cls(
            None,
            meta["etag"],
            meta["version"],
            datetime.fromisoformat(modified) if modified else None,
        )


_Held = TypeVar("_Held")


class Verified(NamedTuple):
    """What a `feeds build` pass found: at `version`, the stored build of each name in
    `etags` (under that ETag) is the one a build at `version` would make (is_current)."""

    version: str
    etags: Mapping[str, str]


class Builds(Protocol[_Held]):
    """Where builds are kept (StoredBuilds, BuiltFiles); `_Held` is what its lock hands back
    for its unlock."""

    def meta(self, name: str) -> dict | None: ...
    def with_body(self, name: str, meta: Built) -> Built | None: ...
    def keep(self, name: str, built: Built) -> None: ...
    def keep_same(self, name: str, built: Built, source: str) -> bool: ...
    def verified(self) -> Verified | None: ...
    def keep_verified(self, verified: Verified) -> None: ...
    def renew(self, etags: Mapping[str, str]) -> None: ...
    def lock(self, name: str) -> _Held | None: ...
    def unlock(self, held: _Held) -> None: ...
    def clear(self) -> None: ...


class StoredBuilds:
    """Builds in the cache's Redis (one for every worker and host): the note (ETag,
    version) under the artefact's name, the body under its ETag; the lock a key set if
    absent."""

    def __init__(self, cache_store: Store) -> None:
        self.store = cache_store
        self._verified: tuple[bytes, Verified] | None = None

    def meta(self, name: str) -> dict | None:
        raw = self.store.get(cache_key("built", name))
        return None if raw is None else json.loads(raw)

    def with_body(self, name: str, meta: Built) -> Built | None:
        body = self.store.get(cache_key("built-body", name, meta.etag))
        if body is None:
            return None
        return Built(body, meta.etag, meta.version, meta.last_modified)

    def keep(self, name: str, built: Built) -> None:
        """Store a build: its body first, then the note that points readers at it."""
        ttl = current_app.config["FEED_KEEP_SECONDS"]
        self.store.set(cache_key("built-body", name, built.etag), built.read(), ttl)
        self.store.set(cache_key("built", name), json.dumps(built.meta()).encode(), ttl)

    def keep_same(self, name: str, built: Built, source: str) -> bool:
        """Store `built`'s note with the body kept under `source` for its ETag (its lifetime
        renewed); False if that body is gone."""
        body = self.store.get(cache_key("built-body", source, built.etag))
        if body is None:
            return False
        self.keep(name, Built(body, built.etag, built.version, built.last_modified))
        return True

    def verified(self) -> Verified | None:
        """The last pass's Verified: a short key (its version and a token) read each time,
        the ETags under the token read once per token and held by this process."""
        head = self.store.get(cache_key("verified"))
        if head is None:
            return None
        held = self._verified
        if held is not None and held[0] == head:
            return held[1]
        version, _, token = head.decode().rpartition("\n")
        etags = self.store.get(cache_key("verified-etags", token))
        if etags is None:
            return None
        found = Verified(version, json.loads(etags))
        self._verified = (head, found)
        return found

    def keep_verified(self, verified: Verified) -> None:
        """Store a pass's Verified: its ETags first, then the key that points at them."""
        ttl = current_app.config["FEED_KEEP_SECONDS"]
        token = secrets.token_hex(8)
        etags = json.dumps(dict(verified.etags)).encode()
        self.store.set(cache_key("verified-etags", token), etags, ttl)
        self.store.set(cache_key("verified"), f"{verified.version}\n{token}".encode(), ttl)

    def renew(self, etags: Mapping[str, str]) -> None:
        """A new lifetime for each named build's note and body (a build found unchanged is
        not stored again)."""
        keys = [cache_key("built", name) for name in etags]
        keys += [cache_key("built-body", name, etag) for name, etag in etags.items()]
        self.store.touch(keys, current_app.config["FEED_KEEP_SECONDS"])

    def lock(self, name: str) -> str | None:
        key = cache_key("lock", name)
        if self.store.add(key, b"1", current_app.config["FEED_BUILD_LOCK_SECONDS"]):
            return key
        return None

    def unlock(self, held: str) -> None:
        self.store.delete(held)

    def clear(self) -> None:
        """Nothing of its own: the builds are in the store, which clear() empties."""


class BuiltFiles:
    """Without Redis: each build as files in one folder (FEED_FILES_DIR, else
    instance/feeds) that every worker on the host reads, so a feed's megabytes live on disk
    and in the page cache, not once in each worker's heap, and one build serves every
    worker. Files are named by a digest of the artefact's name: ``<name>.json`` (ETag,
    version, Last-Modified) points at ``<name>.<etag>.gz`` (the ETag is made of the feed's
    version); both are written to a temporary file and renamed over the old one, so a
    reader sees a whole build or the previous one. A worker opens the body before it
    answers, so a newer build that removes it never cuts a response short. Files are
    created readable by this user only; no route serves the folder.

    The lock is ``flock`` on ``<name>.lock``: one build of an artefact at a time on the
    host, released by the kernel if its builder dies. Each build removes its artefact's
    older bodies, and any file not written for FEED_KEEP_SECONDS (the names change when a
    screening is hidden), so the folder holds about one build per feed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._verified: tuple[tuple[int, int, int], Verified] | None = None
        self.swept_at = 0.0  # when _sweep last removed the files unused for a time

    def _stem(self, name: str) -> str:
        return cache_key("built", name).rsplit(":", 1)[1]

    def meta(self, name: str) -> dict | None:
        try:
            return json.loads((self.folder / f"{self._stem(name)}.json").read_bytes())
        except (FileNotFoundError, ValueError):
            return None

    def with_body(self, name: str, meta: Built) -> Built | None:
        try:
            file = (self.folder / f"{self._stem(name)}.{meta.etag}.gz").open("rb")
        except FileNotFoundError:  # replaced by a newer build since the note was read
            return None
        return Built(None, meta.etag, meta.version, meta.last_modified, file=file)

    def keep(self, name: str, built: Built) -> None:
        stem = self._stem(name)
        body = f"{stem}.{built.etag}.gz"
        self._write(body, built.read())
        self._write(f"{stem}.json", json.dumps(built.meta()).encode())
        self._sweep(stem, body)

    def keep_same(self, name: str, built: Built, source: str) -> bool:
        """Write `built`'s note, its body the file kept under `source` for its ETag (linked
        under `name`'s if that is another, its time renewed so no sweep takes it); False if
        that file is gone."""
        body = self.folder / f"{self._stem(name)}.{built.etag}.gz"
        kept = self.folder / f"{self._stem(source)}.{built.etag}.gz"
        try:
            if kept == body:
                os.utime(kept)
            else:
                temporary = self.folder / f".{secrets.token_hex(8)}.tmp"
                os.link(kept, temporary)
                os.replace(temporary, body)
                os.utime(body)
        except FileNotFoundError:
            return False
        self._write(f"{self._stem(name)}.json", json.dumps(built.meta()).encode())
        return True

    def verified(self) -> Verified | None:
        """The last pass's Verified, from ``verified.json``: read again only when the file
        changed (its inode, time or size), else as this process holds it."""
        path = self.folder / _VERIFIED_FILE
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        token = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        held = self._verified
        if held is not None and held[0] == token:
            return held[1]
        try:
            raw = json.loads(path.read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        found = Verified(raw["version"], raw["etags"])
        self._verified = (token, found)
        return found

    def keep_verified(self, verified: Verified) -> None:
        data = {"version": verified.version, "etags": dict(verified.etags)}
        self._write(_VERIFIED_FILE, json.dumps(data).encode())

    def renew(self, etags: Mapping[str, str]) -> None:
        """Renew the time of each named build's note and body, so that no sweep takes a
        build found unchanged (it is not written again)."""
        for name, etag in etags.items():
            stem = self._stem(name)
            for path in (self.folder / f"{stem}.json", self.folder / f"{stem}.{etag}.gz"):
                with contextlib.suppress(FileNotFoundError):
                    os.utime(path)

    def _write(self, file_name: str, data: bytes) -> None:
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, self.folder / file_name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _sweep(self, stem: str, current: str) -> None:
        """Remove the artefact's other bodies (by their names: no stat) and, at most once a
        minute (the stat of every file was a tenth of a pass that built 9 of 759 feeds),
        every file unused for FEED_KEEP_SECONDS, in one scandir."""
        now = time.time()
        oldest = now - current_app.config["FEED_KEEP_SECONDS"]
        aged = now - self.swept_at >= _SWEEP_SECONDS
        if aged:
            self.swept_at = now
        with os.scandir(self.folder) as entries:
            for entry in entries:
                name = entry.name
                try:
                    old_body = name.startswith(f"{stem}.") and name.endswith(".gz")
                    if (old_body and name != current) or (aged and entry.stat().st_mtime < oldest):
                        os.unlink(entry.path)
                except FileNotFoundError:
                    continue

    def lock(self, name: str) -> int | None:
        handle = os.open(self.folder / f"{self._stem(name)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            return None
        os.utime(handle)  # in use: not swept
        return handle

    def unlock(self, held: int) -> None:
        os.close(held)  # closing releases the flock

    def clear(self) -> None:
        for path in self.folder.iterdir():
            if path.suffix != ".lock":
                path.unlink(missing_ok=True)


_VERIFIED_FILE = "verified.json"  # BuiltFiles: the last pass's Verified
_SWEEP_SECONDS = 60  # BuiltFiles: how often a build removes the files unused for a time

# Background builds of this process, by artefact name (tests wait for them).
_builds: dict[str, threading.Thread] = {}


def latest_built(
    name: str,
    version: tuple,
    build: Callable[[], Built],
    *,
    etag_known: Callable[[str], bool] | None = None,
) -> Built:
    """The artefact `name` as last built: at `version` if it has been built, else the
    previous build while a background thread builds this one (stale-while-revalidate; one
    build of an artefact at a time on all workers sharing the store). With no build at all,
    one request builds it and the others wait (NotBuiltYet after FEED_WAIT_SECONDS).

    With FEED_BUILDER_RUNS the stale build is served and no rebuild started: the builder
    process (`flask feeds build --watch`) stores the next.

    If `etag_known(etag)` says the client has the build's ETag, its body is not fetched
    (``has_body`` is False): the caller answers 304."""
    found = built_meta(name)
    if found is not None:
        if not current_app.config["FEED_BUILDER_RUNS"] and not is_current(name, found, version):
            _rebuild_in_background(name, build)
        if etag_known is not None and etag_known(found.etag):
            return found
        found = builds().with_body(name, found)
        if found is not None:
            return found
    held = builds().lock(name)
    if held is not None:
        try:
            return _build_and_keep(name, build)
        finally:
            builds().unlock(held)
    deadline = time.monotonic() + current_app.config["FEED_WAIT_SECONDS"]
    while time.monotonic() < deadline:
        time.sleep(0.05)
        found = built_meta(name)
        found = found and builds().with_body(name, found)
        if found is not None:
            return found
    raise NotBuiltYet(name)


def build_unless_busy(name: str, build: Callable[[], Built]) -> Built | None:
    """Build and store now unless another worker holds the artefact's lock (the
    `feeds build` command): the build, or None if another was building it."""
    held = builds().lock(name)
    if held is None:
        return None
    try:
        return _build_and_keep(name, build)
    finally:
        builds().unlock(held)


def is_current(name: str, found: Built, version: tuple) -> bool:
    """Whether `found`, the stored build of `name`, is the one a build at `version` would
    make: built at it, or found so at it by the last `feeds build` pass (keep_verified,
    under the same ETag; a pass stores no note for a build it found unchanged)."""
    if found.version == repr(version):
        return True
    verified = builds().verified()
    return (
        verified is not None
        and verified.version == repr(version)
        and verified.etags.get(name) == found.etag
    )


def verified_builds() -> Verified | None:
    """What the last `feeds build` pass recorded (keep_verified), if it is still kept."""
    return builds().verified()


def keep_verified(version: tuple, etags: Mapping[str, str]) -> None:
    """Record, once for a whole pass, that at `version` each named build (by its ETag) is
    the one a build now would make: call it only after every one of them was checked or
    built from data read at `version` or later (a change committed since has raised the
    version, so nothing of it is vouched for)."""
    builds().keep_verified(Verified(repr(version), dict(etags)))


def renew_builds(etags: Mapping[str, str]) -> None:
    """A new lifetime (FEED_KEEP_SECONDS) for these builds, found unchanged and therefore
    not stored again."""
    builds().renew(etags)


def built_meta(name: str) -> Built | None:
    """The stored build's ETag, version and Last-Modified, without its body."""
    meta = builds().meta(name)
    return None if meta is None else Built.from_meta(meta)


def keep_unchanged(name: str, built: Built, source: str | None = None) -> bool | None:
    """Store `built`'s note (a newer version, the same ETag) under `name`, its body the one
    already kept under `source` (`name` by default: the body of a build whose bytes would
    not change is neither rebuilt nor written again). True if kept; False if that body is
    gone (build it); None if another worker holds the artefact's lock."""
    held = builds().lock(name)
    if held is None:
        return None
    try:
        return builds().keep_same(name, built, source or name)
    finally:
        builds().unlock(held)


def keep_built(name: str, built: Built) -> None:
    """Store a build where every worker finds it (Redis, or this host's files)."""
    builds().keep(name, built)


def _build_and_keep(name: str, build: Callable[[], Built]) -> Built:
    built = build()
    keep_built(name, built)
    return built


def _rebuild_in_background(name: str, build: Callable[[], Built]) -> None:
    held = builds().lock(name)
    if held is None:
        return  # someone, somewhere, is building it
    app = app_object()

    def run() -> None:
        try:
            with app.app_context():
                _build_and_keep(name, build)
        except Exception:
            log.exception("building %s failed", name)
        finally:
            with app.app_context():
                builds().unlock(held)

    thread = threading.Thread(target=run, name=f"build {name}", daemon=True)
    _builds[name] = thread
    thread.start()


def wait_for_builds(timeout: float = 30) -> None:
    """Wait for this process's background builds (tests; the `feeds build` command)."""
    for thread in list(_builds.values()):
        thread.join(timeout)
    _builds.clear()


# -- hits answered before Flask's request machinery ----------------------------------------------


# A view's own answer for the front (answered_at_the_front): (status, headers, body) or None.
Answer = tuple[int, list[tuple[str, str]], bytes]
CachedAnswer = Callable[[Request, Mapping[str, Any], str], Answer | None]

# What CachedPagesFront may answer, by view function: the version of a page `cached_page`
# caches for anyone, and a view's own answer (answered_at_the_front).
_front_versions: dict[Callable[..., Any], Callable[..., tuple | None]] = {}
_front_answers: dict[Callable[..., Any], CachedAnswer] = {}


def _marked(
    marks: dict[Callable[..., Any], _Mark], view: Callable[..., Any] | None
) -> _Mark | None:
    """The mark of a view function, or of any function it wraps (a rate limit, a login check:
    the decorators above `cached_page` wrap its function with functools.wraps)."""
    if view is None:
        return None
    return marks.get(unwrap(view, stop=marks.__contains__))


def answered_at_the_front(view: Callable[..., Any], answer: CachedAnswer) -> None:
    """Have CachedPagesFront answer `view`'s cache hits with `answer(request, view_args,
    language)` (status, headers, body, or None to go on to Flask): for a view whose answer is
    not a page that `cached_page` stores (a screening's .ics, a public feed's 304)."""
    _front_answers[view] = answer


class CachedPagesFront:
    """WSGI: a public page's cache hit for a visitor who sends no cookie at all, answered
    before Flask opens a session, loads a user, runs its hooks or picks a language.

    Without a cookie there is no session: no login, no remember cookie, no language chosen
    with the switcher, no flashed message. Such a visitor is anonymous and their language is
    their browser's, so the page is exactly the one `cached_page` would serve, under the same
    key (page_key). Anything else (another method, any Cookie header, a page not cached yet, a
    page not marked by `cached_page`, the cache off) goes on to Flask unchanged. A view whose
    answer is not a page (a screening's .ics, a public feed's 304) gives its own
    (answered_at_the_front). A page with a form gets a new session cookie with its own CSRF
    token (_with_new_form_token).

    Placed inside SecurityHeaders, so a hit carries the same security headers as every
    answer. It skips the rate limiter: a cached page is never limited on GET.
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app, self.wsgi_app = app, wsgi_app
        self._versions: dict[str, Callable[..., tuple | None]] | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or "HTTP_COOKIE" in environ
            or not self.app.config["PAGE_CACHE_ENABLED"]
        ):
            return self.wsgi_app(environ, start_response)
        answer = self._hit(environ)
        if answer is None:
            return self.wsgi_app(environ, start_response)
        status, headers, body = answer
        start_response(status, headers)
        return [body]

    def versions(self) -> dict[str, Callable[..., tuple | None]]:
        """Each endpoint `cached_page` caches for anyone, with its version function."""
        if self._versions is None:
            self._versions = {
                endpoint: version
                for endpoint, view in self.app.view_functions.items()
                if (version := _marked(_front_versions, view)) is not None
            }
        return self._versions

    def _hit(self, environ: WSGIEnvironment) -> tuple[str, list[tuple[str, str]], bytes] | None:
        app = self.app
        request = app.request_class(environ)
        adapter = app.create_url_adapter(request)
        if adapter is None:
            return None
        try:
            endpoint, view_args = adapter.match()
        except Exception:  # a redirect, a 404, an untrusted host: Flask answers it
            return None
        view = app.view_functions.get(endpoint)
        answer_of = _marked(_front_answers, view)
        if answer_of is not None:
            return self._answer(request, answer_of, view_args, _browser_language(environ))
        version = self.versions().get(endpoint)
        if version is None:
            return None
        language = _browser_language(environ)
        # A fresh application context, as under a server: a test's outlives its requests.
        with app.app_context():
            try:
                numbers = version(**view_args)
            except SQLAlchemyError:  # the database is down: Flask answers its 503 page
                return None
            if numbers is None:
                return None
            raw = versioned_get(page_key(None, request.full_path, language, numbers))
            if raw is None:
                return None
            meta, body = _stored_page(raw)
            headers = [(name, value) for name, value in meta["headers"]]
            if meta["csrf"]:
                body, cookies = _with_new_form_token(app, body)
                headers.extend(("Set-Cookie", cookie) for cookie in cookies)
        headers += [
            ("Content-Length", str(len(body))),
            ("Vary", "Accept-Language, Cookie"),  # what the slow path says: it reads the session
            ("X-Cache", "hit"),
        ]
        return _status_line(meta["status"]), headers, body

    def _answer(
        self,
        request: Request,
        answer_of: CachedAnswer,
        view_args: Mapping[str, Any],
        language: str,
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """A view's own cached answer (answered_at_the_front): `answer_of(request, view_args,
        language)` gives (status, headers, body) or None, for a view whose answer is not a
        page (a screening's .ics, a feed's 304)."""
        with self.app.app_context():
            try:
                found = answer_of(request, view_args, language)
            except SQLAlchemyError:
                return None
        if found is None:
            return None
        code, headers, body = found
        headers = [
            # As Flask says: its answer read the session (the language), so it varies by Cookie.
            (name, f"{value}, Cookie" if name == "Vary" else value)
            for name, value in headers
        ]
        if code != 304:
            headers.append(("Content-Length", str(len(body))))
        return _status_line(code), headers, body


def _browser_language(environ: WSGIEnvironment) -> str:
    """The language a visitor without a session reads: their browser's best match."""
    from . import browser_language  # noqa: PLC0415 (the package imports this module)

    return browser_language(environ.get("HTTP_ACCEPT_LANGUAGE", ""))


def _status_line(code: int) -> str:
    """WSGI's status line, as Werkzeug writes it ("304 NOT MODIFIED")."""
    return f"{code} {HTTP_STATUS_CODES[code].upper()}"


def _with_new_form_token(app: Flask, body: bytes) -> tuple[bytes, list[str]]:
    """The page with a new visitor's CSRF token, and the Set-Cookie of their new session
    holding it. The token is made as Flask-WTF's generate_csrf makes it for a session without
    one (a random value kept in the session, sent signed), without the request context
    generate_csrf needs; the cookie as Flask's session interface writes it (_session_cookie).
    A form posted with them is accepted (tests/test_page_cache.py)."""
    config = app.config
    field = config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
    secret = config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    if secret is None:  # config.py always sets one (and production refuses the default)
        raise RuntimeError("no SECRET_KEY: a form token cannot be signed")
    interface = app.session_interface
    if not isinstance(interface, SecureCookieSessionInterface):  # the factory's always is
        raise RuntimeError("a new form token needs Flask's signed-cookie sessions")
    new_session = interface.session_class()
    # 160 random bits as 40 hex digits, the shape of Flask-WTF's sha1(os.urandom(64)) value.
    new_session[field] = secrets.token_hex(20)
    token = _csrf_serializer(secret).dumps(new_session[field])
    cookie = _session_cookie(app, interface, new_session)
    return body.replace(_CSRF_PLACEHOLDER_BYTES, token.encode()), [cookie]


@lru_cache(maxsize=8)
def _csrf_serializer(secret: str | bytes) -> URLSafeTimedSerializer:
    """Flask-WTF's token serializer for a secret, built once (a tenth of a hit's token)."""
    return URLSafeTimedSerializer(secret, salt="wtf-csrf-token")


def _session_cookie(
    app: Flask, interface: SecureCookieSessionInterface, new_session: SessionMixin
) -> str:
    """The Set-Cookie header that `interface.save_session` writes for a new session, by the
    same calls with the same arguments, without the response object it writes it on (a
    fifth of a hit's token and cookie went on that object; tests/test_page_cache.py compares
    the two headers)."""
    serializer = interface.get_signing_serializer(app)
    if serializer is None:  # no secret key: _with_new_form_token has refused already
        raise RuntimeError("no SECRET_KEY: a session cannot be signed")
    return dump_cookie(
        interface.get_cookie_name(app),
        serializer.dumps(dict(new_session)),
        expires=interface.get_expiration_time(app, new_session),
        path=interface.get_cookie_path(app),
        domain=interface.get_cookie_domain(app),
        secure=interface.get_cookie_secure(app),
        httponly=interface.get_cookie_httponly(app),
        samesite=interface.get_cookie_samesite(app),
        partitioned=interface.get_cookie_partitioned(app),
        max_size=app.config["MAX_COOKIE_SIZE"],  # what a Flask response passes
    )
