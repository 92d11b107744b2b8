"""Finding a screening: the upcoming list, the screening page, the API and the embed page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import lazy_gettext as _lazy
from markupsafe import Markup

from screenings.services import nearby
from screenings.services.bookings import cancel_booking

from .factories import RsvpFactory, ScreeningFactory


def test_upcoming_lists_public_approved_future_soonest_first(client, db):
    later = ScreeningFactory(
        city="Toronto", start_date=(datetime.now(UTC) + timedelta(days=60)).date()
    )
    sooner = ScreeningFactory(
        city="Montréal", start_date=(datetime.now(UTC) + timedelta(days=5)).date()
    )
    ScreeningFactory(city="Hiddenville", visibility="private")
    cancelled = ScreeningFactory(city="Cancelville")
    cancel_booking(cancelled, actor="test")
    page = client.get("/screenings").get_data(as_text=True)
    assert page.index(f"/screenings/{sooner.id}") < page.index(f"/screenings/{later.id}")
    assert "Hiddenville" not in page
    assert "Cancelville" not in page
    assert "America/Toronto" in page  # local time with its zone
    assert 'href="/screenings"' in client.get("/").get_data(as_text=True)


def test_upcoming_search_and_pagination(client, db):
    for index in range(23):
        ScreeningFactory(city="Haifa" if index % 2 else "Toronto", organization_name=f"Org {index}")
    toronto = client.get("/screenings?city=tor").get_data(as_text=True)
    assert "Haifa" not in toronto
    assert "Toronto" in toronto
    assert client.get("/screenings?city=%25").get_data(as_text=True).count("screening-item") == 0
    first = client.get("/screenings").get_data(as_text=True)
    assert first.count("screening-item") == 20
    assert 'rel="next"' in first
    # An old page-number link still works: redirected to the cursor its page starts after.
    moved = client.get("/screenings?page=2")
    assert moved.status_code == 303
    assert "after=" in moved.headers["Location"]
    second = client.get(moved.headers["Location"]).get_data(as_text=True)
    assert second.count("screening-item") == 3
    assert 'rel="prev"' in second
    assert client.get("/screenings?country=FR").get_data(as_text=True).count("screening-item") == 0
    assert client.get("/screenings?film=nope&page=-4", follow_redirects=True).status_code == 200


def test_screening_page_shows_particulars_and_calendar_links(client, db):
    screening = ScreeningFactory(capacity=50)
    RsvpFactory(screening=screening, email="ann@example.org", name="Ann Attendee", party_size=3)
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert "Beth Tzedec Congregation" in page
    assert "Content advisory:" in page
    assert '<dd class="seats-left">47</dd>' in page
    assert "https://www.openstreetmap.org/search?query=1700%20Bathurst%20Street" in page
    assert "https://calendar.google.com/calendar/render?" in page
    assert "https://outlook.live.com/calendar/" in page
    assert f"/screenings/{screening.id}.ics" in page
    # Attendee and organizer contact data are never on the public page.
    assert "ann@example.org" not in page
    assert "Ann Attendee" not in page
    assert "miriam@example.org" not in page
    assert "+1 416" not in page


@pytest.mark.parametrize("kind", ["private", "pending", "missing"])
def test_hidden_screenings_are_404(client, db, kind):
    if kind == "private":
        screening_id = ScreeningFactory(visibility="private").id
    elif kind == "pending":
        screening_id = ScreeningFactory(status="pending").id
    else:
        screening_id = 9999
    for path in (f"/screenings/{screening_id}", f"/screenings/{screening_id}.ics"):
        assert client.get(path).status_code == 404


def test_api_is_json_cors_cacheable_and_paginated(client, db):
    for _ in range(3):
        ScreeningFactory()
    ScreeningFactory(visibility="private", city="Secretville")
    response = client.get("/api/screenings?per_page=2")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age" in response.headers["Cache-Control"]
    body = response.get_json()
    assert len(body["screenings"]) == 2
    assert body["next"].startswith("http://screenings.test/api/screenings?")
    assert "after=" in body["next"]
    assert "per_page=2" in body["next"]
    assert len(client.get(body["next"]).get_json()["screenings"]) == 1
    item = body["screenings"][0]
    assert item["url"].startswith("http://screenings.test/screenings/")
    assert item["timezone"] == "America/Toronto"
    assert item["starts_at"].endswith("Z")
    text = response.get_data(as_text=True)
    assert "miriam@example.org" not in text
    assert "contact" not in text
    assert "Secretville" not in client.get("/api/screenings?per_page=100").get_data(as_text=True)
    again = client.get(
        "/api/screenings?per_page=2", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304
    assert client.get("/api/nothing").get_json()["error"] == "Not Found"


def test_embed_page_may_be_framed_and_other_pages_may_not(client, db):
    ScreeningFactory()
    embed = client.get("/embed")
    assert embed.status_code == 200
    assert "X-Frame-Options" not in embed.headers
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]
    assert "script-src 'self'" in embed.headers["Content-Security-Policy"]
    assert 'target="_blank"' in embed.get_data(as_text=True)
    listing = client.get("/screenings")
    assert listing.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in listing.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"country": "FR", "film": "no-such-film"},
        {"country": "ZZ", "km": "7"},
        {"country": "", "film": "", "km": "25"},
    ],
)
def test_kept_option_lists_render_what_wtforms_renders(app, db, args):
    """The country and film lists are rendered once and kept (forms.KeptOptionsSelect):
    the markup, the chosen option included, must be WTForms' own."""
    from werkzeug.datastructures import MultiDict
    from wtforms.widgets import Select

    from screenings.places import countries
    from screenings.public.forms import SearchForm
    from screenings.services.films import active_films

    with app.test_request_context("/screenings"):
        for _ in range(2):  # the second time from the kept copy
            form = SearchForm(
                MultiDict(args),
                films=active_films(),
                countries=countries("fr"),
                radii=nearby.KM_CHOICES,
                default_km=nearby.DEFAULT_KM,
            )
            for field in (form.country, form.film, form.km):
                assert field() == Select()(field)
                assert field(class_="wide") == Select()(field, class_="wide")
    if args.get("country") == "FR":
        assert '<option selected value="FR">' in str(form.country())


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_the_list_renders_its_option_lists_without_walking_them(client, db, walked_selects):
    """The country, film and radius lists are kept with their markup (forms.kept_choices):
    a render marks the chosen option in the kept copy rather than going through the 250
    countries' choices again, on every page of the list. (The radius is walked once, by
    its validation: 6 choices.)"""
    ScreeningFactory()
    for url in ("/screenings", "/screenings?country=FR&km=25", "/embed"):
        assert client.get(url).status_code == 200
    assert walked_selects == ["km", "km", "km"]


