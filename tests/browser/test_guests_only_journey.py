"""Guests only, in the real browser (issue 11): an organizer books a screening whose street
goes to confirmed guests alone; an attendee RSVPs and sees the address only once confirmed."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from screenings.extensions import db
from screenings.models import Screening
from screenings.services import rsvps as rsvp_service

from ..conftest import future_date
from ..rsvp_helpers import reply

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

STREET = "1700 Bathurst Street"


def test_guests_only_address_reaches_an_attendee_once_confirmed(page, live_server, smtp):
    # The organizer books; a faith community gets "guests only" preselected by app.js.
    page.goto(live_server + "/book")
    listing = page.get_by_role("group", name="Who sees the address")
    expect(listing.get_by_label(re.compile("^Public"))).to_be_checked()
    page.get_by_label("Organization name").fill("Beth Tzedec Congregation")
    page.get_by_label("Type of organization").select_option(label="Faith community")
    expect(listing.get_by_label(re.compile("^Guests only"))).to_be_checked()
    # Replies straight to the list here (approval, on by default for a faith community, has
    # its own journey in tests/test_guest_approval.py).
    page.get_by_label("Approve each guest").select_option("off")
    page.get_by_label("Your name").fill("Miriam Cohen")
    page.get_by_label("Your e-mail").fill("miriam@example.org")
    page.get_by_label("Venue name").fill("Main Sanctuary Hall")
    page.get_by_label("Street address").fill(STREET)
    page.get_by_label("City", exact=True).fill("Toronto")
    page.get_by_label("Postal code").fill("M5P 3K3")
    page.get_by_label("Country of the venue").select_option(label="Canada")
    page.get_by_label("Time zone of the venue").select_option("America/Toronto")
    page.get_by_label("Date", exact=True).fill(future_date(30).isoformat())
    page.get_by_label("Start time (venue's local time)").fill("19:00")
    page.get_by_label("Expected audience").fill("40")
    page.get_by_label("Seats available for RSVPs").fill("1")
    page.get_by_label("I accept the licence terms").check()
    page.get_by_label("I confirm that admission will be free").check()
    page.get_by_role("button", name="Book the screening").click()
    expect(page).to_have_url(re.compile(r"/manage/"))
    expect(page.locator(".particulars")).to_contain_text("Guests only")

    db.session.rollback()
    screening = db.session.scalar(select(Screening))
    assert screening.visibility == "guests"
    first = reply(screening, "first@example.org")  # takes the only seat
    already = len(smtp.messages)

    # The attendee finds it: venue and city, no street, no map.
    page.goto(live_server + f"/screenings/{screening.id}")
    expect(page.locator(".particulars")).to_contain_text("Main Sanctuary Hall")
    expect(page.locator("main")).not_to_contain_text("Bathurst")
    expect(page.get_by_text("confirmed guests only")).to_be_visible()
    page.locator("#name").fill("Léa Tremblay")
    page.locator("#email").fill("lea@example.org")
    page.locator("#consent").check()
    page.get_by_role("button", name="Join the waiting list").click()
    expect(page.locator(".flash")).to_contain_text("waiting list")

    # Waiting: the e-mail and her reply page keep the street back.
    # Hers: the organizer's licence may arrive after `already` was counted, before or after it.
    (waiting,) = [m for m in smtp.wait_for(already + 2, timeout=10) if "lea@" in str(m["To"])]
    text = waiting.get_body(preferencelist=("plain",)).get_content()
    assert STREET not in text
    link = re.search(re.escape(live_server) + r"/rsvp/[A-Za-z0-9_-]{20,}", text).group(0)
    page.goto(link)
    expect(page.locator(".status")).to_contain_text("waiting list")
    expect(page.locator(".venue")).not_to_contain_text("Bathurst")

    # The seat frees up: she is confirmed, and now she sees the address.
    rsvp_service.cancel_rsvp(first)
    page.reload()
    expect(page.locator(".status")).to_contain_text("Confirmed")
    expect(page.locator(".venue")).to_contain_text(STREET)
    assert page.console_errors == []
