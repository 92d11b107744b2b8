"""The producer's upcoming list: columns, filters, sorting, paging, and constant queries."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import url_for
from flask_babel import force_locale
from markupsafe import escape
from sqlalchemy import delete, func, select, update

from screenings import caching
from screenings.formatting import format_datetime
from screenings.models import Licence, Producer, Screening
from screenings.services import alerts, bookings, privacy
from screenings.services import dashboard as board
from screenings.services.films import create_film
from screenings.urls import id_links

from . import producer_helpers
from .conftest import future_date, submit
from .factories import ScreeningFactory
from .producer_helpers import bulk_screenings, count_queries

producer = producer_helpers.producer  # the fixture, logged in on `client`


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_upcoming_shows_venue_time_producer_time_seats_and_licence(client, producer, db):
    screening = ScreeningFactory(start_time=time(19, 0))
    page = client.get("/producer/").get_data(as_text=True)
    rows = _rows(page)
    assert len(rows) == 1
    row = rows[0]
    assert "Beth Tzedec Congregation" in row
    assert "The Killing Roads" in row
    assert "<bdi>Toronto</bdi>, Canada" in row
    assert "19:00" in row
    assert "America/Toronto" in row
    utc = screening.starts_at.strftime("%H:%M")
    assert f"{utc} (UTC)" in row  # the producer's own zone, UTC by default
    assert "0 / 100" in row
    assert screening.current_licence.number in row
    assert "approved" in row


def test_a_row_is_worded_in_the_page_language_and_links_its_screening(client, producer, db):
    """Each row is worded once in the view (dashboard._lines): the same words, escapes and
    link as the template's filters and url_for wrote cell by cell."""
    screening = ScreeningFactory(organization_name="Hall & <Friends>")
    with client.application.test_request_context(), force_locale("fr"):
        when = format_datetime(screening.local_start_aware, "medium")
        link = url_for("producer.screening", screening_id=screening.id)
    page = client.get("/producer/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    (row,) = _rows(page)
    assert f'<td>{when} <span class="meta">America/Toronto</span></td>' in row
    assert f'<a href="{link}"><bdi>Hall &amp; &lt;Friends&gt;</bdi></a>' in row
    assert "<bdi>Toronto</bdi>, Canada" in row


def _filters_of(client, url: str, **headers) -> str:
    page = client.get(url, headers=headers).get_data(as_text=True)
    return page.split('class="filters"', 1)[1].split("</form>", 1)[0]


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_the_kept_filter_fields_follow_the_query_and_the_language(client, producer, db):
    """The fields' markup is kept (dashboard._kept_filters) by what it is made of."""
    ScreeningFactory()
    english = _filters_of(client, "/producer/")
    assert "All countries" in english
    assert '<option selected value="CA">' not in english
    assert '<option selected value="CA">' in _filters_of(client, "/producer/?country=CA")
    assert 'value="cin"' in _filters_of(client, "/producer/?q=cin")
    french = _filters_of(client, "/producer/", **{"Accept-Language": "fr"})
    assert "Tous les pays" in french
    assert _filters_of(client, "/producer/") == english


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Not a valid date value."),
        ("fr", "N'est pas une date valide."),
        ("he", "לא תאריך תקין"),
    ],
)
def test_wtforms_own_messages_are_in_the_page_language(client, producer, language, message):
    """WTForms' catalogue is read once per language (forms._wtforms_catalogue), each page
    still gets its own language's."""
    fields = _filters_of(client, "/producer/?date_from=soon", **{"Accept-Language": language})
    assert escape(message) in fields


@pytest.mark.parametrize("endpoint", ["producer.screening", "public.screening_ics"])
def test_id_links_are_what_url_for_writes(app, endpoint):
    with app.test_request_context():
        link = id_links(endpoint, "screening_id")
        for screening_id in (1, 42, 10**15):
            assert link(screening_id) == url_for(endpoint, screening_id=screening_id)