@pytest.mark.parametrize(
    "attributes",
    [
        {"id": "name", "name": "name", "type": "text", "value": ""},
        {"value": "say \"hi\" & <b>bye</b> 'now'", "class_": "a b", "for_": "x"},
        {"value": Markup('a "quoted" <i>markup</i>'), "title": Markup("&amp;")},
        {"checked": True, "disabled": False, "required": True, "readonly": None},
        {"data_x_y": 1, "aria_described_by": "n-hint n-error", "min": 0, "max": 10},
        {"placeholder": "מרכז «קהילתי»", "maxlength": 200, "dir": "auto", "step": 0.5},
        {"label": _lazy("Your name"), "value": 3, "z": "", "a": "last first"},
        {},
    ],
)
def test_html_params_writes_what_wtforms_writes(app, attributes):
    """forms.html_params (installed for every widget and label) gives WTForms' own markup:
    the same sort, escape and quoting, a Markup."""
    from screenings.forms import WTFORMS_HTML_PARAMS, html_params

    with app.test_request_context():
        ours, theirs = html_params(**attributes), WTFORMS_HTML_PARAMS(**attributes)
    assert ours == theirs
    assert isinstance(ours, Markup)


def test_every_widget_and_label_renders_its_attributes_with_ours(app):
    """The app's factory installs forms.html_params where WTForms' widgets, labels and
    selects look theirs up."""
    from wtforms import widgets
    from wtforms.widgets import core

    from screenings.forms import html_params

    assert core.Input.html_params is html_params
    assert core.Button.html_params is html_params
    assert core.html_params is html_params
    assert widgets.html_params is html_params


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_a_kept_layout_part_is_the_part_rendered_for_that_request(app, client, db):
    """base.html's kept parts (views.install_kept_layout) are keyed on all they read: each
    page here, rendered after the others filled the kept parts, is the page rendered with
    none kept (its language, root path, footer identity and switcher's "next" its own; pages
    without a CSRF token, whose signature changes with the second)."""
    kept = app.extensions["kept_layout"]
    variants = [
        ("/privacy", "en", "", "Chutzpa Productions"),
        ("/privacy?from=x", "fr", "", "Chutzpa Productions"),
        ("/privacy", "he", "/mounted", "Chutzpa Productions"),
        ("/", "en", "", "Another Producer <&>"),
        ("/licences", "fr", "/mounted", "Another Producer <&>"),
    ]

    def page(url, language, root, name):
        app.config["PRODUCER_NAME"] = name
        answer = client.get(
            url, headers={"Accept-Language": language}, base_url="http://localhost" + root
        )
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    alone = []
    for variant in variants:
        kept.clear()
        alone.append(page(*variant))
    assert len(kept) == 5
    for variant, expected in zip(variants, alone, strict=True):
        assert page(*variant) == expected, variant
    assert len(kept) > 5
    assert 'href="/mounted/screenings"' in alone[2]
    assert "Another Producer &lt;&amp;&gt;" in alone[3]


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_the_layout_is_rendered_once_per_language_not_per_page(app, client, db):
    """Its five parts are kept after the first page in a language."""
    kept = app.extensions["kept_layout"]
    for url in ("/privacy", "/", "/screenings"):
        client.get(url, headers={"Accept-Language": "fr"})
    assert len(kept) == 5
    client.get("/privacy", headers={"Accept-Language": "he"})
    assert len(kept) == 10


