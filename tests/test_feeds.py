"""Calendar feeds: who is in them, conditional requests, and speed."""

from __future__ import annotations

import re
import threading
import time
import zlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from screenings import LANGUAGES, caching, calendar, create_app
from screenings.extensions import db as other_db
from screenings.services import feeds as feed_service
from screenings.services.listings import Filters

from .conftest import dispose_app_engine
from .factories import ScreeningFactory
from .rsvp_helpers import parse_all

TOKEN = "p" * 40


def uids(body: bytes) -> set[str]:
    from icalendar import Calendar

    return {str(e["UID"]) for e in Calendar.from_ical(body).walk("VEVENT")}


@pytest.mark.config(PRODUCER_FEED_TOKEN=TOKEN)
def test_feeds_list_the_right_screenings(client, db):
    toronto = ScreeningFactory()
    paris = ScreeningFactory(country="FR", city="Paris", timezone="Europe/Paris")
    private = ScreeningFactory(visibility="private")
    everything = client.get("/calendar.ics")
    assert everything.mimetype == "text/calendar"
    body = everything.get_data()
    assert uids(body) == {f"screening-{s.id}@screenings.test" for s in (toronto, paris)}
    assert b"METHOD" not in body  # plain data, not an iTIP message (calendar._publish_head)
    assert b"ATTENDEE" not in body
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in body
    assert parse_all(body)["vobject"]["method"] == ""
    assert uids(client.get("/countries/fr/calendar.ics").get_data()) == {
        f"screening-{paris.id}@screenings.test"
    }
    film = client.get("/films/the-killing-roads/calendar.ics")
    assert film.status_code == 200
    assert uids(film.get_data()) == {f"screening-{s.id}@screenings.test" for s in (toronto, paris)}
    assert b"Screenings of The Killing Roads" in film.get_data()
    assert client.get("/films/no-such-film/calendar.ics").status_code == 404
    assert client.get("/countries/zz/calendar.ics").status_code == 404

    producer = client.get(f"/feeds/producer/{TOKEN}.ics")
    assert f"screening-{private.id}@screenings.test" in uids(producer.get_data())
    assert producer.headers["Referrer-Policy"] == "no-referrer"
    assert client.get(f"/feeds/producer/{'q' * 40}.ics").status_code == 404


def test_producer_feed_is_off_without_a_token(client, db):
    assert client.get(f"/feeds/producer/{TOKEN}.ics").status_code == 404


def test_cancelled_screening_stays_in_the_feed_as_cancelled(client, db):
    from screenings.services.bookings import cancel_booking

    screening = ScreeningFactory()
    cancel_booking(screening, actor="test")
    body = client.get("/calendar.ics").get_data()
    assert b"STATUS:CANCELLED" in body
    assert f"screening-{screening.id}@screenings.test" in uids(body)


def test_conditional_get_answers_304_until_a_change(client, db):
    from screenings.services.bookings import update_booking

    from .factories import booking_details

    screening = ScreeningFactory()
    first = client.get("/calendar.ics")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/calendar.ics", headers={"If-Modified-Since": modified}).status_code == 304
    update_booking(screening, booking_details(venue_name="Other Hall"), actor="test")
    # The first request after the change gets the last build (stale-while-revalidate) and
    # starts the rebuild in the background; once it is stored, every request gets it.
    assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304
    caching.wait_for_builds()
    changed = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert b"Other Hall" in changed.get_data()
    assert changed.headers["ETag"] != etag
    assert changed.headers["Last-Modified"] != modified
    again = client.get("/calendar.ics", headers={"If-Modified-Since": modified})
    assert again.status_code == 200


def test_an_rsvp_does_not_change_the_feed(client, db):
    from .rsvp_helpers import reply

    screening = ScreeningFactory()
    etag = client.get("/calendar.ics").headers["ETag"]
    reply(screening)
    assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304
    caching.wait_for_builds()
    assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304


def _count_builds(monkeypatch, delay: float = 0.0) -> list[str]:
    """Record each feed build (the real one, after `delay` seconds to let requests pile up)."""
    builds: list[str] = []
    real = feed_service.build_feed

    def counted(key, *args, **kwargs):
        builds.append(key)
        time.sleep(delay)
        return real(key, *args, **kwargs)

    monkeypatch.setattr(feed_service, "build_feed", counted)
    return builds


def test_unchanged_feed_is_served_from_the_cache(client, db, monkeypatch):
    ScreeningFactory()
    builds = _count_builds(monkeypatch)
    first = client.get("/calendar.ics").get_data()
    assert builds == ["screenings-en"]
    for _ in range(3):
        assert client.get("/calendar.ics").get_data() == first
    caching.wait_for_builds()
    assert builds == ["screenings-en"]
    # With the cache emptied the feed is built again: the count above can fail.
    caching.clear()
    time.sleep(1.1)  # a DTSTAMP of the build's time would be another second's
    # The same bytes: each DTSTAMP is when its rows were last revised, not the build's time.
    assert client.get("/calendar.ics").get_data() == first
    assert builds == ["screenings-en", "screenings-en"]


