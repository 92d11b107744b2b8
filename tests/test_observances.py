"""Holiday and Shabbat warnings: computed sunset that moves with the season, Jewish, public,
Christian and Muslim days, the gazetteer's fallback, and the warning on page, e-mail and queue."""

from __future__ import annotations

from datetime import date, time

import pytest

from screenings.models import Film
from screenings.services import observances

from . import producer_helpers
from .conftest import submit

producer = producer_helpers.producer  # the fixture, logged in on `client`


def _at(city, country, zone, day, clock, minutes=90, region=""):
    return observances.draft(
        day,
        clock,
        country=country,
        timezone=zone,
        city=city,
        region=region,
        duration_minutes=minutes,
    )


def _shabbat(screening) -> bool:
    return any("during Shabbat" in line for line in observances.warnings(screening))


# The same Friday 17:00-18:30 (Jerusalem) or 17:30-19:00: inside Shabbat in one season only.
@pytest.mark.parametrize(
    ("city", "country", "zone", "clock", "inside", "outside"),
    [
        ("Jerusalem", "IL", "Asia/Jerusalem", time(17, 0), date(2027, 1, 8), date(2027, 7, 2)),
        ("Toronto", "CA", "America/Toronto", time(17, 30), date(2027, 12, 3), date(2027, 6, 4)),
        ("Sydney", "AU", "Australia/Sydney", time(17, 30), date(2027, 6, 4), date(2027, 12, 3)),
    ],
)
def test_shabbat_starts_at_the_computed_sunset(app, city, country, zone, clock, inside, outside):
    with app.test_request_context():
        assert _shabbat(_at(city, country, zone, inside, clock))
        assert not _shabbat(_at(city, country, zone, outside, clock))


def test_shabbat_ends_at_saturday_nightfall(app):
    with app.test_request_context():
        assert _shabbat(_at("Jerusalem", "IL", "Asia/Jerusalem", date(2027, 1, 9), time(14, 0)))
        assert not _shabbat(_at("Jerusalem", "IL", "Asia/Jerusalem", date(2027, 1, 9), time(19, 0)))


@pytest.mark.parametrize(
    ("where", "day", "clock", "words"),
    [
        (("Toronto", "CA", "America/Toronto"), date(2027, 10, 11), time(19, 0), "Yom Kippur"),
        # Kol Nidre: the evening before.
        (("Toronto", "CA", "America/Toronto"), date(2027, 10, 10), time(19, 0), "Yom Kippur"),
        (
            ("Toronto", "CA", "America/Toronto"),
            date(2027, 12, 25),
            time(19, 0),
            "25 December 2027 is Christmas Day, a public holiday in Canada.",
        ),
        (
            ("Toronto", "CA", "America/Toronto", "Ontario"),
            date(2027, 7, 1),
            time(19, 0),
            "1 July 2027 is Canada Day, a public holiday in Canada.",
        ),
        (
            ("London", "GB", "Europe/London", "England"),
            date(2027, 3, 9),
            time(19, 0),
            "Eid al-Fitr",
        ),
        (("London", "GB", "Europe/London"), date(2027, 2, 23), time(19, 0), "Ramadan evening"),
        (("Paris", "FR", "Europe/Paris"), date(2027, 3, 28), time(15, 0), "Easter Sunday"),
    ],
)
def test_holidays_are_named(app, where, day, clock, words):
    city, country, zone, *region = where
    with app.test_request_context():
        found = observances.warnings(
            _at(city, country, zone, day, clock, region=region[0] if region else "")
        )
    assert any(words in line for line in found), found


def test_an_ordinary_day_has_no_warning(app):
    with app.test_request_context():
        assert (
            observances.warnings(
                _at("Toronto", "CA", "America/Toronto", date(2027, 11, 16), time(19, 0))
            )
            == []
        )


def test_a_city_outside_the_gazetteer_falls_back_to_its_zone(app):
    known = _at("Toronto", "CA", "America/Toronto", date(2027, 11, 16), time(19, 0))
    unknown = _at("Nowhereville", "CA", "America/Toronto", date(2027, 11, 16), time(19, 0))
    lat, lon = observances.coordinates(known)
    assert (round(lat, 1), round(lon, 1)) == (43.7, -79.4)  # GeoNames' Toronto
    assert observances.coordinates(unknown) == pytest.approx((43.65, -79.383), abs=0.01)


def test_the_warning_is_on_the_result_page_the_email_and_the_queue(client, producer, db, smtp):
    film = db.session.get(Film, 1)
    film.requires_approval = True
    db.session.commit()
    from .conftest import booking_data

    page = submit(
        client, "/book", booking_data(start_date="2027-12-25"), follow_redirects=True
    ).get_data(as_text=True)
    words = "25 December 2027 is Christmas Day, a public holiday in Canada."
    assert words in page
    (message,) = [m for m in smtp.wait_for(2) if m["To"].addresses[0].username == "miriam"]
    assert words in message.get_body(preferencelist=("plain",)).get_content()
    queue = client.get("/producer/approvals").get_data(as_text=True)
    assert "Holiday or Shabbat" in queue
    assert words in queue
