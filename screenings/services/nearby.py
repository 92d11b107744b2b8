"""Screenings near a city: the upcoming list and the embed sorted by distance, and counts.

A bounding box around the city narrows the rows in SQL (on the indexed public point, see
visibility.public_point), then the haversine distance of each sorts and cuts to the radius:
the box holds every screening within the radius and few beyond it, so even 100,000
screenings cost one indexed range scan of plain columns and a sort of those in the box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Screening
from ..places import City, bounding_box, distance_km, in_box
from .listings import MAX_PER_PAGE, PER_PAGE, Filters, Page, listed_upcoming

RADII = (50, 100, 250)  # "how many within …": the counts the list shows
KM_CHOICES = (25, 50, 100, 250, 500)
DEFAULT_KM = 250


@dataclass
class NearPage(Page):
    """A page of the list near a city: each screening's distance and the counts per radius."""

    distances: dict[int, float] = field(default_factory=dict)
    within: dict[int, int] = field(default_factory=dict)


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


def upcoming_near(
    filters: Filters, city: City, *, km: int = DEFAULT_KM, page: int = 1, per_page: int = PER_PAGE
) -> NearPage:
    """A page of listed screenings within `km` of the city, nearest first, with how many
    there are within each of RADII."""
    page = max(page, 1)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    found = nearest(filters.apply(listed_upcoming()), city, max(km, *RADII))
    within = {radius: sum(1 for d, _s, _i in found if d <= radius) for radius in RADII}
    found = [row for row in found if row[0] <= km]
    chosen = found[(page - 1) * per_page : page * per_page]
    ids = [screening_id for _d, _s, screening_id in chosen]
    loaded = {
        s.id: s
        for s in db.session.scalars(
            select(Screening).where(Screening.id.in_(ids)).options(selectinload(Screening.film))
        )
    }
    return NearPage(
        [loaded[i] for i in ids if i in loaded],
        page,
        per_page,
        has_next=len(found) > page * per_page,
        distances={screening_id: distance for distance, _s, screening_id in chosen},
        within=within,
    )
