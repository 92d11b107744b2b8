"""Which screenings are within a distance of a town: one rule for the lists' near-me filter
(listings.Filters), the list near a town (nearby) and the near-me feeds (feeds.FeedRows).

A bounding box around the town narrows the rows in SQL (on the indexed public point, see
visibility.public_point), then the haversine distance of each sorts and cuts to the radius:
the box holds every screening within the radius and few beyond it, so even 100,000
screenings cost one indexed range scan of plain columns and a sort of those in the box.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Select, or_

from ..extensions import db
from ..models import Screening
from ..places import City, bounding_box, distance_km, in_box


def within_box(query: Select, city: City, km: float) -> Select:
    """The query narrowed to the bounding box of `km` around the city (a superset of the
    circle: distance_km decides)."""
    south, north, ranges = bounding_box(city.latitude, city.longitude, km)
    return query.where(
        Screening.public_latitude.between(south, north),
        or_(*(Screening.public_longitude.between(west, east) for west, east in ranges)),
    )


def distance_within(city: City, km: float) -> Callable[[float | None, float | None], float | None]:
    """A point's distance from the city if it is within `km` of it (inside the box that
    within_box selects, and the circle), else None: the one rule of the list near a town
    and of the near-me feeds (which apply it to rows read once for every feed)."""
    box = bounding_box(city.latitude, city.longitude, km)

    def distance(latitude: float | None, longitude: float | None) -> float | None:
        if latitude is None or longitude is None or not in_box(box, latitude, longitude):
            return None
        found = distance_km(city.latitude, city.longitude, latitude, longitude)
        return found if found <= km else None

    return distance


def nearest(query: Select, city: City, km: float) -> list[tuple[float, datetime, int]]:
    """(distance, start, id) of the query's screenings within `km` of the city, nearest first
    (then soonest)."""
    rows = db.session.execute(
        within_box(query, city, km).with_only_columns(
            Screening.id, Screening.starts_at, Screening.public_latitude, Screening.public_longitude
        )
    )
    measure = distance_within(city, km)
    found = []
    for screening_id, starts_at, lat, lon in rows:
        distance = measure(lat, lon)
        if distance is not None:
            found.append((distance, starts_at, screening_id))
    found.sort()
    return found
