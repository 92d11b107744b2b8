"""What the world maps show: screenings counted by city, each city placed at city level.

One grouped query per map, whatever the number of screenings. A city's dot stands on the
city (the offline gazetteer of places.py), never on a venue: where the
gazetteer does not know the city, on the average of its *public* screenings' own coordinates
(addresses anyone may read already), else on its time zone's reference point. A guests-only
or private screening's coordinates are never read here.

The public map counts what the upcoming list lists (services/listings.py: approved, listed by
services/visibility.py, still to come), so a private screening is not on it at all; the
producer's reach map counts every past licensed screening, private ones included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Case, Row, case, func, select
from sqlalchemy.orm import InstrumentedAttribute

from ..caching import counter_version
from ..extensions import db
from ..models import Screening, ScreeningReport, ScreeningStatus, utcnow
from ..places import city_point
from . import visibility
from .listings import listed_upcoming
from .observances import zone_point


@dataclass
class CityCount:
    city: str  # as most of its screenings spell it
    country: str
    count: int
    attendance: int  # people reported at its screenings (the reach map; 0 on the public one)
    latitude: float | None
    longitude: float | None


def _public_coordinate(column: InstrumentedAttribute[float | None]) -> Case[float | None]:
    """The column where the street is public, else NULL (which AVG skips)."""
    return case((visibility.shows_street_publicly(Screening), column))


_GROUP_COLUMNS = (
    Screening.city,
    Screening.country,
    func.count(Screening.id),
    func.avg(_public_coordinate(Screening.latitude)),
    func.avg(_public_coordinate(Screening.longitude)),
    func.min(Screening.timezone),
)


def _cities(
    rows: Iterable[Row[str, str, int, int | None, float | None, float | None, str]],
) -> list[CityCount]:
    """Rows of (city, country, count, attendance, public lat, public lon, zone) merged by
    city as typed give or take case and spaces, placed, most screenings first."""
    merged: dict[tuple[str, str], dict] = {}
    for city, country, count, attendance, lat, lon, zone in rows:
        key = (" ".join(city.split()).casefold(), country)
        entry = merged.setdefault(
            key, {"names": {}, "count": 0, "attendance": 0, "public": [], "zone": zone}
        )
        entry["names"][city] = entry["names"].get(city, 0) + count
        entry["count"] += count
        entry["attendance"] += int(attendance or 0)
        if lat is not None and lon is not None:
            entry["public"].append((float(lat), float(lon), count))
    found = []
    for (_key, country), entry in merged.items():
        city = max(entry["names"].items(), key=lambda item: (item[1], item[0]))[0]
        point = city_point(city, country)
        if point is None and entry["public"]:
            weight = sum(n for _lat, _lon, n in entry["public"])
            point = (
                sum(lat * n for lat, _lon, n in entry["public"]) / weight,
                sum(lon * n for _lat, lon, n in entry["public"]) / weight,
            )
        point = point or zone_point(entry["zone"])
        found.append(
            CityCount(
                city=city,
                country=country,
                count=entry["count"],
                attendance=entry["attendance"],
                latitude=point[0] if point else None,
                longitude=point[1] if point else None,
            )
        )
    found.sort(key=lambda c: (-c.count, c.country, c.city))
    return found


def map_version(**_view_args: object) -> tuple:
    """The numbers the public map is cached under: the "feeds" counter, raised by every change
    to a screening's listing (status, visibility, place, time, a new one, a deleted one) but
    not by an RSVP's seats, which the map does not show; and the next start to come (when it
    starts, it leaves the map). The upcoming list's "listing" counter would also move with
    every RSVP, and make the map, a grouped query over every upcoming screening, cold again
    many times a minute for no change."""
    return counter_version("feeds")


def upcoming_by_city() -> list[CityCount]:
    """The cities of the upcoming list's screenings (private ones are not listed), counted."""
    query = (
        listed_upcoming()
        .with_only_columns(*_GROUP_COLUMNS[:3], func.sum(0), *_GROUP_COLUMNS[3:])
        .group_by(Screening.city, Screening.country)
    )
    return _cities(db.session.execute(query))


def past_by_city() -> list[CityCount]:
    """Every licensed screening that has taken place (all visibilities: the producer's
    view), counted by city with the attendance its organizers reported."""
    query = (
        select(
            *_GROUP_COLUMNS[:3],
            func.sum(ScreeningReport.actual_attendance),
            *_GROUP_COLUMNS[3:],
        )
        .outerjoin(ScreeningReport, ScreeningReport.screening_id == Screening.id)
        .where(Screening.status == ScreeningStatus.APPROVED, Screening.starts_at < utcnow())
        .group_by(Screening.city, Screening.country)
    )
    return _cities(db.session.execute(query))


def by_country(cities: list[CityCount]) -> dict[str, int]:
    """The cities' counts added up by country code."""
    totals: dict[str, int] = {}
    for city in cities:
        totals[city.country] = totals.get(city.country, 0) + city.count
    return totals
