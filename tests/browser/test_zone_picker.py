"""The venue's time zone in a real browser: friendly names, preselected from the country
and the browser's own zone; a Berlin booking goes through."""

from __future__ import annotations

import re

import pytest

from ..conftest import future_date
from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

SIZES = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1280, "height": 900}}


def _form(browser, live_server, *, timezone_id: str, size: str, locale: str = "en-US"):
    """The booking form in a browser whose own clock is timezone_id."""
    context = browser.new_context(
        locale=locale,
        timezone_id=timezone_id,
        viewport=SIZES[size],
        extra_http_headers={"Accept-Language": locale},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server + "/book")
    return context, page, errors


def _shoot(page, name: str) -> None:
    shot = ARTIFACTS / "zone-picker" / f"{name}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    zone = page.locator("#timezone")
    zone.scroll_into_view_if_needed()
    page.screenshot(path=str(shot), full_page=False)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    ("country", "browser_zone", "expected", "label"),
    [
        # Germany has two zones (Berlin, Büsingen); a browser elsewhere gets Berlin.
        ("Germany", "America/Chicago", "Europe/Berlin", "Central European Time — Berlin"),
        # The US: the browser's own zone when it is in the US.
        (
            "United States",
            "America/Los_Angeles",
            "America/Los_Angeles",
            "Pacific Time — Los Angeles",
        ),
        # Israel has one.
        ("Israel", "Europe/Paris", "Asia/Jerusalem", "Israel Time — Jerusalem"),
    ],
)
def test_zone_is_preselected_with_a_friendly_name(
    browser, live_server, size, country, browser_zone, expected, label
):
    context, page, errors = _form(browser, live_server, timezone_id=browser_zone, size=size)
    try:
        zone = page.locator("#timezone")
        page.locator("#country").select_option(label=country)
        expect(zone).to_have_value(expected)
        assert zone.locator("option:checked").inner_text() == label
        # Marked required, for eyes and for assistive technology.
        assert zone.get_attribute("required") is not None
        assert page.locator("label[for=timezone] + .required").count() == 1
        # No raw codes offered: every option reads as a name.
        texts = zone.locator("option").all_inner_texts()
        assert not [t for t in texts if re.search(r"\w/\w", t)], texts[:5]
        _shoot(page, f"{country.lower().replace(' ', '-')}-{size}")
        assert errors == []
    finally:
        context.close()


def test_us_browser_zone_that_is_an_old_alias_is_still_recognised(browser, live_server):
    """Chromium may report Asia/Calcutta or Europe/Kiev; the list has Kolkata and Kyiv."""
    context, page, _errors = _form(browser, live_server, timezone_id="Europe/Kiev", size="desktop")
    try:
        page.locator("#country").select_option(label="Ukraine")
        expect(page.locator("#timezone")).to_have_value("Europe/Kyiv")
    finally:
        context.close()


def test_a_berlin_booking_goes_through(browser, live_server, smtp):
    """Germany chosen, the zone left as preselected: the booking is made, in Berlin time."""
    context, page, errors = _form(
        browser, live_server, timezone_id="Europe/Berlin", size="desktop", locale="de-DE"
    )
    try:
        fill = {
            "#organization_name": "Jüdische Gemeinde",
            "#organization_website": "https://example.org",
            "#contact_name": "Lea Weiss",
            "#contact_email": "lea@example.org",
            "#venue_name": "Gemeindesaal",
            "#street_address": "Oranienburger Str. 28",
            "#city": "Berlin",
            "#postal_code": "10117",
            "#start_date": future_date(30).isoformat(),
            "#start_time": "19:00",
            "#expected_audience": "80",
            "#capacity": "60",
        }
        for selector, value in fill.items():
            page.locator(selector).fill(value)
        page.locator("#organization_type").select_option("faith_community")
        page.locator("#country").select_option("DE")
        expect(page.locator("#timezone")).to_have_value("Europe/Berlin")
        page.locator("input[name=listing][value=public]").check()
        page.locator("#accept_terms").check()
        page.locator("#free_admission").check()
        page.locator("main form.booking-form button[type=submit]").click()
        page.wait_for_url(re.compile(r"/manage/"))
        assert errors == []
    finally:
        context.close()