def _together(app, url: str, count: int = 20, *, apps=()) -> list[int]:
    """`count` requests for `url` released at the same instant, from as many threads (taking
    turns between `app` and `apps`, as between workers)."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    workers = iter([app, *apps] * count)

    def one(worker=None):
        client = (worker or app).test_client()
        barrier.wait()
        statuses.append(client.get(url).status_code)

    threads = [threading.Thread(target=one, args=(next(workers),)) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


def test_twenty_requests_for_a_feed_never_built_build_it_once(app, db, monkeypatch):
    ScreeningFactory()
    builds = _count_builds(monkeypatch, delay=0.3)
    statuses = _together(app, "/calendar.ics")
    assert statuses == [200] * 20
    assert builds == ["screenings-en"]


def test_twenty_requests_on_two_workers_build_a_feed_once(app, db, monkeypatch, tmp_path):
    """Without Redis the build is a file every worker on the host reads, under a lock every
    worker on the host sees (flock): one build for both, and the other serves its file."""
    from .conftest import app_config

    ScreeningFactory(venue_name="Old Hall")
    other = create_app(
        app_config(
            app.config["SQLALCHEMY_DATABASE_URI"],
            25,
            FEED_FILES_DIR=str(app.config["FEED_FILES_DIR"]),
        )
    )
    builds = _count_builds(monkeypatch, delay=0.3)
    assert _together(app, "/calendar.ics", apps=[other]) == [200] * 20
    assert builds == ["screenings-en"]
    with other.app_context():
        assert b"Old Hall" in other.test_client().get("/calendar.ics").get_data()
        dispose_app_engine()
    assert builds == ["screenings-en"]


def test_twenty_requests_after_a_change_get_the_last_build_and_one_rebuild(
    app, client, db, monkeypatch
):
    screening = ScreeningFactory(venue_name="Old Hall")
    assert b"Old Hall" in client.get("/calendar.ics").get_data()
    builds = _count_builds(monkeypatch, delay=0.3)
    screening.venue_name = "New Hall"
    db.session.commit()
    assert _together(app, "/calendar.ics") == [200] * 20
    caching.wait_for_builds()
    assert builds == ["screenings-en"]
    assert b"New Hall" in client.get("/calendar.ics").get_data()


def test_a_feed_is_built_by_the_command_before_anyone_asks(app, db, runner, monkeypatch):
    screening = ScreeningFactory(venue_name="Old Hall")
    result = runner.invoke(args=["feeds", "build"])
    assert result.exit_code == 0, result.output
    builds = _count_builds(monkeypatch)
    french = app.test_client()
    french.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    for visitor in (app.test_client(), french):
        assert b"Old Hall" in visitor.get("/calendar.ics").get_data()
        assert b"Old Hall" in visitor.get("/countries/ca/calendar.ics").get_data()
        assert b"Old Hall" in visitor.get("/films/the-killing-roads/calendar.ics").get_data()
    assert builds == []  # every one was built by the command
    screening.venue_name = "New Hall"
    db.session.commit()
    assert "0 feeds" not in runner.invoke(args=["feeds", "build"]).output
    assert "0 feeds built" in runner.invoke(args=["feeds", "build"]).output  # none stale
    builds.clear()
    assert b"New Hall" in app.test_client().get("/calendar.ics").get_data()
    assert builds == []


def test_feeds_build_watch_says_when_it_is_up_and_when_it_built(app, db, runner, monkeypatch):
    """`feeds build --watch` (the Procfile's feeds process; the bench waits on these lines):
    a line after its first pass, even with nothing stale, then one after each pass that
    built a feed, none after an idle pass."""
    from screenings import cli
    from screenings.models import Screening

    screening_id = ScreeningFactory(venue_name="Old Hall").id
    assert runner.invoke(args=["feeds", "build"]).exit_code == 0
    sleeps: list[float] = []

    class Stop(Exception):
        pass

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:  # after the first pass: a change, built by the second
            other_db.session.get(Screening, screening_id).venue_name = "New Hall"
            other_db.session.commit()
        elif len(sleeps) == 3:  # the third pass had nothing to build
            raise Stop

    monkeypatch.setattr(cli.time, "sleep", sleep)
    result = runner.invoke(args=["feeds", "build", "--watch", "5"])
    assert isinstance(result.exception, Stop), result.output
    assert sleeps == [5.0, 5.0, 5.0]
    lines = result.output.splitlines()
    assert len(lines) == 2, result.output
    assert re.fullmatch(r"0 feeds built in \d+\.\d s\.", lines[0]), result.output
    assert re.fullmatch(r"[1-9]\d* feeds built in \d+\.\d s\.", lines[1]), result.output


def test_feeds_build_gives_way_to_the_web_workers(app, db, runner, monkeypatch):
    """The builder lowers its own CPU priority by FEED_BUILDER_NICE (the default 10; the
    tests' 0 leaves it alone)."""
    from screenings import cli
    from screenings.config import DEFAULTS

    niced: list[int] = []
    monkeypatch.setattr(cli.os, "nice", niced.append)
    ScreeningFactory()
    assert runner.invoke(args=["feeds", "build"]).exit_code == 0
    assert niced == []
    monkeypatch.setitem(app.config, "FEED_BUILDER_NICE", DEFAULTS["FEED_BUILDER_NICE"])
    assert runner.invoke(args=["feeds", "build"]).exit_code == 0
    assert niced == [10]


def test_feeds_build_freezes_what_a_pass_keeps(app, db, runner, monkeypatch):
    """After each pass `feeds build` freezes the objects alive (gc.freeze): what it keeps for
    the next pass (events, segments) is left out of the collector's full passes."""
    from screenings import cli

    frozen: list[int] = []
    monkeypatch.setattr(cli.gc, "freeze", lambda: frozen.append(1))
    ScreeningFactory()
    assert runner.invoke(args=["feeds", "build"]).exit_code == 0
    assert frozen == [1]


def test_a_feed_says_it_varies_with_the_language(client, db):
    ScreeningFactory()
    assert "Accept-Language" in client.get("/calendar.ics").headers["Vary"]
    french = client.get("/calendar.ics", headers={"Accept-Language": "fr"})
    assert "Accept-Language" in french.headers["Vary"]


def test_feed_speed(client, db, capsys):
    """Many screenings: a cold build, a warm (cached) one and a 304 (numbers printed)."""
    from sqlalchemy import insert

    from screenings.models import Screening

    template = ScreeningFactory()
    db.session.refresh(template)
    columns = {
        c.key: getattr(template, c.key)
        for c in Screening.__table__.columns
        if c.key not in ("id", "submission_key", "manage_token_hash")
    }
    count = 3000
    db.session.execute(
        insert(Screening),
        [
            {**columns, "submission_key": f"k{i}", "manage_token_hash": f"h{i}", "city": f"C{i}"}
            for i in range(count)
        ],
    )
    db.session.commit()
    caching.clear()
    started = time.perf_counter()
    cold = client.get("/calendar.ics")
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    warm = client.get("/calendar.ics")
    warm_s = time.perf_counter() - started
    started = time.perf_counter()
    not_modified = client.get("/calendar.ics", headers={"If-None-Match": warm.headers["ETag"]})
    conditional_s = time.perf_counter() - started
    template.venue_name = "Changed Hall"
    db.session.commit()
    started = time.perf_counter()
    after_change = client.get("/calendar.ics")  # the last build, while the new one is made
    change_s = time.perf_counter() - started
    caching.wait_for_builds()
    assert b"Changed Hall" not in after_change.get_data()
    assert b"Changed Hall" in client.get("/calendar.ics").get_data()
    assert cold.get_data().count(b"BEGIN:VEVENT") == count + 1
    assert not_modified.status_code == 304
    # A cached answer costs a small part of a build, whatever the machine's speed: a cache
    # that rebuilt (or a visitor's request that waited for the rebuild) fails here.
    assert warm_s < cold_s / 5
    assert change_s < cold_s / 5
    assert conditional_s < cold_s / 5
    # CPU of a rebuild after one change (its other events kept) against one from scratch,
    # counted for this thread alone: process_time also counts the outbox thread's work.
    template.venue_name = "Changed Again Hall"
    db.session.commit()
    started = time.thread_time()
    rebuilt = _build()
    rebuild_cpu = time.thread_time() - started
    started = time.thread_time()
    scratch = _from_scratch()
    scratch_cpu = time.thread_time() - started
    assert rebuilt == scratch
    assert rebuild_cpu < scratch_cpu / 3
    with capsys.disabled():
        print(
            f"\nfeed of {count + 1}: cold {cold_s:.2f}s, cached {warm_s * 1000:.0f}ms, "
            f"right after a change {change_s * 1000:.0f}ms (last build), "
            f"304 {conditional_s * 1000:.0f}ms; CPU of a build from scratch "
            f"{scratch_cpu * 1000:.0f}ms, of a rebuild after one change {rebuild_cpu * 1000:.0f}ms"
        )


def test_a_screening_made_private_leaves_the_feeds_at_once(client, db):
    """Stale-while-revalidate never serves a build from before a screening was hidden: the
    host who makes it private must not wait for a rebuild for its place to leave the feeds."""
    from screenings.services import visibility

    screening = ScreeningFactory(venue_name="Main Sanctuary Hall")
    etag = client.get("/calendar.ics").headers["ETag"]
    assert b"Main Sanctuary Hall" in client.get("/calendar.ics").get_data()
    visibility.apply(screening, visibility.PRIVATE)
    db.session.commit()
    after = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert after.status_code == 200  # never a 304 for the build that showed it
    assert b"Main Sanctuary Hall" not in after.get_data()


# -- where a built feed lives: files on the host without Redis ---------------------------------


def _feed_files(app) -> list:
    from pathlib import Path

    return sorted(Path(app.config["FEED_FILES_DIR"]).iterdir())


def test_a_served_feed_stays_out_of_the_workers_memory(app, client, db):
    """Without Redis a built feed is a file: serving it (twice, gzipped or not) streams the
    file and leaves neither its gzip nor its text in the process's store (issue 15: each
    worker held a 50,000-event feed)."""
    ScreeningFactory(venue_name="Old Hall")
    first = client.get("/calendar.ics", headers={"Accept-Encoding": "gzip"})
    second = client.get("/calendar.ics", headers={"Accept-Encoding": "gzip"})
    assert second.is_streamed or second.direct_passthrough  # the file, not bytes in a list
    gzipped = second.get_data()
    assert gzipped == first.get_data()
    plain = client.get("/calendar.ics").get_data()
    assert plain == zlib.decompress(gzipped, wbits=31)
    assert b"Old Hall" in plain
    bodies = [path for path in _feed_files(app) if path.suffix == ".gz"]
    assert [path.read_bytes() for path in bodies] == [gzipped]
    kept = list(caching.store().items.values())
    assert not [value for value in kept if gzipped in value or plain in value]
    for encoding in ("gzip", "identity"):  # neither gathered whole to count its length
        with app.test_request_context("/calendar.ics", headers={"Accept-Encoding": encoding}):
            from screenings.public.views import feed_all

            response = feed_all()
            assert not response.is_sequence, encoding
            response.close()
    again = {"Accept-Encoding": "gzip", "If-None-Match": second.headers["ETag"]}
    assert client.get("/calendar.ics", headers=again).status_code == 304


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip", True),
        ("*", True),
        ("br, gzip;q=0.5", True),
        ("gzip;q=0, identity", False),
        ("gzip;q=0", False),
        ("identity", False),
        ("", False),
    ],
)
def test_the_feed_is_gzipped_only_for_a_client_that_takes_gzip(
    client, db, accept_encoding, gzipped
):
    """Accept-Encoding's qualities count: `gzip;q=0` refuses gzip (RFC 9110 12.5.3), so that
    client gets the plain calendar, as does one that names no encoding."""
    ScreeningFactory(venue_name="Old Hall")
    response = client.get("/calendar.ics", headers={"Accept-Encoding": accept_encoding})
    assert response.status_code == 200
    assert (response.headers.get("Content-Encoding") == "gzip") is gzipped
    body = response.get_data()
    assert body.startswith(b"\x1f\x8b") is gzipped
    assert b"Old Hall" in (zlib.decompress(body, wbits=31) if gzipped else body)


