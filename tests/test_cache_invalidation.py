"""Caches never lie: every change shows on every worker at once (issue 15's stale cases).

A "worker" here is a second app instance on the same database: its own engine, its own
session and (without Redis) its own in-process cache, as a gunicorn worker or another host.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import zlib
from datetime import timedelta

import pytest
import redis
from sqlalchemy import select

from screenings import caching, create_app
from screenings.extensions import db as _db
from screenings.models import Rsvp, Screening, utcnow
from screenings.services import rsvps as rsvp_service
from screenings.services.films import seed_catalogue
from screenings.services.privacy import erase_attendee

from .conftest import app_config, dispose_app_engine
from .factories import ScreeningFactory
from .producer_helpers import count_queries
from .rsvp_helpers import post_rsvp, reply

REDIS_URL = "redis://127.0.0.1:6379/0"


def seats_left(client, screening_id: int) -> int:
    page = client.get(f"/screenings/{screening_id}").get_data(as_text=True)
    return int(re.search(r'class="seats-left">(\d+)<', page).group(1))


def _worker(database_uri, smtp_server):
    """An app on the test's database whose requests each get a session of their own (the
    `app` fixture's session lives through the test, with its identity map)."""
    return create_app(app_config(database_uri, smtp_server.port))


@pytest.fixture
def worker(database_uri, smtp_server, app):
    """The worker whose pages are read (and cached) in these tests."""
    return _worker(database_uri, smtp_server)


@pytest.fixture
def other_worker(database_uri, smtp_server, app):
    """A second app on the same database, as another worker or another host would be."""
    return _worker(database_uri, smtp_server)


def test_erasing_an_older_rsvp_shows_at_once_on_every_worker(worker, db, other_worker):
    client = worker.test_client()
    screening = ScreeningFactory(capacity=40)
    older = reply(screening, email="older@example.org", party_size=1)
    reply(screening, email="newer@example.org", party_size=3)
    assert seats_left(client, screening.id) == 36
    with other_worker.app_context():
        erase_attendee(_db.session.get(Rsvp, older.id), actor="test")
    # A delete moves no maximum: the old stamp kept saying 36.
    assert seats_left(client, screening.id) == 37
    assert seats_left(other_worker.test_client(), screening.id) == 37


def test_a_host_whose_clock_is_behind_still_shows_and_publishes_its_edits(worker, db, other_worker):
    client = worker.test_client()
    ahead = ScreeningFactory(venue_name="Ahead Hall")
    behind = ScreeningFactory(venue_name="Old Hall", organization_name="Old Society")
    for url in (f"/screenings/{behind.id}", "/calendar.ics"):
        assert "Old Hall" in client.get(url).get_data(as_text=True)
    assert "Old Society" in client.get("/screenings").get_data(as_text=True)
    ahead.venue_name = "Ahead Hall (moved)"
    db.session.commit()  # this host's clock: now
    with other_worker.app_context():
        row = _db.session.get(Screening, behind.id)
        row.venue_name, row.organization_name = "New Hall", "New Society"
        row.updated_at = utcnow() - timedelta(seconds=2)  # what a clock 2 s behind writes
        _db.session.commit()
    assert "New Hall" in client.get(f"/screenings/{behind.id}").get_data(as_text=True)
    assert "New Society" in client.get("/screenings").get_data(as_text=True)
    client.get("/calendar.ics")  # the last build, while the new one is made
    caching.wait_for_builds()
    assert "New Hall" in client.get("/calendar.ics").get_data(as_text=True)
    assert "New Hall" in other_worker.test_client().get("/calendar.ics").get_data(as_text=True)


@pytest.fixture
def pg_app(database_uri, postgres_uri, smtp_server):
    """An app on PostgreSQL (the suite's own database when it runs on PostgreSQL)."""
    uri = database_uri if database_uri.startswith("postgresql") else postgres_uri
    app = create_app(app_config(uri, smtp_server.port, OUTBOX_DELIVER_IN_BACKGROUND=False))
    with app.app_context():
        if not database_uri.startswith("postgresql"):
            _db.create_all()
            seed_catalogue()
        yield app
        _db.session.remove()


