"""Times on the attendee's and the host's pages are the venue's, in the reader's language
(Babel), never a UTC clock time with "UTC" written after it."""

from __future__ import annotations

import re
from datetime import UTC
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import select

from screenings.capabilities import manage_token
from screenings.models import Rsvp

from .factories import ScreeningFactory
from .rsvp_helpers import post_rsvp, rsvp_link
from .test_guest_approval import mail_to

VENUE = ZoneInfo("America/Toronto")  # the factory's venue: 5 or 4 hours behind UTC


def _at_venue(naive_utc):
    return naive_utc.replace(tzinfo=UTC).astimezone(VENUE)


def test_a_held_reply_says_until_when_at_the_venue_in_french(client, db, smtp):
    screening = ScreeningFactory(capacity=150, address_check="everyone")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    post_rsvp(client, screening, party_size="2")
    row = db.session.scalar(select(Rsvp))
    (message,) = mail_to(smtp, "ann@example.org")
    page = client.get(rsvp_link(message)).get_data(as_text=True)
    status = page.split('role="status">', 1)[1].split("</p>", 1)[0]
    until = _at_venue(row.hold_expires_at)
    offset = until.strftime("%z")
    assert f"{until:%H:%M} (UTC−{offset[1:3]}:{offset[3:]})" in status  # the venue's clock
    assert f"{row.hold_expires_at:%H:%M}" not in status  # not the UTC clock
    assert "Confirmez votre adresse" in status


def test_a_guest_request_says_when_it_was_asked_at_the_venue_in_hebrew(client, db, smtp):
    screening = ScreeningFactory(approves_guests=True)
    post_rsvp(client, screening, party_size="3")
    row = db.session.scalar(select(Rsvp))
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "he"
    manage = client.get(f"/manage/{manage_token(screening)}").get_data(as_text=True)
    section = manage.split('id="guest-requests-heading"', 1)[1].split("</section>", 1)[0]
    section = re.sub(r'datetime="[^"]*"', "", section)  # the machine-readable instant is UTC
    asked = _at_venue(row.created_at)
    assert format_date(asked, "medium", locale="he") in section
    assert f"{asked:%H:%M}" in section
    assert f"{row.created_at:%H:%M}" not in section
    assert "UTC" not in section


def test_holiday_and_blackout_dates_are_written_in_the_readers_language(app, db):
    from datetime import date, time

    from flask_babel import force_locale

    from screenings.services import observances, rules

    christmas = observances.draft(
        date(2027, 12, 25), time(19, 0), country="CA", timezone="America/Toronto", city="Toronto"
    )
    blackout = rules.BlackoutDates(["2027-12-25"])
    expected = {"en": "25 December 2027", "fr": "25 décembre 2027", "he": "25 בדצמבר 2027"}
    with app.test_request_context():
        for language, words in expected.items():
            with force_locale(language):
                holiday = observances.warnings(christmas)
                refused = blackout.evaluate(christmas)
                described = blackout.describe()
            assert any(words in line for line in holiday), holiday
            assert words in refused[0], refused
            assert words in described
            assert "2027-12-25" not in " ".join([*holiday, *refused, described])


def test_one_english_email_writes_every_date_day_first(client, db, smtp):
    """The licence e-mail states the start and the download link's expiry: both in the house
    style (day, month, year), never beside CLDR's American "December 10, 2026"."""
    from screenings.models import DownloadLink, Film
    from screenings.services.distribution import add_format

    from .conftest import booking_data, future_date, submit

    online = add_format(
        db.session.get(Film, 1), name="File", kind="download", download_url="https://f.example/x"
    )
    assert submit(client, "/book", booking_data(format_id=str(online.id))).status_code == 302
    (message,) = smtp.wait_for(1)
    expires = db.session.scalar(select(DownloadLink.expires_at))
    start = future_date()  # booking_data's day
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        assert f"{expires.day} {expires:%B} {expires.year}" in body
        # The start, as every start is written: "Friday 1 January 2027".
        assert f"{start:%A} {start.day} {start:%B} {start.year}" in body
        american = re.findall(
            r"(?:January|February|March|April|May|June|July|August|"
            r"September|October|November|December) \d{1,2}, \d{4}",
            body,
        )
        assert american == [], part
