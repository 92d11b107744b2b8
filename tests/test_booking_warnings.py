"""The booking form's live holiday and Shabbat hint (/book/warnings), and the observance
warnings in an auto-approved booking's licence e-mail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from .conftest import booking_data, submit


def _next(weekday: int, after: date | None = None) -> date:
    """The next given weekday (Monday 0) at least a week ahead."""
    start = (after or datetime.now(UTC).date()) + timedelta(days=7)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def _jerusalem(day: date, clock: str = "20:00", **extra) -> dict:
    return {
        "date": day.isoformat(),
        "time": clock,
        "country": "IL",
        "city": "Jerusalem",
        "timezone": "Asia/Jerusalem",
        **extra,
    }


def test_friday_evening_in_jerusalem_is_shabbat_and_a_tuesday_is_nothing(client, db):
    friday = client.get("/book/warnings", query_string=_jerusalem(_next(4)))
    assert friday.status_code == 200
    assert "during Shabbat at the venue" in friday.get_data(as_text=True)
    tuesday = client.get("/book/warnings", query_string=_jerusalem(_next(1)))
    assert tuesday.status_code == 200
    assert tuesday.get_data(as_text=True).strip() == ""


def test_without_a_time_zone_the_countrys_main_zone_is_used(client, db):
    query = _jerusalem(_next(4))
    del query["timezone"]
    response = client.get("/book/warnings", query_string=query)
    assert "during Shabbat" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"date": "2027-02-30", "time": "20:00", "country": "IL"},
        {"date": "tomorrow", "time": "20:00", "country": "IL"},
        {"date": "2027-01-08", "time": "25:00", "country": "IL"},
        {"date": "2027-01-08", "time": "20:00", "country": "XX"},
        {"date": "2027-01-08", "time": "20:00", "country": "IL", "timezone": "Mars/Olympus"},
        {"date": "2027-01-08", "time": "20:00", "country": "IL", "city": "x" * 121},
        {"date": "2027-01-08", "time": "20:00", "country": "IL", "duration": "-5"},
        {"date": "9999-01-08", "time": "20:00", "country": "IL"},
        # A time the clocks skip (Toronto, spring forward).
        {"date": "2027-03-14", "time": "02:30", "country": "CA", "timezone": "America/Toronto"},
    ],
)
def test_bad_input_is_400_and_nothing_rendered(client, db, query):
    response = client.get("/book/warnings", query_string=query)
    assert response.status_code == 400
    assert response.get_data() == b""


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_WARNINGS="3 per minute")
def test_the_hint_is_rate_limited_per_client(client, db):
    query = _jerusalem(_next(1))
    codes = [client.get("/book/warnings", query_string=query).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_the_booking_form_has_the_live_region(client, db):
    page = client.get("/book").get_data(as_text=True)
    assert 'aria-live="polite"' in page
    assert 'data-warnings-url="/book/warnings"' in page


def _christmas() -> date:
    today = datetime.now(UTC).date()
    christmas = date(today.year, 12, 25)
    return christmas if christmas > today + timedelta(days=2) else date(today.year + 1, 12, 25)


def test_an_auto_approved_bookings_licence_email_carries_the_warning(client, db, smtp):
    data = booking_data(start_date=_christmas().isoformat())
    response = submit(client, "/book", data, follow_redirects=True)
    assert response.status_code == 200
    assert "Christmas Day" in response.get_data(as_text=True)  # the result page
    (message,) = smtp.wait_for(1)
    assert "licence" in message["Subject"].lower()
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Christmas Day, a public holiday in Canada" in text
    assert "Christmas Day, a public holiday in Canada" in html


def test_an_ordinary_days_licence_email_has_no_warning(client, db, smtp):
    submit(client, "/book", booking_data(start_date=_next(1).isoformat()), follow_redirects=True)
    (message,) = smtp.wait_for(1)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "public holiday" not in text
    assert "Shabbat" not in text