def test_a_feed_file_is_replaced_whole_and_old_ones_are_removed(app, client, db, monkeypatch):
    """One body per feed on disk however often it changes; a file unused for
    FEED_KEEP_SECONDS (a feed no longer asked for, a name a withdrawal retired) goes."""
    import os

    screening = ScreeningFactory()
    client.get("/calendar.ics")
    for n in range(4):
        screening.venue_name = f"Hall {n}"
        db.session.commit()
        client.get("/calendar.ics")
        caching.wait_for_builds()
        assert f"Hall {n}".encode() in client.get("/calendar.ics").get_data()
    names = [path.name for path in _feed_files(app) if not path.name.endswith(".lock")]
    assert len([name for name in names if name.endswith(".gz")]) == 1, names
    assert len([name for name in names if name.endswith(".json")]) == 1, names
    assert not [name for name in names if name.endswith(".tmp")], names
    retired = _feed_files(app)
    for path in retired:
        os.utime(path, (0, 0))
    monkeypatch.setattr(caching.builds(), "swept_at", 0.0)  # a minute has passed
    client.get("/countries/ca/calendar.ics")  # another feed's build sweeps the folder
    assert not set(retired) & set(_feed_files(app))


@pytest.mark.config(PRODUCER_FEED_TOKEN=TOKEN)
def test_the_producer_feed_file_is_readable_by_nobody_else(app, client, db):
    """The private feed's file: named by a digest (not its token or key), readable by the
    app's user only, and in a folder no route serves."""
    ScreeningFactory(visibility="private", street_address="12 Secret Lane")
    assert b"12 Secret Lane" in client.get(f"/feeds/producer/{TOKEN}.ics").get_data()
    files = _feed_files(app)
    assert files
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, path
        assert TOKEN not in path.name
        assert "producer" not in path.name
        for url in (f"/{path.name}", f"/static/{path.name}", f"/feeds/{path.name}"):
            assert client.get(url).status_code == 404


