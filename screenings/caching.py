"""What public pages and feeds are cached under: version stamps, and the rendered-page cache.

A version stamp is a tuple read from the database in one query over indexes (the latest
change of any screening, RSVP, …). A worker trusts the last stamp it read for
``CACHE_STAMP_TTL`` seconds (default 1; 0 under test) before asking again, and forgets it at
once when it commits a change itself. So a busy page or feed costs no query at all, and a
change made in another worker shows within that second. Anything cached under a stamp is
never served once the stamp has moved on.

Rendered pages are cached by URL, language and stamp: public pages for anonymous visitors
only, the producer's dashboard per logged-in producer; never while a flashed message waits.
A page's CSRF token belongs to its visitor's session, so the cached copy holds a placeholder
and each visitor gets their own token.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, request, session
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from sqlalchemy import event

from .extensions import db

# -- version stamps ------------------------------------------------------------------------------

# By engine (one per app), then by stamp name: (monotonic time read, stamp).
_stamps: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def stamp(name: str, read: Callable[[], tuple]) -> tuple:
    """The stamp `read()` returns, reused for up to CACHE_STAMP_TTL seconds in this worker."""
    ttl = stamp_ttl(current_app.config)
    engine = db.engine
    known = _stamps.get(engine)
    now = time.monotonic()
    if ttl and known is not None:
        cached = known.get(name)
        if cached is not None and now - cached[0] < ttl:
            return cached[1]
    value = read()
    if known is None:
        known = _stamps.setdefault(engine, {})
    known[name] = (now, value)
    return value


def stamp_ttl(config) -> float:
    """CACHE_STAMP_TTL, defaulting to one second (none under test, where data changes fast)."""
    ttl = config.get("CACHE_STAMP_TTL")
    if ttl is None:
        ttl = 0 if config.get("TESTING") else 1.0
    return ttl


def forget_stamps() -> None:
    """Drop this worker's stamps: the next request reads them afresh (after our own commit)."""
    for known in list(_stamps.values()):
        known.clear()  # emptied in place: RepeatedRevalidation holds these dicts too


_listening = False


def init_caching() -> None:
    """After any commit in this worker, re-read the stamps, so its own changes show at once."""
    global _listening
    if _listening:  # the scoped session is shared by every app a process creates
        return
    _listening = True
    event.listen(db.session, "after_commit", lambda _session: forget_stamps())


# -- rendered pages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedPage:
    body: str
    status: int
    headers: tuple[tuple[str, str], ...]
    has_csrf_token: bool


# Stands where the visitor's CSRF token goes in a cached page; never a valid token itself.
CSRF_PLACEHOLDER = "\x00csrf-token\x00"


class VersionedCache:
    """Values by key, the key's last element being the version stamp the value was made
    under. A value of a newer version replaces the older ones at once (they are never served
    again); past `max_bytes` (as `size_of` counts) the least recently used go first.
    Shared by a worker's threads."""

    def __init__(self, max_bytes: int, size_of: Callable[[object], int] = len) -> None:
        self.max_bytes = max_bytes
        self.size_of = size_of
        self.size = 0
        self.items: OrderedDict[tuple, object] = OrderedDict()
        self.newest: dict[tuple, tuple] = {}  # key without its version -> the full key
        self.lock = threading.Lock()

    def get(self, key: tuple):
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: tuple, value) -> None:
        with self.lock:
            older = self.newest.get(key[:-1])
            if older is not None:
                self._drop(older)
            self._drop(key)
            self.items[key] = value
            self.newest[key[:-1]] = key
            self.size += self.size_of(value)
            while self.size > self.max_bytes and self.items:
                self._drop(next(iter(self.items)))

    def _drop(self, key: tuple) -> None:
        value = self.items.pop(key, None)
        if value is not None:
            self.size -= self.size_of(value)
            if self.newest.get(key[:-1]) == key:
                del self.newest[key[:-1]]

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.newest.clear()
            self.size = 0


# Rendered pages by (base URL, user, URL, language, stamp).
page_cache = VersionedCache(32 << 20, size_of=lambda page: len(page.body))

