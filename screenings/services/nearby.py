"""Screenings near a city: the upcoming list and the embed sorted by distance, and counts
(which screenings are near, and how far, is radius.nearest's rule)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Screening
from ..places import City
from .listings import MAX_PER_PAGE, PER_PAGE, Filters, Page, listed_upcoming
from .radius import nearest

RADII = (50, 100, 250)  # "how many within …": the counts the list shows
KM_CHOICES = (25, 50, 100, 250, 500)
DEFAULT_KM = 250


@dataclass
class NearPage(Page):
    """A page of the list near a city: each screening's distance and the counts per radius."""

    distances: dict[int, float] = field(default_factory=dict)
    within: dict[int, int] = field(default_factory=dict)


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
