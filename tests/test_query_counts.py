"""Public pages and feeds run a fixed number of queries, however many screenings there are."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from screenings import caching, create_app
from screenings.demo import generate
from screenings.models import Screening, ScreeningStatus, utcnow
from screenings.services.films import film_options
from screenings.services.listings import encode_cursor

from . import producer_helpers
from .conftest import app_config, dispose_app_engine
from .producer_helpers import bulk_screenings, count_queries

producer = producer_helpers.producer  # the fixture, logged in on `client`


def _listed(db) -> Screening:
    return db.session.scalar(
        select(Screening)
        .where(
            Screening.status == ScreeningStatus.APPROVED,
            Screening.is_public.is_(True),
            Screening.rsvps_enabled.is_(True),
            Screening.starts_at > utcnow(),
        )
        .order_by(Screening.id)
        .limit(1)
    )


def _queries(client, url: str, **headers) -> int:
    """Queries of a page or feed rendered (built) afresh: the whole cache emptied, pages,
    .ics files and feeds alike, so what is counted is the cold render."""
    caching.clear()
    client.get(url, headers=headers)  # the first request of a process loads some lookups
    caching.clear()
    with count_queries() as statements:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
    return len(statements)


PAGES = [
    "/screenings",
    "/screenings?after={cursor}",
    "/screenings?country={country}",
    "/screenings/{id}",
    "/screenings/{id}.ics",
    "/calendar.ics",
    "/api/screenings?per_page=50",
    "/embed",
]


@pytest.mark.parametrize("url", PAGES)
def test_query_count_does_not_grow_with_the_data(client, db, url):
    # Enough that every page has rows (an empty page skips loading films: not N+1).
    generate(300, 1000, seed=3)
    first = _listed(db)
    cursor = encode_cursor(first)
    small = _queries(client, url.format(id=first.id, country=first.country, cursor=cursor))
    # Four times the rows: a query per screening or per reply would count hundreds more.
    generate(900, 3000, seed=4)
    large = _queries(client, url.format(id=first.id, country=first.country, cursor=cursor))
    assert small == large, (url, small, large)
    assert large <= 8, (url, large)


def test_conditional_feed_is_one_query(client, db):
    generate(200, 500, seed=3)
    etag = client.get("/calendar.ics", headers={"Accept-Encoding": "gzip"}).headers["ETag"]
    with count_queries() as statements:
        response = client.get(
            "/calendar.ics", headers={"Accept-Encoding": "gzip", "If-None-Match": etag}
        )
    assert response.status_code == 304
    assert len(statements) == 1


def test_gzipped_and_plain_feeds_are_the_same_calendar(client, db):
    import gzip

    generate(100, 100, seed=3)
    zipped = client.get("/calendar.ics", headers={"Accept-Encoding": "gzip"})
    plain = client.get("/calendar.ics")
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    assert "Accept-Encoding" in plain.headers["Vary"]
    body = plain.get_data()
    assert gzip.decompress(zipped.get_data()) == body
    assert body.count(b"BEGIN:VEVENT") > 10


def test_cached_screening_ics_follows_every_change(client, db):
    generate(30, 50, seed=3)
    screening = _listed(db)
    url = f"/screenings/{screening.id}.ics"
    first = client.get(url)
    assert first.status_code == 200
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    screening.venue_name = "Changed Hall"
    db.session.commit()
    changed = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200
    assert b"Changed Hall" in changed.get_data()
    screening.visibility, screening.is_public = "private", False
    db.session.commit()
    assert client.get(url).status_code == 404


# -- cold pages (the page cache off): how many statements each runs, exactly -------------------

COLD_PAGES = [
    ("/screenings/{id}", 1),  # the screening with its film
    # Its version (the ETag) with its state; its event is the one the first request kept
    # (or a feed build: services/downloads.py). Without it, the screening with its film too.
    ("/screenings/{id}.ics", 1),
    # The "feeds" counter (the filter's films are read only after it moves), then a page of
    # what the list shows, each screening's film title joined (rows, not screenings with
    # their films loaded in one more statement).
    ("/screenings", 2),
]


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
@pytest.mark.parametrize(("url", "expected"), COLD_PAGES)
def test_cold_public_page_runs_its_pinned_statements(client, db, url, expected):
    """An N+1 (a film or licence loaded row by row) or a new query shows up here."""
    generate(300, 1000, seed=3)
    url = url.format(id=_listed(db).id)
    client.get(url)  # the first request of a process loads some lookups
    db.session.expunge_all()  # nothing the test loaded is at hand for the page
    with count_queries() as statements:
        assert client.get(url).status_code == 200
    assert len(statements) == expected, statements


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_cold_dashboard_runs_its_pinned_statements(client, db, producer):
    """The producer's session with its account, the "feeds" counter (the filter's films and
    countries are read only after it moves), the total (a sum of the maintained day counts),
    a page of 50 rows with their film's title and licence number, and one aggregate of the
    maintained counts for the pending and cancelled numbers."""
    bulk_screenings(120)
    client.get("/producer/")  # shows the login's message; reads the filter's options
    db.session.expunge_all()
    with count_queries() as statements:
        response = client.get("/producer/")
    assert response.status_code == 200
    assert response.get_data(as_text=True).count("<tr>") == 51  # the header and 50 rows
    assert len(statements) == 5, statements
    assert "FROM screening_counts" in statements[2], statements


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_dashboard_filter_follows_a_renamed_film_and_a_new_country(client, db, producer):
    """The filter's options are kept between requests, and read again after any change."""
    screening = _first_screening(db)
    assert "Renamed For The Filter" not in client.get("/producer/").get_data(as_text=True)
    screening.film.title = "Renamed For The Filter"
    db.session.commit()
    assert "Renamed For The Filter" in _filter_form(client)
    assert 'value="NZ"' not in _filter_form(client)
    screening.country = "NZ"
    db.session.commit()
    assert 'value="NZ"' in _filter_form(client)


def _first_screening(db) -> Screening:
    bulk_screenings(3)
    return db.session.scalar(select(Screening).order_by(Screening.id).limit(1))


def _filter_form(client) -> str:
    page = client.get("/producer/").get_data(as_text=True)
    return page.split('class="filters"', 1)[1].split("</form>", 1)[0]


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_public_film_filter_follows_a_renamed_film(client, db):
    """The list's film options are kept between requests, and read again after a change."""
    generate(20, 20, seed=3)
    film = _listed(db).film
    assert "Renamed For The List" not in client.get("/screenings").get_data(as_text=True)
    film.title = "Renamed For The List"
    db.session.commit()
    page = client.get("/screenings").get_data(as_text=True)
    assert f'<option value="{film.slug}">Renamed For The List</option>' in page


def test_an_app_made_later_never_takes_another_apps_kept_answers(app, db, database_uri):
    """Kept option lists live with their app, as its store does: a later app over the same
    database, whose data changed while its counters stand at the same values (a database
    emptied and filled again, as before each test), reads the data afresh."""
    assert [option.title for option in film_options()] == ["The Killing Roads"]
    with db.engine.begin() as connection:  # behind the counters' back, as a refill is
        connection.execute(text("UPDATE films SET title = 'Filled Again'"))
    later = create_app(app_config(database_uri, 0, FEED_FILES_DIR=app.config["FEED_FILES_DIR"]))
    with later.app_context():
        assert [option.title for option in film_options()] == ["Filled Again"]
        dispose_app_engine()
