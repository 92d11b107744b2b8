"""Calendar feeds: who is in them, conditional requests, and speed."""

from __future__ import annotations

import time

import pytest

from screenings.services import feeds as feed_service

from .factories import make_screening
from .rsvp_helpers import parse_all

TOKEN = "p" * 40


def uids(body: bytes) -> set[str]:
    from icalendar import Calendar

    return {str(e["UID"]) for e in Calendar.from_ical(body).walk("VEVENT")}


@pytest.mark.config(PRODUCER_FEED_TOKEN=TOKEN)
def test_feeds_list_the_right_screenings(client, db):
    toronto = make_screening()
    paris = make_screening(country="FR", city="Paris", timezone="Europe/Paris")
    private = make_screening(is_public=False)
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
    assert film.status_code in (200, 404)
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

    screening = make_screening()
    cancel_booking(screening, actor="test")
    body = client.get("/calendar.ics").get_data()
    assert b"STATUS:CANCELLED" in body
    assert f"screening-{screening.id}@screenings.test" in uids(body)


def test_conditional_get_answers_304_until_a_change(client, db):
    from screenings.services.bookings import update_booking

    from .factories import booking_details

    screening = make_screening()
    first = client.get("/calendar.ics")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/calendar.ics", headers={"If-Modified-Since": modified}).status_code == 304
    update_booking(screening, booking_details(venue_name="Other Hall"), actor="test")
    changed = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert b"Other Hall" in changed.get_data()
    assert changed.headers["ETag"] != etag


def test_an_rsvp_does_not_change_the_feed(client, db):
    from .rsvp_helpers import reply

    screening = make_screening()
    etag = client.get("/calendar.ics").headers["ETag"]
    reply(screening)
    assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304


def test_unchanged_feed_is_served_from_cache(client, db, monkeypatch):
    make_screening()
    client.get("/calendar.ics")
    calls = []
    monkeypatch.setattr(feed_service.calendar, "publish", lambda *a, **k: calls.append(1))
    assert client.get("/calendar.ics").status_code == 200
    assert calls == []


def test_feed_speed(client, db, capsys):
    """Many screenings: a cold build, a warm (cached) one and a 304 (numbers printed)."""
    from sqlalchemy import insert

    from screenings.models import Screening

    template = make_screening()
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
    feed_service.feed_cache.clear()
    started = time.perf_counter()
    cold = client.get("/calendar.ics")
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    warm = client.get("/calendar.ics")
    warm_s = time.perf_counter() - started
    started = time.perf_counter()
    not_modified = client.get("/calendar.ics", headers={"If-None-Match": warm.headers["ETag"]})
    conditional_s = time.perf_counter() - started
    template.venue_name = "Changed Hall"  # one change: one event re-rendered, the rest cached
    db.session.commit()
    started = time.perf_counter()
    after_change = client.get("/calendar.ics")
    change_s = time.perf_counter() - started
    assert b"Changed Hall" in after_change.get_data()
    assert cold.get_data().count(b"BEGIN:VEVENT") == count + 1
    assert not_modified.status_code == 304
    assert warm_s < cold_s
    with capsys.disabled():
        print(
            f"\nfeed of {count + 1}: cold {cold_s:.2f}s, after one change {change_s:.2f}s, "
            f"cached {warm_s * 1000:.0f}ms, 304 {conditional_s * 1000:.0f}ms"
        )