# -- kept events: a rebuild makes only what changed ----------------------------------------------


def _build(*, include_private: bool = False) -> bytes:
    """The all-screenings feed built now, ungzipped."""
    built = feed_service.build_feed(
        "screenings-en", "Screenings", Filters(), include_private=include_private
    )
    return zlib.decompress(built.body, wbits=31)


def _count_events(monkeypatch) -> list[int]:
    """The id of each screening whose VEVENT is made (not taken from the kept ones)."""
    made: list[int] = []
    real = calendar.published_event

    def counted(screening, **kwargs):
        made.append(screening.id)
        return real(screening, **kwargs)

    monkeypatch.setattr(calendar, "published_event", counted)
    return made


def _from_scratch(**kwargs) -> bytes:
    """_build with nothing kept: every event made, every segment compressed."""
    caching.event_store().clear()
    caching.segment_store().clear()
    return _build(**kwargs)


def test_a_rebuild_makes_only_the_changed_event_and_equals_a_build_from_scratch(db, monkeypatch):
    screenings = [ScreeningFactory(venue_name=f"Hall {n}") for n in range(5)]
    made = _count_events(monkeypatch)
    first = _build()
    assert sorted(made) == sorted(s.id for s in screenings)
    made.clear()
    assert _build() == first
    assert made == []
    screenings[2].venue_name = "Changed Hall"
    db.session.commit()
    rebuilt = _build()
    assert made == [screenings[2].id]
    assert b"Changed Hall" in rebuilt
    assert b"Hall 2," not in rebuilt
    assert rebuilt == _from_scratch()


def test_an_events_dtstamp_is_when_its_rows_were_last_revised(db):
    """RFC 5545 3.8.7.2 (a calendar without METHOD): DTSTAMP is when the information was
    last revised, the later of the screening's and its film's updated_at, so a rebuild of
    the same rows writes the same bytes whenever it runs."""
    from icalendar import Calendar

    def stamp() -> datetime:
        (event,) = Calendar.from_ical(_from_scratch()).walk("VEVENT")
        return event.decoded("DTSTAMP")

    film_saved, screening_saved = (
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC),
    )
    screening = ScreeningFactory()
    # The *_at columns hold naive UTC.
    screening.film.updated_at = film_saved.replace(tzinfo=None)
    screening.updated_at = screening_saved.replace(tzinfo=None)
    db.session.commit()
    assert stamp() == screening_saved
    film_saved = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    screening.film.updated_at = film_saved.replace(tzinfo=None)
    db.session.commit()
    assert stamp() == film_saved


