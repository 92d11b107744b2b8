"""The world map in a real browser: axe finds nothing serious at a phone's and a desktop's
width, in English and in Hebrew (right to left); every dot is reached with Tab, shows its
focus, has a name, and opens its city's list; the page never scrolls sideways."""

from __future__ import annotations

import pytest

from ..factories import make_screening
from ..producer_helpers import make_past
from .conftest import ARTIFACTS, describe_violations, log_in

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def cities(app):
    for city, zone, visibility in (
        ("Toronto", "America/Toronto", "public"),
        ("Toronto", "America/Toronto", "guests"),
        ("Montréal", "America/Toronto", "guests"),
        ("Vancouver", "America/Vancouver", "public"),
        ("Ottawa", "America/Toronto", "private"),
    ):
        make_screening(city=city, timezone=zone, visibility=visibility)


@pytest.mark.parametrize("browser_locale", ["en-CA", "he-IL"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["375px", "1280px"])
def test_the_map_is_accessible_at_a_phones_and_a_desktops_width(
    page, live_server, axe, cities, browser_locale, viewport
):
    page.goto(live_server + "/map")
    language = browser_locale[:2]
    expect(page.locator("html")).to_have_attribute("dir", "rtl" if language == "he" else "ltr")
    shot = ARTIFACTS / "map" / f"map-{language}-{viewport['width']}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    violations = axe(page)
    assert not violations, describe_violations(violations)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"the map page is {width}px wide"
    dots = page.locator("svg.world-map-svg a.map-dot")
    expect(dots).to_have_count(3)  # Toronto, Montréal, Vancouver; never the private Ottawa
    # The same numbers in the table, a link per city.
    expect(page.locator(".world-map-table tbody tr")).to_have_count(3)
    assert page.console_errors == []


def test_each_dot_is_reached_by_keyboard_shows_its_focus_and_opens_its_city(
    page, live_server, cities
):
    page.goto(live_server + "/map")
    toronto = page.get_by_role("link", name="Toronto: 2 screenings")
    expect(toronto).to_have_count(1)
    expect(page.get_by_role("group", name="World map of upcoming screenings")).to_have_count(1)
    names = []
    for _ in range(40):
        page.keyboard.press("Tab")
        name = page.evaluate(
            "document.activeElement.closest('svg')"
            " ? document.activeElement.getAttribute('aria-label') : null"
        )
        if name:
            names.append(name)
            stroke = page.evaluate(
                "getComputedStyle(document.activeElement.querySelector('circle')).strokeWidth"
            )
            assert stroke == "3px", f"{name}: no visible focus ({stroke})"
        if len(names) == 3:
            break
    assert sorted(names) == [
        "Montréal: 1 screening",
        "Toronto: 2 screenings",
        "Vancouver: 1 screening",
    ]
    # Back to Toronto's dot by keyboard, and Enter opens its list.
    while (
        page.evaluate("document.activeElement.getAttribute('aria-label')")
        != "Toronto: 2 screenings"
    ):
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/screenings?city=Toronto&country=CA")
    expect(page.locator("li.screening-item")).to_have_count(2)


def test_the_reach_map_is_accessible_to_the_producer(page, live_server, axe, producer, app):
    make_past(make_screening(city="Ottawa", visibility="private"))
    log_in(page, live_server)
    page.goto(live_server + "/producer/reach")
    expect(
        page.get_by_role("link", name="Ottawa: 1 past screening, 0 people reported")
    ).to_have_count(1)
    violations = axe(page)
    assert not violations, describe_violations(violations)