@pytest.fixture
def pg_reader(pg_app, smtp_server):
    """Another worker on pg_app's database, whose requests each have their own session."""
    return create_app(app_config(pg_app.config["SQLALCHEMY_DATABASE_URI"], smtp_server.port))


def test_two_overlapping_rsvps_on_postgresql_give_the_right_count(pg_app, pg_reader, monkeypatch):
    """The first RSVP flushes first and commits last; a page cached between the two commits
    must not outlive the first one."""
    first_screening = ScreeningFactory(capacity=40)
    second_screening = ScreeningFactory(capacity=40)
    flushed, go_on = threading.Event(), threading.Event()
    real_send = rsvp_service.emails.send_rsvp_confirmed

    def send(row, **kwargs):  # runs after the RSVP's flush, before its commit
        real_send(row, **kwargs)
        if threading.current_thread().name == "first":
            flushed.set()
            go_on.wait(10)

    monkeypatch.setattr(rsvp_service.emails, "send_rsvp_confirmed", send)

    def first_rsvp():
        with pg_app.app_context():
            reply(_db.session.get(Screening, first_screening.id), party_size=3)

    thread = threading.Thread(target=first_rsvp, name="first")
    thread.start()
    assert flushed.wait(10)
    reply(second_screening, party_size=1)  # flushes second, commits first
    visitor = pg_reader.test_client()
    assert seats_left(visitor, first_screening.id) == 40  # the first is not committed yet
    go_on.set()
    thread.join(10)
    assert seats_left(visitor, first_screening.id) == 37
    assert seats_left(visitor, second_screening.id) == 39


def test_a_change_is_visible_to_every_worker_with_the_next_request(worker, db, other_worker):
    """The bound the README states: no lifetime; the first request after the commit."""
    screening = ScreeningFactory(capacity=40)
    client, elsewhere = worker.test_client(), other_worker.test_client()
    lags = []
    for n in range(1, 11):
        assert seats_left(client, screening.id) == 41 - n
        assert seats_left(elsewhere, screening.id) == 41 - n
        assert (
            post_rsvp(other_worker.test_client(), screening, email=f"a{n}@example.org").status_code
            == 302
        )
        committed = time.perf_counter()
        assert seats_left(client, screening.id) == 40 - n  # the other worker's change
        lags.append(time.perf_counter() - committed)
    print(f"\nvisible on the other worker {max(lags) * 1000:.1f} ms after the commit at most")


def test_an_unchanged_page_costs_one_query_and_a_change_costs_a_render(worker, db):
    client = worker.test_client()
    screening = ScreeningFactory(capacity=40)

    def queries(url: str) -> int:
        with worker.app_context(), count_queries() as statements:  # the worker's engine
            assert client.get(url).status_code == 200
        return len(statements)

    for url in ("/screenings", f"/screenings/{screening.id}", "/"):
        client.get(url)
        assert queries(url) == 1, url  # the key's numbers, nothing else
    reply(screening, party_size=2)
    assert queries(f"/screenings/{screening.id}") > 1
    assert seats_left(client, screening.id) == 38


def test_counters_are_raised_by_inserts_updates_and_deletes(app, db):
    def counters():
        return {name: caching.counter_version(name)[1] for name in ("listing", "feeds")}

    screening = ScreeningFactory()
    before = counters()
    rsvp = reply(screening)
    after_insert = counters()
    assert after_insert["listing"] == before["listing"] + 1
    assert after_insert["feeds"] == before["feeds"]  # a feed shows no seats
    db.session.delete(db.session.get(Rsvp, rsvp.id))  # a plain ORM delete, no service
    db.session.commit()
    assert counters()["listing"] == after_insert["listing"] + 1
    version = caching.screening_version(screening.id)
    screening.city = "Montreal"
    db.session.commit()
    assert caching.screening_version(screening.id) != version
    assert counters()["feeds"] == after_insert["feeds"] + 1
    db.session.execute(select(Screening.id))  # a read raises nothing
    db.session.commit()
    assert counters()["feeds"] == after_insert["feeds"] + 1


