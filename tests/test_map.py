"""The world maps: a dot per city drawn on the server, never nearer than the city for a
guests-only or private screening, private ones left off the public map, cached like the list."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import unescape

import pytest

from screenings import caching, worldmap
from screenings.demo import generate
from screenings.models import Screening, ScreeningReport
from screenings.services import maps, observances

from . import producer_helpers
from .factories import RsvpFactory, ScreeningFactory, future_date
from .producer_helpers import count_queries

producer = producer_helpers.producer  # the fixture, logged in on `client`

SVG = "{http://www.w3.org/2000/svg}"

# Where each venue is: far enough out of town (some 30 km) to tell apart on the map from its
# city's point. A guests-only or private screening's must never be drawn.
STREETS = {
    "Toronto": (43.90, -79.10),
    "Montréal": (45.70, -73.90),
    "Tiny Creek": (49.50, -122.50),  # not in the gazetteer: on the zone's point (Vancouver)
    "Ottawa": (45.10, -76.10),
}


def _placed(**values) -> Screening:
    """A screening at its street's coordinates (the booking form does not ask for them)."""
    latitude, longitude = STREETS[values["city"]]
    return ScreeningFactory(latitude=latitude, longitude=longitude, **values)


def _map(html: str) -> ET.Element:
    svg = re.search(r"<svg [^>]*class=\"world-map-svg\".*?</svg>", html, re.S)
    assert svg, "no map on the page"
    return ET.fromstring(svg.group(0))


def _dots(svg: ET.Element) -> dict[str, tuple[float, float, str]]:
    """aria-label → (cx, cy, href) of each dot."""
    dots = {}
    for link in svg.iter(f"{SVG}a"):
        circle = link.find(f"{SVG}circle")
        dots[link.get("aria-label")] = (
            float(circle.get("cx")),
            float(circle.get("cy")),
            link.get("href"),
        )
    return dots


@pytest.fixture
def canada(db):
    """Two public screenings in Toronto, a guests-only one in Montréal and one in a town the
    gazetteer does not know, and a private one in Ottawa: each with its street's coordinates."""
    return [
        _placed(city="Toronto", visibility="public"),
        _placed(city="Toronto", visibility="public", venue_name="Second Hall"),
        _placed(city="Montréal", region="Québec", timezone="America/Toronto", visibility="guests"),
        _placed(city="Tiny Creek", region="BC", timezone="America/Vancouver", visibility="guests"),
        _placed(city="Ottawa", visibility="private"),
    ]


def test_the_maps_svg_has_a_dot_for_each_city_and_none_at_a_guests_only_or_private_street(
    client, canada
):
    html = client.get("/map").get_data(as_text=True)
    dots = _dots(_map(html))
    assert set(dots) == {
        "Toronto: 2 screenings",
        "Montréal: 1 screening",
        "Tiny Creek: 1 screening",
    }
    # Each dot stands on its city, never on a guests-only venue's street.
    assert dots["Montréal: 1 screening"][:2] == worldmap.project(
        *observances.city_point("Montréal", "CA")
    )
    assert dots["Tiny Creek: 1 screening"][:2] == worldmap.project(
        *observances.zone_point("America/Vancouver")
    )
    hidden = {worldmap.project(*STREETS[city]) for city in ("Montréal", "Tiny Creek", "Ottawa")}
    assert not hidden & {dot[:2] for dot in dots.values()}
    placed = {(c.city, c.latitude, c.longitude) for c in maps.upcoming_by_city()}
    assert ("Montréal", *observances.city_point("Montréal", "CA")) in placed
    # A private screening is not on the public map at all: no dot, no row, not its city.
    assert "Ottawa" not in html
    # The table beside the map holds the same numbers.
    rows = re.findall(r"<tr><td><a [^>]*>([^<]+)</a></td><td>([^<]+)</td><td>(\d+)</td></tr>", html)
    assert sorted(rows) == [
        ("Montréal", "Canada", "1"),
        ("Tiny Creek", "Canada", "1"),
        ("Toronto", "Canada", "2"),
    ]
    # Canada is shaded (four screenings), and says so when pointed at.
    titles = {
        t.text: p.get("class")
        for p in _map(html).iter(f"{SVG}path")
        if (t := p.find(f"{SVG}title")) is not None
    }
    assert titles == {"Canada: 4 screenings": "shade-5"}


def test_each_dot_links_to_that_citys_upcoming_list(client, canada):
    dots = _dots(_map(client.get("/map").get_data(as_text=True)))
    _x, _y, href = dots["Montréal: 1 screening"]
    listed = client.get(unescape(href)).get_data(as_text=True)
    assert listed.count('class="card screening-item"') == 1
    assert "· <bdi>Montréal</bdi>, Canada" in listed


def _cached(client) -> bool:
    with count_queries() as statements:
        assert client.get("/map").status_code == 200
    return len(statements) == 1  # the version read alone