def test_a_rebuild_deflates_only_the_segment_of_the_changed_event(app, db, monkeypatch, tmp_path):
    """The events are deflated in segments cut by screening id (feeds.SEGMENT_EVENTS): after
    one screening's change only its segment (and the small head and end) is compressed
    again, and the feed is still one gzip member that `gzip -t` passes, whose text is a
    build from scratch's."""
    import shutil
    import subprocess

    from screenings import segmented_gzip

    monkeypatch.setattr(feed_service, "SEGMENT_EVENTS", 16)  # several segments of 150
    screenings = [ScreeningFactory(venue_name=f"Hall {n}") for n in range(150)]
    ends = [s.id for s in screenings if feed_service._ends_segment(s.id)]
    assert 1 <= len(ends) < len(screenings) // 10  # several segments, of several events
    first = feed_service.build_feed("screenings-en", "Screenings", Filters()).body
    deflated: list[bytes] = []
    real = segmented_gzip.deflate

    def counted(plain, level):
        deflated.append(plain)
        return real(plain, level)

    monkeypatch.setattr(segmented_gzip, "deflate", counted)
    assert feed_service.build_feed("screenings-en", "Screenings", Filters()).body == first
    assert len(deflated) == 2  # the head and the end: every segment was kept
    screenings[75].venue_name = "Changed Hall"
    db.session.commit()
    deflated.clear()
    body = feed_service.build_feed("screenings-en", "Screenings", Filters()).body
    events = [plain for plain in deflated if b"BEGIN:VEVENT" in plain]
    assert len(events) == 1, len(events)
    assert b"Changed Hall" in events[0]
    assert events[0].count(b"BEGIN:VEVENT") < len(screenings) // 2
    monkeypatch.setattr(segmented_gzip, "deflate", real)
    assert zlib.decompress(body, wbits=31) == _from_scratch()
    if shutil.which("gzip"):
        path = tmp_path / "feed.gz"
        path.write_bytes(body)
        subprocess.run(["gzip", "-t", str(path)], check=True)


def test_a_feed_in_segments_stays_within_15_percent_of_one_gzip_stream(runner, db):
    """Each segment starts with an empty window: on the demo data (real places, names and
    times) the segmented feed is at most 15 % bigger than the same text in one stream at
    the same level (8 % at 51,000 events: README "Caching")."""
    assert runner.invoke(args=["demo-data", "--screenings", "3000", "--rsvps", "0"]).exit_code == 0
    body = feed_service.build_feed("screenings-en", "Screenings", Filters()).body
    plain = zlib.decompress(body, wbits=31)
    assert plain.count(b"BEGIN:VEVENT") > 5 * feed_service.SEGMENT_EVENTS
    one_stream = zlib.compress(plain, feed_service.FEED_GZIP_LEVEL, wbits=31)
    assert len(body) < 1.15 * len(one_stream), (len(body), len(one_stream))


def test_a_film_renamed_remakes_its_screenings_events(db, monkeypatch):
    screening = ScreeningFactory()
    _build()
    made = _count_events(monkeypatch)
    screening.film.title = "A Renamed Film"
    db.session.commit()
    rebuilt = _build()
    assert made == [screening.id]
    assert b"A Renamed Film" in rebuilt
    assert rebuilt == _from_scratch()


def test_the_producer_feed_never_lends_a_street_to_the_public_one(db):
    """Same screening and versions, another place rule: another event, another key."""
    ScreeningFactory(visibility="guests", street_address="12 Secret Lane")
    assert b"12 Secret Lane" in _build(include_private=True)
    public = _build()
    assert b"12 Secret Lane" not in public
    assert public == _from_scratch()


def test_a_new_public_base_url_remakes_every_event(app, db, monkeypatch):
    ScreeningFactory()
    assert b"URL:http://screenings.test/screenings/" in _build()
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://films.example.org")
    rebuilt = _build()
    assert b"screenings.test" not in rebuilt
    assert b"URL:https://films.example.org/screenings/" in rebuilt
    assert b"@films.example.org" in rebuilt  # the UIDs' domain
    assert rebuilt == _from_scratch()


def test_each_input_of_an_event_changes_its_key_and_its_bytes(app, db):
    """The one key builder (EventKeys) against the one event builder: whatever makes the
    bytes differ makes the key differ."""
    from screenings.services import visibility

    screening = ScreeningFactory(visibility="guests", street_address="12 Secret Lane")
    base = feed_service.event_keys(include_private=False)
    key = base.key(screening.id, screening.cache_version, screening.film.cache_version)

    def event(keys, place_of=visibility.public_place) -> bytes:
        return calendar.published_event(
            screening,
            url=f"{keys.base_url}{screening.id}",
            domain=keys.domain,
            place=place_of(screening),
            language=keys.language,
        )

    variants = {
        "language": (replace(base, language="fr"), visibility.public_place),
        "place rule": (
            feed_service.event_keys(include_private=True),
            visibility.guest_place,
        ),
        "base URL": (replace(base, base_url="https://films.example.org/screenings/"), None),
        "domain": (replace(base, domain="films.example.org"), None),
    }
    for what, (keys, place_of) in variants.items():
        other = keys.key(screening.id, screening.cache_version, screening.film.cache_version)
        assert other != key, what
        assert event(keys, place_of or visibility.public_place) != event(base), what
    first, last = base.zone_years
    assert replace(base, zone_years=(first + 1, last + 1)).key(1, 1, 1) != base.key(1, 1, 1)
    assert replace(base, release="next").key(1, 1, 1) != base.key(1, 1, 1)  # a deploy
    assert base.key(screening.id, screening.cache_version + 1, 0) != base.key(
        screening.id, screening.cache_version, 0
    )
    assert base.key(screening.id, 0, screening.film.cache_version + 1) != base.key(
        screening.id, 0, screening.film.cache_version
    )


