"""A screening's .ics: the public feeds' kept VEVENT of it, as calendar.download writes it."""

from __future__ import annotations

import zlib

import pytest

from screenings import caching, calendar
from screenings.models import Screening
from screenings.services import downloads, visibility
from screenings.services import feeds as feed_service
from screenings.services.bookings import cancel_booking
from screenings.services.listings import Filters
from screenings.urls import external_url, public_domain

from .factories import make_screening
from .producer_helpers import count_queries
from .test_feeds import _count_events

pytestmark = pytest.mark.config(PAGE_CACHE_ENABLED=False)  # what is kept is the event alone


def _download(screening) -> bytes:
    """What calendar.download writes of the screening as it is now."""
    return calendar.download(
        screening,
        url=external_url("public.screening", screening_id=screening.id),
        domain=public_domain(),
        place_of=visibility.public_place,
    )


def _public_feed() -> bytes:
    built = feed_service.build_feed("screenings-en", "Screenings", Filters())
    return zlib.decompress(built.body, wbits=31)


def test_an_ics_after_a_feed_build_is_its_event_read_in_one_statement(client, db, monkeypatch):
    screening = make_screening(visibility="guests", street_address="12 Secret Lane")
    screening_id = screening.id
    _public_feed()
    made = _count_events(monkeypatch)
    db.session.expunge_all()
    with count_queries() as statements:
        response = client.get(f"/screenings/{screening_id}.ics")
    assert response.status_code == 200
    assert made == []  # the feed's event of it
    assert len(statements) == 1, statements  # its version with its state
    screening = db.session.get(Screening, screening_id)
    assert response.get_data() == _download(screening)
    assert b"12 Secret Lane" not in response.get_data()


def test_a_downloaded_ics_keeps_its_event_for_the_feeds(client, db, monkeypatch):
    screenings = [make_screening(venue_name=f"Hall {n}") for n in range(3)]
    assert client.get(f"/screenings/{screenings[1].id}.ics").status_code == 200
    made = _count_events(monkeypatch)
    feed = _public_feed()
    assert sorted(made) == sorted(s.id for s in screenings if s is not screenings[1])
    caching.event_store().clear()
    assert feed == _public_feed()  # the download's event is the one a feed makes


def test_an_ics_follows_each_change_of_its_screening_and_film_at_once(client, db):
    screening = make_screening()
    url = f"/screenings/{screening.id}.ics"
    assert client.get(url).status_code == 200
    screening.venue_name = "Changed Hall"
    db.session.commit()
    assert b"Changed Hall" in client.get(url).get_data()
    screening.film.title = "A Renamed Film"
    db.session.commit()
    assert b"A Renamed Film" in client.get(url).get_data()
    assert client.get(url).get_data() == _download(screening)


def test_a_hidden_or_never_licensed_screening_has_no_ics_though_its_event_is_kept(client, db):
    """The state read with the version decides, not whether an event is kept."""
    hidden, cancelled = make_screening(), make_screening()
    for screening in (hidden, cancelled):
        assert client.get(f"/screenings/{screening.id}.ics").status_code == 200
    visibility.apply(hidden, visibility.PRIVATE)
    db.session.commit()
    downloads.keep_public_event(hidden)
    assert client.get(f"/screenings/{hidden.id}.ics").status_code == 404
    cancel_booking(cancelled, actor="test")
    response = client.get(f"/screenings/{cancelled.id}.ics")
    assert response.status_code == 200  # cancelled after approval: calendars see it
    assert b"STATUS:CANCELLED" in response.get_data()
    for licence in list(cancelled.licences):
        db.session.delete(licence)
    db.session.commit()
    downloads.keep_public_event(cancelled)
    assert client.get(f"/screenings/{cancelled.id}.ics").status_code == 404
