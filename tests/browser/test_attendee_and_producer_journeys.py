"""The attendee's and the producer's journeys in the real browser."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from screenings.extensions import db
from screenings.models import Film, Rsvp

from ..factories import make_screening
from .conftest import log_in

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


def test_attendee_finds_rsvps_and_cancels(page, live_server, smtp):
    screening = make_screening(city="Montréal", country="CA", timezone="America/Toronto")
    other = make_screening(
        organization_name="Elsewhere", city="Austin", country="US", timezone="America/Chicago"
    )
    # Their licences were queued outside a request (the worker sends those): none arrived.
    already = len(smtp.messages)

    # Find it: the upcoming page, filtered by city.
    page.goto(live_server + "/")
    page.get_by_role("banner").get_by_role("link", name=re.compile("Upcoming")).click()
    expect(page).to_have_url(re.compile(r"/screenings"))
    page.goto(live_server + "/screenings?city=Montr%C3%A9al")
    expect(page.get_by_text("Elsewhere")).to_have_count(0)
    page.locator(".screening-item", has_text="Beth Tzedec").get_by_role("link").first.click()
    expect(page).to_have_url(live_server + f"/screenings/{screening.id}")
    expect(page.locator(".advisory")).to_contain_text("graphic footage")

    # RSVP: a mistake first (no consent), then right.
    page.locator("#name").fill("Léa Tremblay")
    page.locator("#email").fill("lea@example.org")
    page.locator("#party_size").fill("2")
    page.get_by_role("button", name="Reserve").click()
    expect(page.locator("#consent-error")).to_be_visible()
    expect(page.locator("#name")).to_have_value("Léa Tremblay")
    page.locator("#consent").check()
    page.get_by_role("button", name="Reserve").click()
    expect(page.locator(".flash")).to_be_visible()

    # The invite arrives; its private link opens the reply, which can be cancelled.
    messages = smtp.wait_for(already + 1, timeout=10)
    invite = messages[already]
    assert [
        p.get_param("method") for p in invite.walk() if p.get_content_type() == "text/calendar"
    ] == ["REQUEST"]
    text = invite.get_body(preferencelist=("plain",)).get_content()
    link = re.search(re.escape(live_server) + r"/rsvp/[A-Za-z0-9_-]{20,}", text).group(0)
    page.goto(link)
    expect(page.locator(".status")).to_contain_text("2 seat")
    page.locator("summary", has_text="Cancel my reply").click()  # the <details> that asks first
    page.get_by_role("button", name="Yes, cancel my reply").click()
    expect(page.locator(".status")).to_contain_text("Cancelled")
    cancel = smtp.wait_for(already + 2, timeout=10)[already + 1]
    assert [
        p.get_param("method") for p in cancel.walk() if p.get_content_type() == "text/calendar"
    ] == ["CANCEL"]
    db.session.rollback()
    assert db.session.scalar(select(Rsvp.status)) == "cancelled"
    assert other.id != screening.id


def test_producer_logs_in_approves_and_exports(page, live_server, smtp, producer):
    film = db.session.scalar(select(Film))
    film.requires_approval = True
    db.session.commit()
    pending = make_screening(organization_name="Temple Emanu-El")

    log_in(page, live_server)
    page.goto(live_server + "/producer/approvals")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Waiting for approval")
    page.locator(f"#pick-{pending.id}").check()
    page.get_by_label("Approve").check()
    page.get_by_role("button", name="Apply to ticked bookings").click()
    expect(page.locator(".flash").first).to_contain_text("1 booking approved")
    # (The booking-received e-mail was queued outside any request: the worker sends it.)
    licence_mail = smtp.wait_for(1, timeout=10)[0]
    assert "licence" in str(licence_mail["Subject"]).lower()

    page.goto(live_server + "/producer/")
    expect(page.get_by_text("Temple Emanu-El").first).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download these as CSV").click()
    rows = list(csv.DictReader(io.StringIO(download_info.value.path().read_text("utf-8-sig"))))
    assert any("Temple Emanu-El" in row.values() for row in rows)

    page.get_by_role("button", name="Log out").click()
    page.goto(live_server + "/producer/")
    expect(page).to_have_url(re.compile(r"/producer/login"))
