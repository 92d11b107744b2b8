"""The attendee's page in the real browser (issue 16, item 8), at 375 and 1280 px: the
confirmation card with calendar buttons, too many seats refused beside the field, fewer seats
taken, cancel behind its confirmation, then "RSVP again" back to the form. axe checks each."""

from __future__ import annotations

import pytest

from screenings.capabilities import rsvp_token
from screenings.extensions import db

from ..factories import make_screening
from ..rsvp_helpers import reply
from .conftest import ARTIFACTS, describe_violations

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

SIZES = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1280, "height": 900}}


def shoot(page, size: str, step: str) -> None:
    shot = ARTIFACTS / "attendee-card" / f"{size}-{step}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)


def assert_fits(page, size: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= SIZES[size]["width"], f"{width}px wide"


@pytest.mark.parametrize(("size", "viewport"), list(SIZES.items()))
def test_card_seats_cancel_and_rsvp_again(page, live_server, axe, smtp, size, viewport):
    screening = make_screening(capacity=4)
    row = reply(screening, party_size=2)
    reply(screening, email="bob@example.org", party_size=1)
    token, screening_id = rsvp_token(row), screening.id
    db.session.commit()

    page.goto(f"{live_server}/rsvp/{token}")
    card = page.locator(".rsvp-card")
    expect(card.get_by_role("heading", level=1)).to_have_text("You're going")
    expect(card.get_by_role("link", name="Download (.ics)")).to_be_visible()
    expect(card.get_by_role("link", name="Google Calendar")).to_be_visible()
    expect(card.get_by_role("link", name="The screening's page")).to_have_attribute(
        "href", f"/screenings/{screening_id}"
    )
    assert_fits(page, size)
    shoot(page, size, "1-going")
    assert not (violations := axe(page)), describe_violations(violations)

    # Too many seats: the message beside the field, the entry kept.
    page.get_by_label("Seats (you included)").fill("4")
    page.get_by_role("button", name="Change seats").click()
    expect(page.locator("#party_size-error")).to_contain_text("Only 1 more seat is left.")
    expect(page.get_by_label("Seats (you included)")).to_have_value("4")
    shoot(page, size, "2-too-many")
    assert not (violations := axe(page)), describe_violations(violations)
    page.get_by_label("Seats (you included)").fill("1")
    page.get_by_role("button", name="Change seats").click()
    expect(page.locator(".status")).to_contain_text("1 seat")

    # Cancel asks first; then the way back.
    page.locator("summary", has_text="Cancel my reply").click()
    shoot(page, size, "3-cancel-asks")
    page.get_by_role("button", name="Yes, cancel my reply").click()
    expect(card.get_by_role("heading", level=1)).to_have_text("Your reply is cancelled")
    expect(card.get_by_role("link", name="Download (.ics)")).to_have_count(0)
    assert_fits(page, size)
    shoot(page, size, "4-cancelled")
    assert not (violations := axe(page)), describe_violations(violations)
    page.get_by_role("link", name="RSVP again").click()
    expect(page).to_have_url(f"{live_server}/screenings/{screening_id}#rsvp-heading")
    expect(page.locator("#name")).to_be_visible()
