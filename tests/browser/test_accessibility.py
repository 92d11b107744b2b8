"""axe-core in the real browser: no serious or critical WCAG 2.2 AA violation on any page."""

from __future__ import annotations

import re

import pytest

from .conftest import SITE_PAGES, describe_violations

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


@pytest.mark.parametrize("browser_locale", ["en-CA", "fr-CA", "he-IL"])
@pytest.mark.parametrize("name", SITE_PAGES)
def test_page_has_no_serious_accessibility_violation(
    page, open_site_page, axe, name, browser_locale
):
    open_site_page(page, name)
    language = browser_locale[:2]
    expect(page.locator("html")).to_have_attribute("lang", language)
    if language == "he":
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
    violations = axe(page)
    assert not violations, f"{name} ({page.url}):\n{describe_violations(violations)}"
    # What axe checks only in part: one h1, the main landmark, a title naming the site.
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("main#main")).to_have_count(1)
    expect(page).to_have_title(re.compile(r"^.+ · .+$"))


def test_axe_finds_a_planted_violation(page, live_server, axe):
    """The harness can fail: an unlabelled field and low-contrast text are reported."""
    page.goto(live_server + "/")
    assert axe(page) == []
    page.evaluate(
        """() => {
            const main = document.querySelector('main');
            main.insertAdjacentHTML('beforeend', '<input name="x"><p id="faint">faint</p>');
            // Through the CSSOM: the CSP (style-src 'self') ignores style attributes in markup.
            const faint = document.getElementById('faint').style;
            faint.color = '#bbb';
            faint.background = '#fff';
        }"""
    )
    found = {violation["id"] for violation in axe(page)}
    assert {"label", "color-contrast"} <= found


def test_skip_link_is_first_and_moves_focus_to_the_content(page, live_server):
    page.goto(live_server + "/book")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box["x"] >= 0, "the skip link is on screen when focused"
    assert box["y"] >= 0, "the skip link is on screen when focused"
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")
    # The next stop is inside the content, not back in the header.
    assert page.evaluate("document.activeElement.closest('main') !== null")
