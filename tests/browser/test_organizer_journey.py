"""The organizer's journey in a real browser: book, fix a mistake, manage, edit, cancel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..conftest import future_date

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

LICENCE_NUMBER = re.compile(r"TKR-[0-9A-Z]{4}-[0-9A-Z]{4}")


def _revised_licence_mail(smtp, number: str, already: int):
    """The revised-licence e-mail, delivered right after the edit's response."""
    messages = smtp.wait_for(already + 1, timeout=10)
    assert len(messages) == already + 1, "the revised licence was not delivered after commit"
    mail = messages[already]
    assert f"Revised licence {number} (revision 2)" in str(mail["Subject"])
    return mail


def test_organizer_books_manages_edits_and_cancels(page, live_server, smtp, tmp_path):
    manage_link = re.compile(re.escape(live_server) + r"/manage/[A-Za-z0-9_-]{20,}")

    # The home page leads to the booking form.
    page.goto(live_server + "/")
    expect(page).to_have_title(re.compile("Free community screenings"))
    page.get_by_role("main").get_by_role("link", name="Book a screening").click()
    expect(page).to_have_url(live_server + "/book")
    expect(page.get_by_role("heading", level=1)).to_have_text("Book a free screening")
    expect(page.get_by_label("Film", exact=True)).to_have_value("1")
    expect(page.get_by_label("Duration in minutes")).to_have_value("145")

    # No organization type is chosen for the person, and their country is asked only when
    # it is not the venue's: the box reveals it, unticking hides it again.
    organization_type = page.get_by_label("Type of organization")
    expect(organization_type).to_have_value("")
    expect(organization_type.locator("option:checked")).to_have_text("Choose…")
    elsewhere = page.get_by_label("Our organization is based in another country")
    organization_country = page.locator("#organization_country")
    expect(elsewhere).not_to_be_checked()
    expect(organization_country).to_be_hidden()
    elsewhere.check()
    expect(page.get_by_label("Organization's country")).to_be_visible()
    expect(page.get_by_label("Organization's country")).to_be_enabled()
    elsewhere.uncheck()
    expect(organization_country).to_be_hidden()
    expect(organization_country).to_be_disabled()  # not sent: the venue's country is copied

    # Filled in like a person, except the e-mail, forgotten.
    page.get_by_label("Organization name").fill("Beth Tzedec Congregation")
    organization_type.select_option(label="Faith community")
    page.get_by_label("Website").fill("https://example.org")
    page.get_by_label("Your name").fill("Miriam Cohen")
    page.get_by_label("Phone (optional)").fill("+1 416 555 0100")
    page.get_by_label("Venue name").fill("Main Sanctuary Hall")
    page.get_by_label("Street address").fill("1700 Bathurst Street")
    page.get_by_label("City", exact=True).fill("Toronto")
    page.get_by_label("Region, state or province").fill("Ontario")
    page.get_by_label("Postal code").fill("M5P 3K3")

    # A country with one time zone: app.js chooses it.
    country = page.get_by_label("Country of the venue")
    zone = page.get_by_label("Time zone of the venue")
    country.select_option(label="Israel")
    expect(zone).to_have_value("Asia/Jerusalem")
    # Canada has several: the list narrows to them, its main zone (or the browser's own,
    # when in Canada) preselected, and the person may choose another.
    country.select_option(label="Canada")
    expect(zone).not_to_have_value("")
    zone_values = zone.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert "America/Toronto" in zone_values
    assert "America/Vancouver" in zone_values
    assert "Asia/Jerusalem" not in zone_values
    assert "Europe/Paris" not in zone_values
    zone.select_option("America/Toronto")

    page.get_by_label("Date", exact=True).fill(future_date(30).isoformat())
    page.get_by_label("Start time (venue's local time)").fill("19:00")
    page.get_by_label("Expected audience").fill("120")
    page.get_by_label("Seats available for RSVPs").fill("100")
    page.get_by_label("Public: listed on the upcoming screenings page").check()
    expect(page.get_by_label("Let attendees RSVP online")).to_be_checked()
    page.get_by_label("Notes for the producer (optional)").fill("Discussion with a survivor. 🎬")
    page.get_by_label("About the event, for the public (optional)").fill(
        "Q&A with the director.\nDoors open at 18:30."
    )
    page.get_by_label("I accept the licence terms").check()
    page.get_by_label("I confirm that admission will be free").check()
    page.get_by_role("button", name="Book the screening").click()

    # The mistake is shown beside its field; focus is on the summary, which links to it.
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link", name=re.compile("Your e-mail"))).to_have_attribute(
        "href", "#contact_email"
    )
    email = page.get_by_label("Your e-mail")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#contact_email-error")).to_have_text("This field is required.")
    assert "contact_email-error" in email.get_attribute("aria-describedby").split()
    # Everything else typed is kept.
    expect(page.get_by_label("Organization name")).to_have_value("Beth Tzedec Congregation")
    expect(zone).to_have_value("America/Toronto")
    expect(page.get_by_label("Notes for the producer (optional)")).to_have_value(
        "Discussion with a survivor. 🎬"
    )
    expect(page.get_by_label("I accept the licence terms")).to_be_checked()

    email.fill("miriam@example.org")
    page.get_by_role("button", name="Book the screening").click()

    # The manage page: success flash and the licence number.
    expect(page).to_have_url(manage_link)
    manage_url = page.url
    flash = page.locator(".flash-success")
    expect(flash).to_contain_text("Your screening is booked and licence")
    number = LICENCE_NUMBER.search(flash.inner_text()).group(0)
    expect(page.locator(".status")).to_contain_text(f"Approved: licence {number} is issued.")
    expect(page.get_by_text("Discussion with a survivor. 🎬")).to_be_visible()

    # The public page shows the description as typed, on its two lines.
    public_page = page.context.new_page()
    public_page.goto(page.get_by_role("link", name="Open the public page").get_attribute("href"))
    about = public_page.locator(".event-description p")
    expect(about).to_have_attribute("dir", "auto")
    expect(about).to_have_text("Q&A with the director.\nDoors open at 18:30.")
    top, second = about.evaluate(
        """p => { const range = document.createRange(); range.selectNodeContents(p);
                  const rects = [...range.getClientRects()]; return [rects[0].top,
                  rects[rects.length - 1].top]; }"""
    )
    assert second > top, "the line break was not kept"
    public_page.close()

    # The licence e-mail reaches the SMTP server, with the manage link in it.
    messages = smtp.wait_for(1)
    licence_mail = next(m for m in messages if number in str(m["Subject"]))
    assert licence_mail["To"].addresses[0].addr_spec == "miriam@example.org"
    text = licence_mail.get_body(preferencelist=("plain",)).get_content()
    link = manage_link.search(text)
    assert link, text
    assert link.group(0) == manage_url

    # The link from the e-mail opens the page, in a browser with no session of its own.
    page.context.clear_cookies()
    page.goto(link.group(0))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your screening of The Killing Roads")

    # The licence as a PDF.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the licence (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"licence-{number}.pdf"
    pdf = Path(tmp_path / "licence.pdf")
    download.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")

    # A new venue: a revised licence, e-mailed.
    page.get_by_role("link", name="Change the screening").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Change your screening")
    expect(page.get_by_label("Time zone of the venue")).to_have_value("America/Toronto")
    # In sections: each a group named by its legend.
    for legend, label in (
        ("Your organization", "Type of organization"),
        ("The film and the venue", "Venue name"),
        ("Date and time", "Time zone of the venue"),
        ("Guests", "Seats available for RSVPs"),
    ):
        group = page.get_by_role("group", name=legend, exact=True)
        expect(group.get_by_label(label)).to_be_visible()
    expect(page.get_by_label("Type of organization")).to_have_value("faith_community")
    expect(page.locator("#organization_country")).to_be_hidden()
    page.get_by_label("Venue name").fill("Community Hall")
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(manage_url)
    expect(page.locator(".flash-success")).to_have_text(
        "Changes saved. A revised licence is issued and e-mailed to you."
    )
    expect(page.get_by_text("(revision 2)")).to_be_visible()
    expect(page.locator("dl.particulars")).to_contain_text("Community Hall")
    revised = _revised_licence_mail(smtp, number, already=len(messages))
    assert revised.get_body(preferencelist=("plain",)).get_content().count("Community Hall")

    # Cancelling is behind a disclosure, and needs the confirmation box: first without it.
    page.get_by_text("Cancel the screening…").click()
    page.get_by_role("button", name="Cancel the screening").click()
    confirm = page.get_by_label("Yes, cancel this screening.")
    expect(confirm).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#confirm-error")).to_have_text("Tick the box to confirm the cancellation.")
    expect(page.locator(".status")).to_contain_text("Approved")
    confirm.check()
    page.get_by_label("Reason (optional, shared with the producer)").fill("The hall flooded.")
    page.get_by_role("button", name="Cancel the screening").click()
    expect(page).to_have_url(manage_url)
    expect(page.locator(".flash-success")).to_contain_text("The screening is cancelled.")
    expect(page.locator(".status")).to_have_text("Cancelled.")
    expect(page.get_by_role("link", name="Change the screening")).to_have_count(0)

    # The public verification page says so.
    page.get_by_role("link", name="Public verification page").click()
    expect(page).to_have_url(f"{live_server}/licences/{number}")
    expect(page.locator(".status")).to_contain_text("Cancelled")
    expect(page.locator("main")).not_to_contain_text("miriam@example.org")

    # Nothing was blocked by the Content-Security-Policy or broke in the page's script.
    assert page.console_errors == []


def test_without_script_the_organizations_country_is_still_there_to_choose(browser, live_server):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(live_server + "/book")
        expect(page.get_by_label("Our organization is based in another country")).to_be_visible()
        expect(page.get_by_label("Organization's country")).to_be_visible()
        expect(page.get_by_label("Organization's country")).to_be_enabled()
        expect(page.locator("#organization_country-hint")).to_contain_text("when not in the venue")
    finally:
        context.close()