def test_producer_time_zone_setting_changes_the_second_time(client, producer, db):
    screening = ScreeningFactory()
    response = submit(client, "/producer/settings", {"timezone": "Asia/Tokyo"})
    assert response.status_code == 302
    assert db.session.scalar(select(Producer.timezone)) == "Asia/Tokyo"
    tokyo = screening.starts_at_utc.astimezone(ZoneInfo("Asia/Tokyo"))
    page = client.get("/producer/").get_data(as_text=True)
    assert f"{tokyo:%H:%M} (Asia/Tokyo)" in page

    refused = submit(client, "/producer/settings", {"timezone": "Mars/Olympus"})
    assert refused.status_code == 422
    assert db.session.scalar(select(Producer.timezone)) == "Asia/Tokyo"


def test_filters_by_country_status_text_and_dates(client, producer, db):
    ScreeningFactory(organization_name="Toronto Shul")
    ScreeningFactory(
        organization_name="Lycée Lumière",
        organization_type="school",
        city="Lyon",
        country="FR",
        timezone="Europe/Paris",
        start_date=future_date(10),
    )
    far = ScreeningFactory(organization_name="Far Future Club", start_date=future_date(200))

    def names(query: str) -> list[str]:
        html = client.get("/producer/" + query).get_data(as_text=True)
        return [re.search(r'"><bdi>([^<]+)</bdi></a>', row).group(1) for row in _rows(html)]

    assert names("") == ["Lycée Lumière", "Toronto Shul"]  # next 90 days, soonest first
    assert names("?country=FR") == ["Lycée Lumière"]
    assert names("?q=shul") == ["Toronto Shul"]
    assert names("?q=" + far.current_licence.number) == []  # outside the default dates
    after = future_date(150).isoformat()
    assert names(f"?date_from={after}&date_to=") == ["Far Future Club"]
    assert names("?status=pending") == []
    assert names("?sort=organization&desc=y") == ["Toronto Shul", "Lycée Lumière"]
    assert names("?q=%25") == []  # LIKE wildcards are literal
    assert names("?film=1&status=approved") == ["Lycée Lumière", "Toronto Shul"]
    assert client.get("/producer/?page=abc&status=bogus&film=x").status_code == 200


def test_pagination(client, producer, db):
    bulk_screenings(120)
    first = client.get("/producer/").get_data(as_text=True)
    assert len(_rows(first)) == 50
    assert "Page 1 of 3" in first
    last = client.get("/producer/?page=3").get_data(as_text=True)
    assert len(_rows(last)) == 20
    assert "Organization 00119" in last
    beyond = client.get("/producer/?page=99").get_data(as_text=True)
    assert "Page 3 of 3" in beyond


def _another_film() -> int:
    values = {
        "code": "ANO",
        "slug": "another-film",
        "title": "Another Film",
        "year": 2020,
        "genre": "documentary",
        "director": "D",
        "production_company": "P",
        "synopsis": "S",
        "runtime_minutes": 90,
        "content_advisory": "",
        "requires_approval": False,
        "is_active": True,
    }
    return create_film(values, "Terms.").id


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", ["starts_at", "film", "city", "seats"])
def test_pages_together_are_the_sorted_list_without_gaps_or_repeats(db, sort, descending):
    # Each page's ids are chosen before its rows are read; ties (same time, same city) too.
    bulk_screenings(60)
    bulk_screenings(60, film_id=_another_film())
    filters = board.ScreeningFilter.upcoming(sort=sort, descending=descending, per_page=25)
    expected = [screening.id for screening in db.session.scalars(board.filtered(filters))]
    pages = [board.screening_page(replace(filters, page=number)) for number in range(1, 6)]
    assert [screening.id for page in pages for screening in page.items] == expected
    assert len(expected) == pages[0].total == 120
    assert pages[-1].pages == 5