def test_the_map_is_cached_and_follows_each_change_of_a_listing_but_not_seats(client, db, canada):
    caching.clear()
    assert "Ottawa: 1 screening" not in _dots(_map(client.get("/map").get_data(as_text=True)))
    assert _cached(client)
    RsvpFactory(screening=canada[0], party_size=2)
    assert _cached(client), "a seat taken changes nothing the map shows"
    canada[1].city = "Hamilton"
    db.session.commit()
    assert not _cached(client)
    assert "Hamilton: 1 screening" in _dots(_map(client.get("/map").get_data(as_text=True)))
    ottawa = canada[-1]
    ottawa.visibility, ottawa.is_public = "guests", True  # a new listing: the key moves
    db.session.commit()
    dots = _dots(_map(client.get("/map").get_data(as_text=True)))
    assert "Ottawa: 1 screening" in dots
    assert dots["Ottawa: 1 screening"][:2] == worldmap.project(
        *observances.city_point("Ottawa", "CA")
    )


def test_a_public_screening_in_a_town_the_gazetteer_lacks_stands_on_its_public_venues(client, db):
    _placed(city="Tiny Creek", timezone="America/Vancouver", visibility="public")
    ScreeningFactory(
        city="Tiny Creek",
        timezone="America/Vancouver",
        visibility="guests",
        latitude=10.0,
        longitude=10.0,
    )
    [city] = maps.upcoming_by_city()
    assert (city.count, city.latitude, city.longitude) == (2, *STREETS["Tiny Creek"])


def test_cities_typed_differently_are_one_dot(client, db):
    ScreeningFactory(city="Toronto")
    ScreeningFactory(city="  toronto ")
    [city] = maps.upcoming_by_city()
    assert (city.city, city.count) == ("Toronto", 2)


def test_the_producers_reach_map_has_every_past_screening_at_city_level(client, db, producer):
    two_days_ago = future_date(-2)
    past = [
        _placed(city="Toronto", visibility="public", start_date=two_days_ago),
        _placed(
            city="Montréal",
            timezone="America/Toronto",
            visibility="guests",
            start_date=two_days_ago,
        ),
        _placed(city="Ottawa", visibility="private", start_date=two_days_ago),
    ]
    db.session.add(ScreeningReport(screening_id=past[2].id, actual_attendance=37))
    db.session.commit()
    ScreeningFactory(city="Tiny Creek", timezone="America/Vancouver")  # still to come: not here

    html = client.get("/producer/reach").get_data(as_text=True)
    dots = _dots(_map(html))
    assert set(dots) == {
        "Toronto: 1 past screening, 0 people reported",
        "Montréal: 1 past screening, 0 people reported",
        "Ottawa: 1 past screening, 37 people reported",
    }
    for city, people in (("Toronto", 0), ("Montréal", 0), ("Ottawa", 37)):
        x, y, _href = dots[f"{city}: 1 past screening, {people} people reported"]
        assert (x, y) == worldmap.project(*observances.city_point(city, "CA"))
    assert re.search(r">Ottawa</a></td><td>Canada</td><td>1</td><td>37</td>", html)
    _x, _y, href = dots["Ottawa: 1 past screening, 37 people reported"]
    listed = client.get(unescape(href)).get_data(as_text=True)
    assert f"/producer/screenings/{past[2].id}" in listed


def test_a_dot_links_to_its_citys_list_whatever_letters_its_name_starts_with(client, db):
    ScreeningFactory(city="Örebro", country="SE", region="", timezone="Europe/Stockholm")
    ScreeningFactory(city="Zürich", country="CH", region="", timezone="Europe/Zurich")
    dots = _dots(_map(client.get("/map").get_data(as_text=True)))
    for city in ("Örebro", "Zürich"):
        _x, _y, href = dots[f"{city}: 1 screening"]
        listed = client.get(unescape(href)).get_data(as_text=True)
        assert listed.count('class="card screening-item"') == 1, city


def test_the_map_is_linked_from_the_list_and_every_page(client, db):
    assert 'href="/map"' in client.get("/screenings").get_data(as_text=True)
    assert 'href="/map"' in client.get("/privacy").get_data(as_text=True)


def test_the_map_reads_right_to_left_in_hebrew_without_mirroring_the_world(client, canada):
    html = client.get("/map", headers={"Accept-Language": "he"}).get_data(as_text=True)
    assert 'dir="rtl"' in html
    assert _map(html).get("dir") == "ltr"
    assert "style=" not in html


def test_the_map_is_a_fixed_number_of_queries_however_many_screenings(client, db):
    def queries() -> int:
        caching.clear()
        with count_queries() as statements:
            assert client.get("/map").status_code == 200
        return len(statements)

    generate(200, 0, seed=5)
    small = queries()
    generate(2000, 0, seed=6)
    assert queries() == small <= 3


def test_country_shapes_are_drawn_once_per_process():
    shapes = worldmap.countries()
    assert worldmap.countries() is shapes
    codes = {shape.code for shape in shapes}
    assert {"CA", "FR", "IL", "FJ", "RU"} <= codes
    assert "AQ" not in codes
    for shape in shapes:
        for x, y in re.findall(r"([\d.]+),([\d.]+)", shape.path):
            assert 0 <= float(x) <= worldmap.WIDTH
            assert 0 <= float(y) <= worldmap.HEIGHT