def test_the_kept_events_hold_one_version_per_screening(db):
    """Bounded: a screening changed again and again leaves one event, not one per version."""
    screening, _other = ScreeningFactory(), ScreeningFactory()
    for n in range(5):
        screening.venue_name = f"Hall {n}"
        db.session.commit()
        assert f"Hall {n}".encode() in _build()
    assert len(caching.event_store().items) == 2


# -- a full build: the screenings read once for every feed ---------------------------------------


def _subscribe_near(db, town, km: int) -> None:
    """A confirmed near-me subscriber (so `feeds build` builds that town's feed)."""
    import secrets

    from screenings.models import utcnow
    from screenings.models.nearby import NearbySubscription

    db.session.add(
        NearbySubscription(
            email=f"{secrets.token_hex(4)}@example.org",
            city_id=town.id,
            radius_km=km,
            key=secrets.token_hex(16),
            confirm_token_hash=secrets.token_hex(32),
            unsubscribe_token_hash=secrets.token_hex(32),
            confirmed_at=utcnow(),
        )
    )
    db.session.commit()


def _another_film(db, slug: str) -> int:
    """A copy of the catalogue's film under another slug and title; its id."""
    from screenings.models import Film
    from screenings.services.films import set_terms

    first = db.session.get(Film, 1)
    columns = {c.key: getattr(first, c.key) for c in Film.__table__.columns if c.key != "id"}
    film = Film(**{**columns, "slug": slug, "title": slug.title(), "code": slug[:8].upper()})
    db.session.add(film)
    set_terms(film, first.current_terms.text)
    db.session.commit()
    return film.id


def _full_build() -> tuple[int, int]:
    """`feeds build` from scratch: (feeds built, statements that read the screenings)."""
    from .producer_helpers import count_queries

    caching.clear()
    with count_queries() as statements:
        built = feed_service.build_stale_feeds()
    return built, sum(1 for s in statements if re.search(r"\bFROM screenings\b", s))


def _built_alone_equal_the_full_build() -> None:
    """Each feed of the full build lists what its filters select in SQL (as the lists do),
    and is byte for byte a build of that feed alone from scratch."""
    from flask_babel import force_locale

    from screenings.extensions import db
    from screenings.models import Screening
    from screenings.services.feeds import FeedRows

    for language in ("en", "fr"):
        with force_locale(language):
            for key, title, filters, private in list(feed_service.every_feed(FeedRows.read())):
                name = f"{key}-{language}"
                stored = feed_service.latest_feed(name, title, filters, include_private=private)
                listed = filters.apply(feed_service._feed_rows(include_private=private))
                ids = db.session.scalars(listed.with_only_columns(Screening.id)).all()
                assert uids(zlib.decompress(stored.read(), wbits=31)) == {
                    f"screening-{i}@screenings.test" for i in ids
                }, name
                caching.event_store().clear()
                caching.segment_store().clear()
                alone = feed_service.build_feed(name, title, filters, include_private=private)
                assert zlib.decompress(stored.read(), wbits=31) == (
                    zlib.decompress(alone.body, wbits=31)
                ), name


@pytest.mark.config(PRODUCER_FEED_TOKEN=TOKEN)
def test_a_full_build_reads_the_screenings_once_for_every_feed(db):
    from screenings import places

    lyon = places.find_cities("Lyon", country="FR")[0]
    ScreeningFactory()
    ScreeningFactory(country="FR", city="Lyon", timezone="Europe/Paris")
    ScreeningFactory(country="FR", city="Paris", timezone="Europe/Paris")  # not near Lyon
    ScreeningFactory(
        visibility="private", country="FR", city="Villeurbanne", timezone="Europe/Paris"
    )
    _subscribe_near(db, lyon, 100)
    few, reads = _full_build()
    _built_alone_equal_the_full_build()

    second, third = _another_film(db, "second-film"), _another_film(db, "third-film")
    for country, city, zone in (
        ("DE", "Berlin", "Europe/Berlin"),
        ("IL", "Haifa", "Asia/Jerusalem"),
        ("JP", "Osaka", "Asia/Tokyo"),
    ):
        ScreeningFactory(country=country, city=city, timezone=zone, film_id=second)
    ScreeningFactory(country="FR", city="Villeurbanne", timezone="Europe/Paris", film_id=third)
    _subscribe_near(db, lyon, 25)
    _subscribe_near(db, places.find_cities("Berlin", country="DE")[0], 50)
    many, reads_many = _full_build()
    assert many >= few + 3 * 7  # three countries, two films, two towns' feeds, each language
    assert reads_many == reads  # not one more read per feed
    _built_alone_equal_the_full_build()


def _listings() -> dict[str, set[int]]:
    """The ids each feed the site serves lists, by its key, as its filters select them in
    SQL (as the lists do)."""
    from screenings.extensions import db
    from screenings.models import Screening
    from screenings.services.feeds import FeedRows

    listed = {}
    for key, _title, filters, private in feed_service.every_feed(FeedRows.read()):
        query = filters.apply(feed_service._feed_rows(include_private=private))
        listed[key] = set(db.session.scalars(query.with_only_columns(Screening.id)))
    return listed