def test_a_search_for_a_film_title_counts_and_pages_that_film(db):
    bulk_screenings(30)
    bulk_screenings(40, film_id=_another_film())
    filters = board.ScreeningFilter.upcoming(q="another", sort="city", per_page=25, page=2)
    page = board.screening_page(filters)
    assert page.total == 40
    assert len(page.items) == 15
    assert {row.film_title for row in page.items} == {"Another Film"}


def test_country_choices_are_the_countries_that_have_screenings(db):
    assert board.filter_choices()["countries"] == ()
    bulk_screenings(7)
    assert board.filter_choices()["countries"] == ("AU", "CA", "FR", "IL", "US")


def _queries_for(client, url: str) -> int:
    """Queries of the page rendered afresh (not from the page cache, no message waiting)."""
    client.get(url)  # shows (and so clears) any message left by the login
    caching.clear()
    with count_queries() as statements:
        response = client.get(url)
        assert response.status_code == 200
    return len(statements)


@pytest.mark.parametrize(
    "url", ["/producer/", "/producer/?q=organization&sort=country", "/producer/?sort=film&page=3"]
)
def test_query_count_is_constant_between_10_and_1000_screenings(client, producer, db, url):
    bulk_screenings(10)
    small = _queries_for(client, url)
    assert len(_rows(client.get(url).get_data(as_text=True))) == 10
    # A hundred times the rows: a query per screening, or per row shown, would add hundreds.
    bulk_screenings(990, start=db.session.scalar(select(Screening.starts_at).limit(1)))
    assert db.session.scalar(select(db.func.count(Screening.id))) == 1000
    large = _queries_for(client, url)
    assert len(_rows(client.get(url).get_data(as_text=True))) == 50
    assert small == large, (small, large)
    assert large <= 10


def test_query_count_of_approval_queue_and_reach_is_constant(client, producer, db):
    bulk_screenings(10)
    queue, reach = (
        _queries_for(client, "/producer/approvals"),
        _queries_for(client, "/producer/reach"),
    )
    bulk_screenings(2000)
    assert _queries_for(client, "/producer/approvals") == queue
    assert _queries_for(client, "/producer/reach") == reach


@pytest.mark.config(PRODUCER_FEED_TOKEN="a-long-random-feed-secret-1234")
def test_settings_offer_the_embed_snippet_and_the_private_feed(client, producer):
    page = client.get("/producer/settings").get_data(as_text=True)
    assert "<title>Settings · Screenings</title>" in page
    assert "&lt;iframe src=&#34;http://screenings.test/embed&#34;" in page
    assert "http://screenings.test/feeds/producer/a-long-random-feed-secret-1234.ics" in page
    feed = client.get("/feeds/producer/a-long-random-feed-secret-1234.ics")
    assert feed.status_code == 200
    assert b"BEGIN:VCALENDAR" in feed.get_data()


def test_the_dashboard_says_how_many_bookings_wait_and_is_never_stale(client, db, producer):
    screening = ScreeningFactory()
    assert "wait for your approval" not in client.get("/producer/").get_data(as_text=True)
    db.session.execute(
        update(Screening).where(Screening.id == screening.id).values(status="pending")
    )
    db.session.commit()  # as another request would (the page is cached per producer)
    page = client.get("/producer/").get_data(as_text=True)
    assert "1 booking waits for your approval." in page


def _counted_directly(db, filters: board.ScreeningFilter) -> int:
    return db.session.scalar(select(func.count()).select_from(board.filtered(filters).subquery()))


