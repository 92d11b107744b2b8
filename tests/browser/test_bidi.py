"""Right-to-left pages in a real browser: licence terms start with their number, whichever
language they are written in, and someone's own English words keep to themselves inside a
Hebrew sentence."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from screenings.extensions import db
from screenings.models import Film, Screening
from screenings.services.films import THE_KILLING_ROADS_TERMS, set_terms

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

SIZES = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1280, "height": 900}}

# For each paragraph of the terms shown: its text, its direction, and the boxes
# (Range.getBoundingClientRect) of its first character and of the last character on its
# first line, with the leftmost and rightmost edges of every character on that line.
MEASURE_TERMS = """
box => Array.from(box.querySelectorAll('p')).map(p => {
  const node = p.firstChild;
  const text = node.data;
  const rect = i => {
    const range = document.createRange();
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    return range.getBoundingClientRect();
  };
  const first = rect(0);
  const line = [];
  let last = first;
  for (let i = 0; i < text.length; i++) {
    if (/\\s/.test(text[i])) continue;
    const r = rect(i);
    if (Math.abs(r.top - first.top) < first.height / 2) { line.push(r); last = r; }
  }
  return {
    text: p.textContent,
    direction: getComputedStyle(p).direction,
    first: {left: first.left, right: first.right},
    last: {left: last.left, right: last.right},
    lineLeft: Math.min(...line.map(r => r.left)),
    lineRight: Math.max(...line.map(r => r.right)),
    charsOnLine: line.length,
  };
})
"""


def _hebrew_page(browser, size: str):
    context = browser.new_context(
        locale="he-IL", viewport=SIZES[size], extra_http_headers={"Accept-Language": "he"}
    )
    context.set_default_timeout(10_000)
    return context, context.new_page()


def _shoot(page, locator, name: str) -> None:
    shot = ARTIFACTS / "bidi" / f"{name}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    locator.scroll_into_view_if_needed()
    page.screenshot(path=str(shot), full_page=False)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("terms_language", "direction"), [("en", "ltr"), ("he", "rtl")])
def test_each_licence_term_starts_with_its_number(
    app, browser, live_server, size, terms_language, direction
):
    film = db.session.scalar(select(Film).where(Film.code == "TKR"))
    if terms_language == "en":
        # A new version without a Hebrew text: a Hebrew reader is shown the English one.
        set_terms(film, THE_KILLING_ROADS_TERMS, {})
        db.session.commit()
    context, page = _hebrew_page(browser, size)
    try:
        page.goto(f"{live_server}/book?film={film.slug}")
        assert page.locator("html").get_attribute("dir") == "rtl"
        box = page.locator(f"[data-film-terms='{film.id}'] .terms")
        assert box.get_attribute("lang") == terms_language
        assert (page.locator(".terms-fallback").count() == 1) == (terms_language == "en")
        terms = box.evaluate(MEASURE_TERMS)
        assert len(terms) == 8, [t["text"][:20] for t in terms]
        for number, term in enumerate(terms, start=1):
            label = f"term {number} ({term['text'][:30]!r})"
            # DOM order: the number comes first.
            assert term["text"].startswith(f"{number}."), label
            assert term["direction"] == direction, label
            assert term["charsOnLine"] > 10, label
            if direction == "ltr":
                # English: the number is the leftmost character of its line, and the line
                # runs on to the right of it.
                assert term["first"]["left"] <= term["lineLeft"] + 0.5, (label, term)
                assert term["last"]["right"] > term["first"]["right"], (label, term)
            else:
                # Hebrew: the number is the rightmost, and the line runs on to its left.
                assert term["first"]["right"] >= term["lineRight"] - 0.5, (label, term)
                assert term["last"]["left"] < term["first"]["left"], (label, term)
        _shoot(page, box, f"booking-terms-{terms_language}-on-hebrew-page-{size}")
    finally:
        context.close()


@pytest.mark.parametrize("size", SIZES)
def test_an_english_host_name_is_isolated_in_a_hebrew_sentence(
    app, browser, live_server, booked, size
):
    screening = db.session.scalar(select(Screening))
    context, page = _hebrew_page(browser, size)
    try:
        page.goto(f"{live_server}/screenings/{screening.id}")
        sentence = page.locator("p.who-sees-replies")
        # A Hebrew sentence naming the host, the name in a <bdi> of its own.
        assert "רק" in sentence.inner_text()
        assert sentence.locator("bdi").all_inner_texts() == ["Beth Tzedec Congregation"]
        assert page.locator(".particulars bdi", has_text="Beth Tzedec Congregation").count() == 1
        _shoot(page, sentence, f"screening-host-name-on-hebrew-page-{size}")
    finally:
        context.close()