def _stored_etags() -> dict[str, str]:
    """The ETag of each feed's build stored now, by its name."""
    from screenings.services.feeds import FeedRows

    feed_rows, etags = FeedRows.read(), {}
    for language in LANGUAGES:
        for key, *_ in feed_service.every_feed(feed_rows):
            meta = caching.built_meta(feed_rows.stored_name(f"{key}-{language}"))
            etags[f"{key}-{language}"] = meta.etag if meta else ""
    return etags


def _move(screening, db) -> None:
    screening.country, screening.city, screening.timezone = "FR", "Lyon", "Europe/Paris"
    screening.film_id = _another_film(db, "second-film")


def _delete(screening, db) -> None:
    """The screening and every row that points at it, gone."""
    from sqlalchemy import delete

    from screenings.models import Screening

    for table in reversed(db.metadata.sorted_tables):
        for key in table.foreign_keys:
            if key.column.table.name == "screenings" and table.name != "screenings":
                db.session.execute(table.delete().where(key.parent == screening.id))
    db.session.execute(delete(Screening).where(Screening.id == screening.id))


def _make_private(screening, _db) -> None:
    screening.visibility, screening.is_public = "private", False


CHANGES = {
    "a venue renamed": lambda screening, _db: setattr(screening, "venue_name", "Changed Hall"),
    "moved to another country and film": _move,
    "made private": _make_private,
    "deleted": _delete,
}


@pytest.mark.config(PRODUCER_FEED_TOKEN=TOKEN)
@pytest.mark.parametrize("change", CHANGES)
def test_a_pass_after_a_change_builds_the_feeds_that_list_it_and_no_other(db, monkeypatch, change):
    """One screening's change: the next pass builds, in every language, exactly the feeds
    that list it before or after the change (by SQL); each stored feed equals its build
    from scratch; every other keeps its build and ETag, also after a withdrawal (made
    private, deleted: the names builds are stored under change)."""
    from screenings import places

    toronto = places.find_cities("Toronto", country="CA")[0]
    berlin = places.find_cities("Berlin", country="DE")[0]
    changed = ScreeningFactory(venue_name="Old Hall")
    ScreeningFactory()  # Toronto too: its country's, film's and near-me feeds stay
    ScreeningFactory(country="FR", city="Paris", timezone="Europe/Paris")
    ScreeningFactory(country="DE", city="Berlin", timezone="Europe/Berlin")
    ScreeningFactory(country="JP", city="Osaka", timezone="Asia/Tokyo")
    ScreeningFactory(
        visibility="private", country="FR", city="Villeurbanne", timezone="Europe/Paris"
    )
    _subscribe_near(db, toronto, 50)
    _subscribe_near(db, berlin, 50)
    passes = feed_service.FeedPasses()
    passes.run()
    before, etags = _listings(), _stored_etags()

    changed_id = changed.id
    CHANGES[change](changed, db)
    db.session.commit()
    after = _listings()
    touched = {
        key
        for key in before.keys() | after.keys()
        if changed_id in before.get(key, set()) | after.get(key, set())
    }
    assert {"screenings", "producer", "country-ca", f"near-{toronto.id}-50"} <= touched
    assert not touched & {"country-de", "country-jp", f"near-{berlin.id}-50"}, touched
    if change.startswith("moved"):
        assert {"country-fr", "film-the-killing-roads", "film-second-film"} <= touched
    builds = _count_builds(monkeypatch)
    assert passes.run() == len(builds)
    assert sorted(builds) == sorted(f"{key}-{lang}" for key in touched for lang in LANGUAGES)
    now = _stored_etags()
    for name, etag in now.items():
        if name.rsplit("-", 1)[0] not in touched:
            assert etag == etags[name], name
    assert passes.unchanged == len([name for name in now if name not in builds])
    _built_alone_equal_the_full_build()


def test_a_feed_head_is_what_icalendar_writes_for_its_zones():
    """The head is put together from VTIMEZONEs kept as written (not one Calendar per feed):
    byte for byte the calendar icalendar writes with those components."""
    from icalendar import vDuration, vText

    zones = ("America/Toronto", "Asia/Jerusalem", "Australia/Lord_Howe", "Europe/Paris")
    window = calendar._zone_window()
    for name in (None, "Projections à Lyon — " + "un très long nom de calendrier " * 3):
        whole = calendar._calendar(None)
        if name is not None:
            whole.add("NAME", vText(name))
            whole.add("X-WR-CALNAME", vText(name))
            whole.add("REFRESH-INTERVAL", calendar.FEED_REFRESH, parameters={"VALUE": "DURATION"})
            whole.add("X-PUBLISHED-TTL", vDuration(calendar.FEED_REFRESH))
        calendar._add_timezones(whole, zones)
        expected = whole.to_ical(sorted=False).removesuffix(calendar._END_VCALENDAR)
        assert calendar._publish_head(name, zones, window) == expected


def test_with_a_builder_process_a_request_serves_the_last_build_and_builds_nothing(
    app, client, db, runner, monkeypatch
):
    """FEED_BUILDER_RUNS (the Procfile's and `flask laptop`'s web): a stale feed's last build
    is served and no web worker rebuilds it; `feeds build` stores the next."""
    screening = ScreeningFactory(venue_name="Old Hall")
    assert b"Old Hall" in client.get("/calendar.ics").get_data()
    monkeypatch.setitem(app.config, "FEED_BUILDER_RUNS", True)
    builds = _count_builds(monkeypatch)
    screening.venue_name = "New Hall"
    db.session.commit()
    assert _together(app, "/calendar.ics") == [200] * 20
    caching.wait_for_builds()
    assert builds == []
    assert b"Old Hall" in client.get("/calendar.ics").get_data()
    assert runner.invoke(args=["feeds", "build"]).exit_code == 0
    assert "screenings-en" in builds
    assert b"New Hall" in client.get("/calendar.ics").get_data()