def _assert_counts_are_direct_counts(db) -> None:
    """Every total the dashboard can read from the maintained counts, the waiting bookings
    and the cancellations by cause equal a count of the screenings themselves."""
    db.session.expire_all()
    upcoming = board.ScreeningFilter.upcoming()
    for filters in [
        upcoming,
        *(replace(upcoming, status=status) for status in board.STATUS_FILTERS),
        board.ScreeningFilter(status="all"),
        board.ScreeningFilter(status="cancelled", date_to=future_date(10)),
        board.ScreeningFilter(status="active", date_from=future_date(3), date_to=future_date(3)),
    ]:
        assert board.matching_count(filters) == _counted_directly(db, filters), filters
    pending = board.ScreeningFilter(status="pending")
    cancelled = db.session.execute(
        select(Screening.cancel_cause, func.count())
        .where(Screening.status == "cancelled")
        .group_by(Screening.cancel_cause)
    ).all()
    counts = board.board_counts()
    assert counts.pending == board.pending_count() == _counted_directly(db, pending)
    shown = dict(counts.cancel_causes)
    assert shown == dict(
        alerts.cancellation_causes({cause: n for cause, n in cancelled if cause})
    ), shown


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_the_counts_are_direct_counts_after_creates_cancellations_moves_and_erasures(
    client, db, producer
):
    """The counts are kept by triggers on screenings (models/counts.py): core INSERTs, bookings,
    cancellations with a cause, bulk status UPDATEs, a moved start, an organizer's erasure and
    a deleted screening all leave them equal to a count of the screenings."""
    bulk_screenings(30)
    _assert_counts_are_direct_counts(db)
    first, second = ScreeningFactory(), ScreeningFactory(contact_email="erase.me@example.org")
    _assert_counts_are_direct_counts(db)
    bookings.cancel_booking(first, actor="organizer", reason="Flooded", cause="venue_withdrew")
    _assert_counts_are_direct_counts(db)
    assert dict(board.board_counts().cancel_causes)[alerts.cause_label("venue_withdrew")] == 1
    bulk = select(Screening.id).where(Screening.status == "approved").order_by(Screening.id)
    some = bulk.limit(5).scalar_subquery()  # bulk ones: no history to delete with them
    db.session.execute(update(Screening).where(Screening.id.in_(some)).values(status="pending"))
    db.session.commit()
    _assert_counts_are_direct_counts(db)
    assert board.pending_count() == 5
    second.starts_at += timedelta(days=200)  # out of the default window
    db.session.commit()
    _assert_counts_are_direct_counts(db)
    privacy.erase_organizer_data("erase.me@example.org", actor="producer:test")
    _assert_counts_are_direct_counts(db)
    gone = db.session.scalar(
        select(Screening.id).where(Screening.status == "pending").order_by(Screening.id)
    )
    db.session.execute(delete(Licence).where(Licence.screening_id == gone))
    db.session.execute(delete(Screening).where(Screening.id == gone))
    db.session.commit()
    _assert_counts_are_direct_counts(db)
    assert board.pending_count() == 4
    page = client.get("/producer/").get_data(as_text=True)
    total = _counted_directly(db, board.ScreeningFilter.upcoming())
    assert f"{total} screenings" in page
    assert "4 bookings wait for your approval." in page


