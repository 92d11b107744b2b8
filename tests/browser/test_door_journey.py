"""The door in a real browser: the organizer makes a helper link, a volunteer checks guests
in by typed code and by name, a scan made offline is sent when the connection returns, and
the page passes axe and fits a 375 px phone."""

from __future__ import annotations

import pytest

from screenings.capabilities import manage_token
from screenings.extensions import db
from screenings.models import Rsvp
from screenings.services import door

from ..factories import make_screening
from ..rsvp_helpers import reply
from .conftest import describe_violations

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


def _guests():
    screening = make_screening(capacity=20)
    guests = [
        reply(screening, email=f"g{i}@example.org", name=name, party_size=size)
        for i, (name, size) in enumerate(
            [("Avi Ben-David", 1), ("Bracha Stein", 2), ("Chana Weiss", 1), ("Dov Peretz", 1)]
        )
    ]
    return screening, guests, [door.ticket_code(g) for g in guests]


def _checked_in(rsvp_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Rsvp, rsvp_id).checked_in_count


def _helper_link(page, live_server, screening) -> str:
    page.goto(f"{live_server}/manage/{manage_token(screening)}")
    page.get_by_label("Helper's name or door").fill("Front door")
    page.get_by_role("button", name="Make a helper link").click()
    field = page.get_by_label("Check-in link for Front door")
    expect(field).to_be_visible()
    return field.input_value()


@pytest.mark.parametrize("viewport", [{"width": 375, "height": 740}])
def test_volunteer_checks_in_by_code_and_name_and_offline_scans_wait(
    app, live_server, page, axe, viewport
):
    screening, guests, codes = _guests()
    helper_url = _helper_link(page, live_server, screening)
    volunteer = page.context.browser.new_context(viewport=viewport, locale="en-CA")
    door_page = volunteer.new_page()
    errors = []
    door_page.on("pageerror", lambda error: errors.append(str(error)))
    door_page.goto(helper_url)
    expect(door_page.locator("#count-expected")).to_have_text("5")

    # Two guests by typed code: the first with the one-tap button, the second's party of two
    # one by one.
    door_page.get_by_label("Ticket code").fill(codes[0].lower())
    door_page.get_by_role("button", name="Find the ticket").click()
    door_page.locator("#door-guest").get_by_role("button", name="Check in", exact=True).click()
    expect(door_page.locator("#door-message")).to_contain_text("Avi Ben-David: 1 of 1 in.")
    door_page.get_by_label("Ticket code").fill(codes[1])
    door_page.get_by_role("button", name="Find the ticket").click()
    door_page.locator("#door-guest").get_by_role("button", name="Check in", exact=True).click()
    expect(door_page.locator("#door-message")).to_contain_text("Bracha Stein: 1 of 2 in.")
    door_page.locator("#door-guest").get_by_role("button", name="Check in", exact=True).click()
    expect(door_page.locator("#door-message")).to_contain_text("Bracha Stein: 2 of 2 in.")
    # A second look at a ticket that is in says who let it in.
    door_page.get_by_label("Ticket code").fill(codes[0])
    door_page.get_by_role("button", name="Find the ticket").click()
    expect(door_page.locator("#door-message")).to_contain_text("by Front door")

    # One by name.
    door_page.get_by_label("Guest's name").fill("weiss")
    door_page.get_by_role("button", name="Search").click()
    result = door_page.locator("#door-results li", has_text="Chana Weiss")
    result.get_by_role("button", name="Check in", exact=True).click()
    expect(door_page.locator("#count-in")).to_have_text("4")
    assert [_checked_in(g.id) for g in guests[:3]] == [1, 2, 1]

    # The door page passes axe and fits the phone's width.
    violations = axe(door_page)
    assert not violations, describe_violations(violations)
    width = door_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, width

    # Offline: the scan waits in the page, and goes when the connection returns.
    volunteer.set_offline(True)
    door_page.get_by_label("Express: check the whole party in on scan").check()
    door_page.get_by_label("Ticket code").fill(codes[3])
    door_page.get_by_role("button", name="Find the ticket").click()
    expect(door_page.locator("#door-message")).to_contain_text("No connection: saved")
    expect(door_page.locator("#queue-state")).to_contain_text("1 check-in waiting")
    assert _checked_in(guests[3].id) == 0
    volunteer.set_offline(False)
    expect(door_page.locator("#count-in")).to_have_text("5", timeout=15_000)
    expect(door_page.locator("#queue-state")).to_be_hidden()
    assert _checked_in(guests[3].id) == 1
    assert errors == []
    volunteer.close()
