"""The JSON API's view of a screening (/api/screenings): what anyone may read of it."""

from __future__ import annotations

from ..models import Screening
from ..urls import external_url
from . import visibility


def screening_url(screening: Screening) -> str:
    """The screening's public page, as an absolute URL."""
    return external_url("public.screening", screening_id=screening.id)


def as_json(screening: Screening) -> dict[str, object]:
    """What the API says about a screening: public particulars only, never contact data,
    and the street only where its organizer made the address public."""
    local = screening.local_start_aware
    place = visibility.public_place(screening)
    return {
        "id": screening.id,
        "url": screening_url(screening),
        "ics_url": external_url("public.screening_ics", screening_id=screening.id),
        "film": {"slug": screening.film.slug, "title": screening.film.title},
        "organization": screening.organization_name,
        "venue": {
            "name": place.venue_name,
            "street_address": place.street_address,
            "city": place.city,
            "region": place.region,
            "postal_code": place.postal_code,
            "country": place.country,
        },
        "address_for_guests_only": not visibility.shows_street_publicly(screening),
        "timezone": screening.timezone,
        "starts_at": screening.starts_at_utc.isoformat().replace("+00:00", "Z"),
        "local_start": local.isoformat(),
        "duration_minutes": screening.duration_minutes,
        "seats_left": screening.seats_left,
        "rsvps_open": bool(screening.rsvps_enabled),
    }
