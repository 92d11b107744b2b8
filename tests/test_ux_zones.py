"""The venue's time zone without a browser: names from CLDR in the reader's language, and
what an empty zone means when the form is sent without the script."""

from __future__ import annotations

import re

from sqlalchemy import select

from screenings.models import Screening
from screenings.places import main_zone, zone_choices, zone_label, zones_for_country


def test_zones_have_names_people_use_in_their_language():
    assert zone_label("America/New_York", "en") == "Eastern Time — New York"
    assert zone_label("America/New_York", "fr") == "heure de l’Est nord-américain — New York"
    assert zone_label("Asia/Jerusalem", "he") == "שעון ישראל — ירושלים"
    assert zone_label("America/Indiana/Knox", "en") == "Central Time — Knox, Indiana"
    labels = [label for _zone, label in zone_choices("en")]
    assert not [label for label in labels if "/" in label or "_" in label]


def test_every_country_has_a_main_zone_of_its_own():
    assert main_zone("DE") == "Europe/Berlin"
    assert main_zone("US") == "America/New_York"
    assert main_zone("RU") == "Europe/Moscow"
    assert main_zone("AU") == "Australia/Sydney"
    assert main_zone("IL") == "Asia/Jerusalem"
    for country in ("DE", "US", "ES", "UA", "BR", "CA", "MX", "AU", "RU", "FR", "IL"):
        assert main_zone(country) in zones_for_country(country), country


def test_booking_form_offers_the_names_in_french(client):
    html = client.get("/book", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert 'value="America/New_York">heure de l’Est nord-américain — New York</option>' in html
    assert re.search(r'<select[^>]*id="timezone"[^>]*required', html)


def test_berlin_booking_without_a_zone_gets_berlin(book, db):
    """Germany keeps one clock in both its zones: an empty zone is Berlin, not an error."""
    response = book(country="DE", organization_country="DE", timezone="", city="Berlin")
    assert response.status_code == 200
    assert "/manage/" in response.request.path
    assert db.session.scalar(select(Screening.timezone)) == "Europe/Berlin"


def test_us_booking_without_a_zone_comes_back_with_new_york_to_check(book, db):
    """The US keeps several clocks: the form comes back with its main zone chosen."""
    response = book(country="US", organization_country="US", timezone="")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "several time zones: check the one chosen for you" in html
    assert re.search(r'<option selected value="America/New_York">', html)
    assert db.session.scalar(select(Screening.id)) is None
