"""Every page at a phone's 375 px width: no horizontal scrolling; a screenshot as evidence."""

from __future__ import annotations

import re

import pytest

from .conftest import ARTIFACTS, SITE_PAGES

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}


@pytest.mark.parametrize("viewport", [PHONE])
@pytest.mark.parametrize("name", SITE_PAGES)
def test_page_fits_a_phone_without_horizontal_scrolling(page, open_site_page, name):
    open_site_page(page, name)
    shot = ARTIFACTS / "phone" / (re.sub(r"\W+", "-", name) + ".png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        """limit => Array.from(document.querySelectorAll('body *'))
            .filter(el => el.getBoundingClientRect().right > limit + 0.5)
            .slice(0, 5)
            .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                       + (el.className && typeof el.className === 'string'
                          ? '.' + el.className.trim().split(/\\s+/).join('.') : ''))""",
        PHONE["width"],
    )
    assert width <= PHONE["width"], f"{name} is {width}px wide; too wide: {wide}"


@pytest.mark.parametrize("viewport", [PHONE])
def test_booking_form_uses_phone_keyboards(page, live_server):
    """The right input types, so a phone shows the e-mail, phone, number, date and time pads."""
    page.goto(live_server + "/book")
    types = {
        "contact_email": "email",
        "contact_phone": "tel",
        "organization_website": "url",
        "start_date": "date",
        "start_time": "time",
        "capacity": "number",
        "expected_audience": "number",
    }
    for field_id, kind in types.items():
        assert page.locator(f"#{field_id}").get_attribute("type") == kind, field_id