def test_a_film_edit_changes_its_screenings_pages(worker, db):
    client = worker.test_client()
    screening = ScreeningFactory()
    assert "Steadfast" not in client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    screening.film.synopsis = "Steadfast."
    db.session.commit()
    assert "Steadfast" in client.get(f"/screenings/{screening.id}").get_data(as_text=True)


# ---------------------------------------------------------------- one store for all workers
@pytest.fixture
def redis_prefix():
    """A key prefix of this run's own; its keys are deleted after (never FLUSHDB)."""
    prefix = f"screenings-test-{secrets.token_hex(6)}"
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    yield prefix
    for key in connection.scan_iter(match=f"{prefix}:*"):
        connection.delete(key)


@pytest.mark.usefixtures("db")
def test_two_workers_share_one_redis(database_uri, smtp_server, app, redis_prefix):
    shared = {"CACHE_REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": redis_prefix}
    one, two = (create_app(app_config(database_uri, smtp_server.port, **shared)) for _ in range(2))
    with one.app_context():
        screening_id = ScreeningFactory(capacity=40).id
    assert seats_left(one.test_client(), screening_id) == 40
    with two.app_context(), count_queries() as statements:
        assert seats_left(two.test_client(), screening_id) == 40
    assert len(statements) == 1  # the key's numbers; the page came from the first worker
    with two.app_context():
        post_rsvp(two.test_client(), _db.session.get(Screening, screening_id), party_size=4)
    assert seats_left(one.test_client(), screening_id) == 36
    keys = redis.Redis.from_url(REDIS_URL).keys(f"{redis_prefix}:*")
    assert keys
    assert all(redis.Redis.from_url(REDIS_URL).ttl(key) > 0 for key in keys)


@pytest.mark.usefixtures("db")
def test_a_worker_serves_its_copy_of_a_page_without_redis_and_never_an_old_one(
    database_uri, smtp_server, app, redis_prefix
):
    """With Redis, a worker keeps a copy of each page it read there (caching.versioned_get):
    the key names the page's exact version, so the copy is served without asking Redis
    (here, after Redis lost it), and a change, read from the database, makes a new page."""
    shared = {"CACHE_REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": redis_prefix}
    one, two = (create_app(app_config(database_uri, smtp_server.port, **shared)) for _ in range(2))
    with one.app_context():
        screening_id = ScreeningFactory(capacity=40).id
    url = f"/screenings/{screening_id}"
    assert seats_left(one.test_client(), screening_id) == 40  # rendered, stored in Redis
    assert two.test_client().get(url).headers["X-Cache"] == "hit"  # from Redis, copied
    connection = redis.Redis.from_url(REDIS_URL)
    pages = list(connection.scan_iter(match=f"{redis_prefix}:page:*"))
    assert pages
    connection.delete(*pages)
    answer = two.test_client().get(url)
    assert answer.headers["X-Cache"] == "hit"  # its own copy: Redis has none
    assert 'class="seats-left">40<' in answer.get_data(as_text=True)
    with one.app_context():
        post_rsvp(one.test_client(), _db.session.get(Screening, screening_id), party_size=4)
    assert seats_left(two.test_client(), screening_id) == 36  # a new version: never the copy
    assert seats_left(one.test_client(), screening_id) == 36