@pytest.mark.parametrize("cached", [True, False])
def test_an_anonymous_visitor_gets_one_session_cookie_not_one_per_page(app, client, db, cached):
    """The RSVP form's CSRF token needs a session; setting it again (and clearing a remember
    cookie nobody has) on every page was Flask-Login's session protection on a session with
    no user in it (extensions.UserSessionLoginManager)."""
    app.config["PAGE_CACHE_ENABLED"] = cached
    screening = ScreeningFactory()
    first = client.get(f"/screenings/{screening.id}")
    assert [c.split("=")[0] for c in first.headers.getlist("Set-Cookie")] == ["session"]
    for url in (f"/screenings/{screening.id}", "/screenings", f"/screenings/{screening.id}"):
        assert client.get(url).headers.getlist("Set-Cookie") == [], url


# -- keyset pages: ?after=<cursor> on (start, id) ----------------------------------------------


def _tied_screenings(db, count: int = 47) -> list[int]:
    """Listed screenings three at a time at the same instant (ties on starts_at); their
    ids in the list's order (start, then id)."""
    from sqlalchemy import select, update

    from screenings.models import Screening

    from .producer_helpers import bulk_screenings

    bulk_screenings(count)
    start = datetime(2030, 5, 1, 18)  # noqa: DTZ001 naive UTC, as starts_at holds
    ids = db.session.scalars(select(Screening.id).order_by(Screening.id)).all()
    for index, screening_id in enumerate(ids):
        # Later ids start earlier, so the list's order is not the ids' order.
        moment = start + timedelta(hours=(len(ids) - index) // 3)
        db.session.execute(
            update(Screening).where(Screening.id == screening_id).values(starts_at=moment)
        )
    db.session.commit()
    rows = db.session.execute(select(Screening.starts_at, Screening.id)).all()
    return [screening_id for _start, screening_id in sorted(rows)]


def _ids(html: str) -> list[int]:
    import re

    return [int(found) for found in re.findall(r'href="/screenings/([0-9]+)"', html)]


def _link(html: str, rel: str) -> str | None:
    import re
    from html import unescape

    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return unescape(found[1]) if found else None


@pytest.mark.parametrize("url", ["/screenings", "/screenings?country=CA"])
def test_pages_walk_every_screening_once_with_ties_and_back(client, db, url):
    from screenings.models import Screening

    order = _tied_screenings(db)
    if "country" in url:
        order = [i for i in order if db.session.get(Screening, i).country == "CA"]
    seen, pages, link = [], [], url
    while link is not None:
        response = client.get(link)
        assert response.status_code == 200, link
        html = response.get_data(as_text=True)
        pages.append(_ids(html))
        seen += pages[-1]
        link = _link(html, "next")
        assert link is None or "country=CA" in link or "country" not in url  # filters kept
    assert seen == order  # each exactly once, in the list's order
    assert len(pages) == (len(order) + 19) // 20
    back, link = [], _link(html, "prev")
    while link is not None:
        html = client.get(link).get_data(as_text=True)
        back.append(_ids(html))
        link = _link(html, "prev")
    assert back == pages[-2::-1]


def _offsets(statements: list[tuple[str, object]]) -> list[int]:
    """The OFFSET of each statement that has one (SQLAlchemy writes ``OFFSET ?`` with 0 on
    SQLite whenever there is a LIMIT: the number is what counts)."""
    import re

    found = []
    for statement, parameters in statements:
        match = re.search(r"OFFSET (\?|%\((\w+)\)s)", statement)
        if match is not None:
            found.append(parameters[match[2]] if match[2] else parameters[-1])
    return found


def test_a_deep_page_reads_no_offset(client, db, app):
    from sqlalchemy import event

    from screenings.extensions import db as _db

    order = _tied_screenings(db, 90)
    html = client.get("/screenings").get_data(as_text=True)
    for _ in range(3):
        html = client.get(_link(html, "next")).get_data(as_text=True)
    deep = _link(html, "next")
    statements: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    app.config["PAGE_CACHE_ENABLED"] = False
    event.listen(_db.engine, "before_cursor_execute", record)
    try:
        response = client.get(deep)
    finally:
        event.remove(_db.engine, "before_cursor_execute", record)
    assert any("FROM screenings" in s for s, _p in statements)
    assert set(_offsets(statements)) <= {0}, statements
    assert _ids(response.get_data(as_text=True)) == order[80:]


HOSTILE_CURSORS = [
    "x",
    "%00",
    "A" * 5000,
    "..",
    "-1",
    "MjAzMDA1MDExODAwMDAwMDAwMDAuMQ",  # a cursor without its padding: fine, a position
    "OTk5OTk5OTk5OTk5OTk5OTk5OTkuMQ",  # month 99
    "MjAzMDA1MDExODAwMDAwMDAwMDAuOTk5OTk5OTk5OQ",  # an id beyond the column's range
    "_w",  # base64 of a byte that is no UTF-8
    "8J-YgA",  # an emoji's bytes
    "MjAzMDA1MDExODAwMDAwMDAwMDAuMQ==extra",
    "\u00e9",
    "é",
]


@pytest.mark.parametrize("name", ["after", "before"])
@pytest.mark.parametrize("cursor", HOSTILE_CURSORS)
def test_a_hostile_cursor_gets_a_400_or_a_page_never_a_500(client, db, name, cursor):
    ScreeningFactory()
    for path in ("/screenings", "/api/screenings"):
        response = client.get(path, query_string={name: cursor, "country": "CA"})
        assert response.status_code in (200, 400), (path, cursor, response.status_code)


def test_a_cursor_page_is_cached_under_its_cursor_and_the_listing_counter(client, db):
    from screenings.models import Screening

    order = _tied_screenings(db, 45)
    first = client.get("/screenings").get_data(as_text=True)
    second_url = _link(first, "next")
    second = client.get(second_url)
    assert _ids(second.get_data(as_text=True)) == order[20:40]
    again = client.get(second_url)
    assert again.headers["X-Cache"] == "hit"
    third_url = _link(second.get_data(as_text=True), "next")
    assert _ids(client.get(third_url).get_data(as_text=True)) == order[40:]  # its own key
    db.session.get(Screening, order[25]).organization_name = "Renamed Film Society"
    db.session.commit()
    changed = client.get(second_url)
    assert changed.headers["X-Cache"] == "miss"
    assert "Renamed Film Society" in changed.get_data(as_text=True)


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_the_lists_kept_parts_are_the_parts_rendered_now(app, client, db):
    """The upcoming list's items (each by all it shows: listings.Shown), its search fields
    (by the query, the language and the option lists) and its subscribe section (by its
    feeds) are kept (public.views._items, _search_fields, views.subscribe_section): after
    each change the list shows it at once, and every page is the page rendered with nothing
    kept, in each language, on the embed and a film's page too."""
    from sqlalchemy import update

    from screenings.models import Film, Screening

    kept = app.extensions["kept_parts"]
    screenings = [ScreeningFactory(organization_name=f"Hall {n}") for n in range(3)]
    target = screenings[1]
    slug = target.film.slug
    urls = ["/screenings", f"/screenings?film={slug}", "/screenings?country=CA", "/embed"]
    urls.append(f"/films/{slug}")

    def page(url, language="en"):
        answer = client.get(url, headers={"Accept-Language": language})
        assert answer.status_code == 200, url
        return answer.get_data(as_text=True)

    def same_as_fresh():
        for language in ("en", "fr", "he"):
            for url in urls:
                page(url, language)  # every part kept
                kept_page = page(url, language)
                kept.clear()
                assert kept_page == page(url, language), (url, language)

    same_as_fresh()
    changes = [
        (
            Screening,
            target.id,
            {"organization_name": "Hall & <Friends>"},
            "Hall &amp; &lt;Friends&gt;",
        ),
        (Screening, target.id, {"city": "Hamilton"}, "Hamilton"),
        (Screening, target.id, {"country": "FR"}, "France"),
        (Film, target.film_id, {"title": "A New Title"}, "A New Title"),
    ]
    for model, row_id, values, shown in changes:
        for url in urls:
            page(url)
        db.session.execute(update(model).where(model.id == row_id).values(**values))
        db.session.commit()
        listed = page("/screenings")
        assert shown in listed, values
        assert listed.count(shown) >= (2 if model is Film else 1), values  # item and option
    assert '<option selected value="FR">' in page("/screenings?country=FR")
    assert "Screenings in France" in page("/screenings?country=FR")
    assert "Screenings of A New Title" in page(f"/screenings?film={slug}")
    db.session.execute(
        update(Screening)
        .where(Screening.id == target.id)
        .values(starts_at=target.starts_at + timedelta(days=1, hours=1))
    )
    db.session.commit()
    same_as_fresh()


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_the_kept_search_fields_follow_the_country_and_radius_options(client, db, monkeypatch):
    """The kept search fields' key holds the country and radius options as offered
    (public.views._search_fields): a new list of either is shown at once, cursor pages too."""
    from screenings.public import views

    ScreeningFactory()
    assert '<option value="CA">Canada</option>' in client.get("/screenings").text
    monkeypatch.setattr(views, "countries", lambda locale: (("CA", "Kanada"),))
    assert '<option value="CA">Kanada</option>' in client.get("/screenings").text
    monkeypatch.setattr(nearby, "KM_CHOICES", (*nearby.KM_CHOICES, 250))
    assert '<option value="250">250 km</option>' in client.get("/screenings").text


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_a_list_reads_each_search_field_given_alone(client, db):
    """The list builds no search form for a query string without its fields (the list as it
    opens, its pages by cursor: public.views._searched), and reads each one given alone."""
    ScreeningFactory(city="Toronto")
    ScreeningFactory(
        city="Lyon", country="FR", region="", postal_code="69001", timezone="Europe/Paris"
    )
    everything = client.get("/screenings")
    assert everything.status_code == 200
    assert "Toronto" in everything.text
    assert "Lyon" in everything.text
    for query, hidden in [
        ("city=Lyon", "Toronto"),
        ("country=CA", "Lyon"),
        ("film=no-such-film", "Lyon"),
    ]:
        answer = client.get(f"/screenings?{query}")
        assert answer.status_code == 200, query
        assert hidden not in answer.text, query
    for query in ("near=Xqzzyville", "km=7"):  # an unknown town, a radius not offered
        answer = client.get(f"/screenings?{query}")
        assert answer.status_code == 422, query
        assert 'aria-invalid="true"' in answer.text, query


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_the_kept_rsvp_form_is_the_form_rendered_now(app, client, db):
    """A GET's RSVP fields are kept rendered by the party size allowed, the host's question
    and the language (public.views._rsvp_parts): each change shows at once, every page is
    the page rendered with nothing kept, and a POST's problems stand beside its fields."""
    import re

    from sqlalchemy import update

    from screenings.models import Screening

    kept = app.extensions["kept_parts"]
    screening = ScreeningFactory()
    url = f"/screenings/{screening.id}"

    def page(language="en"):
        answer = client.get(url, headers={"Accept-Language": language})
        assert answer.status_code == 200
        return re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", answer.text)

    def same_as_fresh():
        for language in ("en", "fr", "he"):
            page(language)
            kept_page = page(language)
            kept.clear()
            assert kept_page == page(language), language

    same_as_fresh()
    for values, shown in [
        ({"max_party_size": 3}, 'max="3"'),
        ({"host_question": "heard_from"}, "How did you hear about this screening?"),
        ({"host_question": "affiliation"}, "Affiliation"),
    ]:
        page()
        db.session.execute(update(Screening).where(Screening.id == screening.id).values(**values))
        db.session.commit()
        assert shown in page(), values
        same_as_fresh()
    from .conftest import submit

    refused = submit(client, url, {"name": "", "email": "x", "party_size": "9"})
    assert refused.status_code == 422
    assert 'class="error-summary"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert 'class="error-summary"' not in page()


def _page_parts(client, url, begins, ends="</section>"):
    """The part of a page from `begins` to `ends`, in en, fr and he."""
    found = {}
    for language in ("en", "fr", "he"):
        text = client.get(url, headers={"Accept-Language": language}).text
        start = text.index(begins)
        found[language] = text[start : text.index(ends, start)]
    return found


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_the_kept_calendar_links_are_the_links_made_now(app, client, db):
    """The "Add to calendar" section is kept rendered by all its links contain and the
    language (public.views._calendar_section, calendar.add_event_links_key): a change to any
    of it shows at once, and every page's section is the one rendered with nothing kept."""
    from sqlalchemy import update

    from screenings.models import Film, Screening

    kept = app.extensions["kept_parts"]
    screening, twin = ScreeningFactory(), ScreeningFactory()  # the same but for the id

    def sections(screening_id):
        return _page_parts(
            client, f"/screenings/{screening_id}", '<section aria-labelledby="calendar-heading">'
        )

    def fresh(screening_id):
        kept.clear()
        return sections(screening_id)

    before = fresh(screening.id)
    assert sections(twin.id) == fresh(twin.id) != before  # its own link and .ics
    before = fresh(screening.id)
    for model, values in [
        (Film, {"title": "Another Title"}),
        (Film, {"runtime_minutes": 97}),
        (Film, {"content_advisory": "Strong language."}),
        (Film, {"translations_json": '{"fr": {"content_advisory": "Langage cru."}}'}),
        (Screening, {"organization_name": "Another Host"}),
        # A later start, the same end: the end alone would not tell.
        (
            Screening,
            {
                "starts_at": screening.starts_at + timedelta(minutes=30),
                "duration_minutes": screening.duration_minutes - 30,
            },
        ),
        (Screening, {"duration_minutes": 200}),
        (Screening, {"venue_name": "Another Hall"}),
        (Screening, {"street_address": "1 Other Street"}),
        (Screening, {"visibility": "guests"}),  # the street for guests only
    ]:
        row_id = screening.film_id if model is Film else screening.id
        db.session.execute(update(model).where(model.id == row_id).values(**values))
        db.session.commit()
        kept_sections = sections(screening.id)
        now = fresh(screening.id)
        assert now != before, values  # the links show it
        assert kept_sections == now, values
        before = now


@pytest.mark.config(PAGE_CACHE_ENABLED=False)
def test_the_kept_particulars_are_the_particulars_rendered_now(app, client, db):
    """A screening page's particulars (host, start, duration, place, map link, website) are
    kept rendered by all they show and the language (public.views._particulars): a change
    to any of them shows at once, and every page's are the ones rendered with nothing kept."""
    from sqlalchemy import update

    from screenings.models import Screening

    kept = app.extensions["kept_parts"]
    screening = ScreeningFactory()

    def particulars():
        url = f"/screenings/{screening.id}"
        return _page_parts(client, url, '<dl class="particulars">', 'class="seats-left"')

    def fresh():
        kept.clear()
        return particulars()

    before = fresh()
    for values in [
        {"organization_name": "Another Host"},
        {"starts_at": screening.starts_at + timedelta(minutes=30)},
        {"timezone": "America/Vancouver"},
        {"duration_minutes": 200},
        {"venue_name": "Another Hall"},
        {"latitude": 43.7, "longitude": -79.4},  # the map link
        {"organization_website": "https://example.org/another"},
    ]:
        db.session.execute(update(Screening).where(Screening.id == screening.id).values(**values))
        db.session.commit()
        kept_particulars = particulars()
        now = fresh()
        assert now != before, values  # the particulars show it
        assert kept_particulars == now, values
        before = now


def test_a_screening_page_without_rsvps_sets_no_cookie(client, db):
    """No form, no CSRF token: a page whose RSVPs are closed starts no session."""
    screening = ScreeningFactory(rsvps_enabled=False)
    answer = client.get(f"/screenings/{screening.id}")
    assert answer.status_code == 200
    assert "rsvp-heading" not in answer.text
    assert answer.headers.getlist("Set-Cookie") == []
