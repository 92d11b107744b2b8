"""Test data made through the services, the way the product makes it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, time, timedelta

from screenings.models import Screening
from screenings.services.bookings import BookingDetails, create_booking


def booking_details(**overrides) -> BookingDetails:
    start = datetime.now(UTC) + timedelta(days=30)
    values = {
        "film_id": 1,
        "organization_name": "Beth Tzedec Congregation",
        "organization_type": "faith_community",
        "organization_website": "https://example.org",
        "organization_country": "CA",
        "contact_name": "Miriam Cohen",
        "contact_email": "miriam@example.org",
        "contact_phone": "",
        "venue_name": "Main Sanctuary Hall",
        "street_address": "1700 Bathurst Street",
        "city": "Toronto",
        "region": "Ontario",
        "postal_code": "M5P 3K3",
        "country": "CA",
        "timezone": "America/Toronto",
        "start_date": start.date(),
        "start_time": time(19, 0),
        "duration_minutes": 145,
        "expected_audience": 120,
        "capacity": 100,
        "visibility": "public",
        "rsvps_enabled": True,
        "notes": "",
        # Replies get their seats at once unless a test asks for the guest settings (the
        # defaults would turn approval on for this faith community: tests/test_guest_approval).
        "approves_guests": False,
        "address_check": "off",
    }
    if "is_public" in overrides:  # the older spelling: listed with the address, or private
        overrides["visibility"] = "public" if overrides.pop("is_public") else "private"
    values.update(overrides)
    return BookingDetails(**values)


def make_screening(language: str = "en", **overrides) -> Screening:
    """A booked screening (approved at once unless the film needs approval)."""
    result = create_booking(
        booking_details(**overrides), submission_key=secrets.token_urlsafe(16), language=language
    )
    return result.screening