@pytest.mark.usefixtures("db")
def test_two_workers_share_the_feeds_kept_events(
    database_uri, smtp_server, app, redis_prefix, monkeypatch
):
    """A feed rebuilt on another worker or host makes only the changed event (Redis)."""
    from screenings import calendar
    from screenings.services import feeds
    from screenings.services.listings import Filters

    shared = {"CACHE_REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": redis_prefix}
    one, two = (create_app(app_config(database_uri, smtp_server.port, **shared)) for _ in range(2))
    with one.app_context():
        changed_id = ScreeningFactory(venue_name="Old Hall").id
        ScreeningFactory()
        feeds.build_feed("screenings-en", "Screenings", Filters())
        screening = _db.session.get(Screening, changed_id)
        screening.venue_name = "New Hall"
        _db.session.commit()
    made: list[int] = []
    real = calendar.published_event
    monkeypatch.setattr(
        calendar, "published_event", lambda s, **kw: made.append(s.id) or real(s, **kw)
    )
    with two.app_context():
        built = feeds.build_feed("screenings-en", "Screenings", Filters())
    assert made == [changed_id]
    assert b"New Hall" in zlib.decompress(built.body, wbits=31)


def test_the_memory_store_keeps_to_its_size_and_refuses_large_values():
    store = caching.MemoryStore(max_bytes=1000, max_value_bytes=300)
    for n in range(10):
        store.set(f"k{n}", b"x" * 200, ttl=60)
    assert sum(len(v) for v in store.items.values()) <= 1000
    assert store.get("k9") is not None
    assert store.get("k0") is None
    store.set("big", b"x" * 301, ttl=60)
    assert store.get("big") is None
    assert store.add("lock", b"1", ttl=60)
    assert not store.add("lock", b"1", ttl=60)


def test_a_bulk_delete_of_screenings_moves_the_feeds_stored_name(app, db):
    """A DELETE statement (not a flushed delete) withdraws screenings too: a feed built
    before it must never be served again, so its stored name changes in the same commit."""
    from sqlalchemy import delete

    from screenings.services import feeds

    before = feeds.stored_name("screenings-en")
    db.session.execute(delete(Screening).where(Screening.id == -1))
    db.session.commit()
    assert feeds.stored_name("screenings-en") != before


@pytest.mark.usefixtures("db")
def test_with_redis_a_pass_vouches_for_the_feeds_it_left_alone(
    database_uri, smtp_server, app, redis_prefix
):
    """StoredBuilds: after a change the pass stores only the builds of the feeds that list
    it; the others' notes stay as they were, current through the pass's one note (its ETags
    under a token, with a lifetime), on another worker too."""
    from screenings.services import feeds

    shared = {"CACHE_REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": redis_prefix}
    builder, web = (
        create_app(app_config(database_uri, smtp_server.port, **shared)) for _ in range(2)
    )
    with builder.app_context():
        changed_id = ScreeningFactory(venue_name="Old Hall").id
        ScreeningFactory(country="FR", city="Paris", timezone="Europe/Paris")
        passes = feeds.FeedPasses()
        passes.run()
        france = feeds.stored_name("country-fr-en")
        note_before = caching.builds().meta(france)
        _db.session.get(Screening, changed_id).venue_name = "New Hall"
        _db.session.commit()
        assert passes.run() > 0
        assert caching.builds().meta(france) == note_before  # not written again
    with web.app_context():
        name_stored, version = feeds.feed_state("country-fr-en")
        meta = caching.built_meta(name_stored)
        assert meta.version != repr(version)
        assert caching.is_current(name_stored, meta, version)
        everything, version = feeds.feed_state("screenings-en")
        assert caching.built_meta(everything).version == repr(version)  # built again
    connection = redis.Redis.from_url(REDIS_URL)
    marks = connection.keys(f"{redis_prefix}:verified*")
    assert len(marks) >= 2
    assert all(connection.ttl(key) > 0 for key in marks)
    # Each app's session first, then its pool: on PostgreSQL a pass's connection left to
    # the garbage collector warned "deleted while still open" in a later test.
    for each in (builder, web):
        with each.app_context():
            dispose_app_engine()