SIGNED_TOKEN = re.compile(r'(name="csrf_token"[^>]*? value=")[^"]+')


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_a_kept_row_is_the_row_rendered_now(app, client, producer, db):
    """The table's rows are kept rendered by every column they show, the language and the
    producer's zone (dashboard._rows): after each change to a screening its row shows the
    change at once, and every page is the page rendered with no row kept."""
    kept = app.extensions["kept_parts"]
    screenings = [ScreeningFactory(organization_name=f"Hall {n}") for n in range(3)]
    target = screenings[1]

    def page(url="/producer/?status=all", language="en"):
        answer = client.get(url, headers={"Accept-Language": language})
        assert answer.status_code == 200
        # A form token is signed with the second it was made in: two renders a second apart
        # differ there and nowhere else (seen under load).
        return SIGNED_TOKEN.sub(r"\1", answer.get_data(as_text=True))

    def fresh(url="/producer/?status=all", language="en"):
        kept.clear()
        return page(url, language)

    def row_of(html):
        (row,) = [row for row in _rows(html) if f'/producer/screenings/{target.id}"' in row]
        return row

    page()  # the log-in's flashed welcome
    assert page() == fresh()
    changes = [
        {"seats_taken": 7},
        {"organization_name": "Hall & <Friends>"},
        {"city": "Hamilton"},
        {"status": "cancelled"},
        {"capacity": 80},
    ]
    for values in changes:
        page()  # every row kept
        db.session.execute(update(Screening).where(Screening.id == target.id).values(**values))
        db.session.commit()
        kept_page = page()
        assert kept_page == fresh(), values
    row = row_of(page())
    assert "7 / 80" in row
    assert "<bdi>Hall &amp; &lt;Friends&gt;</bdi>" in row
    assert "<bdi>Hamilton</bdi>" in row
    assert "tag-cancelled" in row
    page()
    db.session.execute(delete(Licence).where(Licence.screening_id == target.id))
    db.session.commit()
    assert "<td>—</td>" in row_of(page())
    assert page() == fresh()
    for language in ("fr", "he"):
        page(language=language)
        assert page(language=language) == fresh(language=language)
    page()  # the rows kept in English, in UTC
    producer_row = db.session.get(Producer, producer.id)
    producer_row.timezone = "Asia/Tokyo"
    db.session.commit()
    assert "(Asia/Tokyo)" in row_of(page())
    assert page() == fresh()


def _nav_of(html: str) -> str:
    return html.split('<nav class="producer-nav"', 1)[1].split("</nav>", 1)[0]


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_the_kept_navigation_follows_the_section_the_badge_and_the_role(app, client, producer, db):
    """The producer's navigation is kept per section, badge and role (accounts.producer_nav):
    a new booking's badge and a role without the Team page show at once."""
    kept = app.extensions["kept_parts"]
    client.get("/producer/")  # the log-in's flashed welcome
    assert 'class="badge"' not in _nav_of(client.get("/producer/").get_data(as_text=True))
    ScreeningFactory(status="pending")
    nav = _nav_of(client.get("/producer/").get_data(as_text=True))
    assert '<span class="badge">1</span>' in nav
    assert "/producer/team" in nav
    approvals = _nav_of(client.get("/producer/approvals").get_data(as_text=True))
    assert 'href="/producer/approvals" aria-current="page"' in approvals
    producer_row = db.session.get(Producer, producer.id)
    producer_row.role = "viewer"
    db.session.commit()
    nav = _nav_of(client.get("/producer/").get_data(as_text=True))
    assert "/producer/team" not in nav
    kept.clear()
    assert _nav_of(client.get("/producer/").get_data(as_text=True)) == nav


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_the_kept_filters_follow_the_day_and_the_option_lists(client, producer, db, monkeypatch):
    """The filters and their fields are kept by the query, language, day and option lists
    (dashboard._kept_filters): the default window moves at midnight, a renamed film is in
    the film list at once, and a film chosen narrows the rows."""
    from screenings.models import Film
    from screenings.producer.views import dashboard as view

    client.get("/producer/")  # the log-in's flashed welcome
    screening = ScreeningFactory()
    today = view.utcnow().date()
    assert f'value="{today.isoformat()}"' in _filters_of(client, "/producer/")
    tomorrow = view.utcnow() + timedelta(days=1)
    monkeypatch.setattr(view, "utcnow", lambda: tomorrow)
    fields = _filters_of(client, "/producer/")
    assert f'value="{tomorrow.date().isoformat()}"' in fields
    assert f'value="{today.isoformat()}"' not in fields
    monkeypatch.undo()
    db.session.execute(update(Film).where(Film.id == screening.film_id).values(title="Renamed"))
    db.session.commit()
    assert f'<option value="{screening.film_id}">Renamed</option>' in _filters_of(
        client, "/producer/"
    )
    chosen = client.get(f"/producer/?film={screening.film_id}").get_data(as_text=True)
    assert len(_rows(chosen)) == 1
    assert _rows(client.get("/producer/?film=999").get_data(as_text=True)) == []