def test_with_a_builder_process_a_request_that_builds_keeps_no_events(app, client, db, monkeypatch):
    """Without Redis, the one build a web worker still makes (a feed with no build at all)
    leaves none of its events or segments in the worker's memory when the builder process
    runs."""
    ScreeningFactory()
    client.get("/calendar.ics")
    assert len(caching.event_store().items) == 1  # the counts below can fail
    assert len(caching.segment_store().items) == 1
    caching.clear()
    monkeypatch.setitem(app.config, "FEED_BUILDER_RUNS", True)
    assert client.get("/calendar.ics").status_code == 200
    assert len(caching.event_store().items) == 0
    assert len(caching.segment_store().items) == 0  # nor its deflated segments


# -- a pass records once which builds are current: nothing written for an unchanged feed -------


def _stores(monkeypatch) -> list[str]:
    """The name of each build the store is asked to keep (a new body or a note)."""
    stored: list[str] = []
    store = caching.builds()
    for method in ("keep", "keep_same"):
        real = getattr(store, method)

        def kept(name, *args, _real=real, **kwargs):
            stored.append(name)
            return _real(name, *args, **kwargs)

        monkeypatch.setattr(store, method, kept)
    return stored


def _two_countries():
    """A screening in Canada (the one changed) and one in France."""
    return (
        ScreeningFactory(venue_name="Old Hall"),
        ScreeningFactory(country="FR", city="Paris", timezone="Europe/Paris", venue_name="Salle"),
    )


def test_a_pass_writes_nothing_for_the_feeds_a_change_left_alone(app, client, db, monkeypatch):
    """After one screening's change the pass stores the builds of the feeds that list it and
    nothing for the others: its one note (caching.keep_verified) makes each of their builds
    current at the new version, for the next pass and for a web worker's stale check (no
    rebuild started). A build stored since under another ETag is not vouched for."""
    changed, _paris = _two_countries()
    passes = feed_service.FeedPasses()
    passes.run()
    changed.venue_name = "New Hall"
    db.session.commit()
    stored = _stores(monkeypatch)
    builds = _count_builds(monkeypatch)
    assert passes.run() == len(builds) > 0
    assert "country-fr-en" not in builds
    assert sorted(stored) == sorted(feed_service.stored_name(name) for name in builds)
    name_stored, version = feed_service.feed_state("country-fr-en")
    meta = caching.built_meta(name_stored)
    assert meta.version != repr(version)  # its note is the one stored before the change
    assert caching.is_current(name_stored, meta, version)
    builds.clear()
    assert passes.run() == 0  # nothing stale
    assert b"Salle" in client.get("/countries/fr/calendar.ics").get_data()
    caching.wait_for_builds()
    assert builds == []  # the web worker found it current: no rebuild in the background
    other = caching.Built(b"x", "another-etag", meta.version, meta.last_modified)
    caching.keep_built(name_stored, other)  # a slow build from before, stored late
    assert not caching.is_current(name_stored, caching.built_meta(name_stored), version)


def test_a_change_committed_during_a_pass_is_not_vouched_for(app, db, monkeypatch):
    """The pass's note says the version it read before the rows: a change committed after
    that read (here, in France) leaves the feeds it touches stale, and the next pass builds
    them."""
    changed, paris = _two_countries()
    passes = feed_service.FeedPasses()
    passes.run()
    changed.venue_name = "New Hall"
    db.session.commit()
    real_read = feed_service.FeedRows.read

    def read_then_a_change():
        rows = real_read()
        paris.venue_name = "Nouvelle Salle"
        db.session.commit()
        return rows

    monkeypatch.setattr(feed_service.FeedRows, "read", read_then_a_change)
    passes.run()
    monkeypatch.setattr(feed_service.FeedRows, "read", real_read)
    name_stored, version = feed_service.feed_state("country-fr-en")
    assert not caching.is_current(name_stored, caching.built_meta(name_stored), version)
    builds = _count_builds(monkeypatch)
    passes.run()
    assert "country-fr-en" in builds
    stored = feed_service.latest_feed(
        "country-fr-en", "Screenings in France", Filters(country="FR")
    )
    assert b"Nouvelle Salle" in zlib.decompress(stored.read(), wbits=31)


def test_a_build_found_unchanged_has_its_lifetime_renewed(app, db, monkeypatch):
    """A build found unchanged is not stored again, so the pass renews its files' time
    (a builder just started renews all it finds current), before any sweep would take it
    (FEED_KEEP_SECONDS)."""
    import os

    changed, _paris = _two_countries()
    feed_service.FeedPasses().run()
    aged = time.time() - 0.8 * app.config["FEED_KEEP_SECONDS"]
    for path in _feed_files(app):
        os.utime(path, (aged, aged))
    changed.venue_name = "New Hall"
    db.session.commit()
    builds = _count_builds(monkeypatch)
    feed_service.FeedPasses().run()  # a builder started again
    assert builds
    assert "country-fr-en" not in builds
    old = [path.name for path in _feed_files(app) if path.stat().st_mtime < aged + 1]
    assert not [name for name in old if not name.endswith(".lock")], old
