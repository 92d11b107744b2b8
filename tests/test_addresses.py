"""Addresses are laid out as the venue's country writes them, in one place (places.address_lines),
on the screening page, in e-mails, in the .ics LOCATION and on the licence."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
from pypdf import PdfReader

from screenings.outbox import deliver_pending
from screenings.places import address_lines

from .factories import make_screening

US_VENUE = {
    "venue_name": "Low Library",
    "street_address": "2960 Broadway",
    "city": "New York",
    "region": "NY",
    "postal_code": "10027",
    "country": "US",
    "organization_country": "US",
    "timezone": "America/New_York",
}


@pytest.mark.parametrize(
    ("country", "parts", "locale", "expected"),
    [
        (
            "US",
            {
                "venue": "Low Library",
                "street": "2960 Broadway",
                "city": "New York",
                "region": "NY",
                "postal_code": "10027",
            },
            "en",
            ["Low Library", "2960 Broadway", "New York, NY 10027", "United States"],
        ),
        (
            "FR",
            {
                "venue": "Salle Oberkampf",
                "street": "12 rue Oberkampf",
                "city": "Paris",
                "postal_code": "75011",
            },
            "fr",
            ["Salle Oberkampf", "12 rue Oberkampf", "75011 Paris", "France"],
        ),
        # A public page shows no street or postal code for a guests-only screening: no stray
        # commas where they would have been.
        (
            "US",
            {"venue": "Low Library", "city": "New York", "region": "NY"},
            "en",
            ["Low Library", "New York, NY", "United States"],
        ),
        # Japan's Latin layout folds the city into the street line; it is still shown.
        (
            "JP",
            {
                "venue": "Hall",
                "street": "1-1 Marunouchi",
                "city": "Chiyoda",
                "region": "Tokyo",
                "postal_code": "100-0001",
            },
            "en",
            ["Hall", "1-1 Marunouchi", "Chiyoda, Tokyo", "100-0001", "Japan"],
        ),
        ("IL", {"venue": "Hall", "city": "Tel Aviv"}, "he", ["Hall", "Tel Aviv", "ישראל"]),
    ],
)
def test_an_address_is_laid_out_as_its_country_writes_it(country, parts, locale, expected):
    assert address_lines(country, locale=locale, **parts) == expected


def test_a_us_screening_reads_city_state_zip_everywhere(app, client, db, smtp):
    screening = make_screening(**US_VENUE, contact_email="host@example.org")
    expected = "Low Library, 2960 Broadway, New York, NY 10027, United States"

    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert expected in page
    assert "10027 New York" not in page

    ics = client.get(f"/screenings/{screening.id}.ics").get_data(as_text=True)
    location = ics.replace("\r\n ", "").split("LOCATION:")[1].split("\r\n")[0]
    assert location.replace("\\,", ",") == expected

    deliver_pending()
    (licence_mail,) = [m for m in smtp.wait_for(1) if "host@example.org" in str(m["To"])]
    body = licence_mail.get_body(("plain",)).get_content()
    assert expected in body
    manage = next(line for line in body.split() if "/manage/" in line)
    pdf = client.get(urlsplit(manage).path + "/licence.pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "New York, NY 10027" in text