# Headers a view sets that belong to the page, not to one visitor's response.
_REPLAYED = frozenset({"content-type", "cache-control", "content-security-policy"})


def _anonymous() -> bool:
    remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    return "_user_id" not in session and remember_cookie not in request.cookies


def cached_page(version: Callable[[], tuple], *, per_user: bool = False):
    """Serve a GET from the page cache while `version()` holds.

    Public pages (the default) are cached for anonymous visitors only; a page `per_user` (the
    producer's, behind login) is cached for each logged-in user separately. A visitor with a
    flashed message waiting always gets a fresh page.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if (
                request.method != "GET"
                or not current_app.config["PAGE_CACHE_ENABLED"]
                or "_flashes" in session
                or (not per_user and not _anonymous())
            ):
                return view(*args, **kwargs)
            key = (
                current_app.config["PUBLIC_BASE_URL"],
                session.get("_user_id") if per_user else None,
                request.full_path,
                str(get_locale()),
                version(),
            )
            page = page_cache.get(key)
            if page is None:
                response = current_app.make_response(view(*args, **kwargs))
                if response.status_code != 200 or response.is_streamed:
                    return response
                page = _remember(key, response)
            body = page.body
            if page.has_csrf_token:
                body = body.replace(CSRF_PLACEHOLDER, generate_csrf())
            response = current_app.response_class(body, page.status, page.headers)
            response.vary.add("Accept-Language")
            return response

        return wrapper

    return decorator


def _remember(key: tuple, response) -> CachedPage:
    body = response.get_data(as_text=True)
    # Set on g by generate_csrf() if the page rendered a form.
    token = g.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    has_token = bool(token) and token in body
    if has_token:
        body = body.replace(token, CSRF_PLACEHOLDER)
    headers = tuple((k, v) for k, v in response.headers.items() if k.lower() in _REPLAYED)
    page = CachedPage(body, response.status_code, headers, has_token)
    page_cache.put(key, page)
    return page


# -- conditional GETs answered before Flask runs -------------------------------------------------

_REVALIDATE = "screenings.revalidate"


def answer_repeats_with_304(stamp_name: str, version: tuple) -> None:
    """Let RepeatedRevalidation replay this request's 304 while the stamp `version` holds."""
    known = _stamps.get(db.engine)
    if known is not None:
        request.environ[_REVALIDATE] = (known, stamp_name, version)


class RepeatedRevalidation:
    """WSGI middleware: a conditional GET the app has just answered with 304 is answered
    again, identically, without running the app, while the same version stamp holds.

    A calendar subscribed to a feed asks "changed?" every few minutes; that answer is the
    busiest the app gives. Only requests without cookies are taken (nothing personal can
    vary), keyed by everything a feed's answer depends on: path, query, Accept-Language,
    Accept-Encoding and the If-None-Match asked. The stamp is checked as `stamp()` would:
    read less than CACHE_STAMP_TTL seconds ago and unchanged; otherwise the app answers.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, wsgi_app, config) -> None:
        self.wsgi_app = wsgi_app
        self.config = config
        self.answers: dict[tuple, tuple] = {}

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_COOKIE" in environ:
            return self.wsgi_app(environ, start_response)
        key = (
            environ.get("PATH_INFO"),
            environ.get("QUERY_STRING"),
            environ.get("HTTP_ACCEPT_LANGUAGE"),
            environ.get("HTTP_ACCEPT_ENCODING"),
            environ.get("HTTP_IF_NONE_MATCH"),
        )
        if key[-1] is None:
            return self.wsgi_app(environ, start_response)
        answer = self.answers.get(key)
        if answer is not None:
            known, name, version, headers = answer
            cell = known.get(name)
            ttl = stamp_ttl(self.config)
            if cell is not None and cell[1] == version and time.monotonic() - cell[0] < ttl:
                start_response("304 NOT MODIFIED", list(headers))
                return []

        def remember_304(status, headers, exc_info=None):
            opted_in = environ.get(_REVALIDATE)
            if opted_in is not None and status.startswith("304"):
                if len(self.answers) >= self.MAX_ENTRIES:
                    self.answers.clear()
                self.answers[key] = (*opted_in, tuple(headers))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, remember_304)
