"""Clashes and duplicates: other live screenings a booking may collide with.

Four kinds, each checked against pending and approved screenings of any film:
``venue`` (the same normalised venue name, street and city at overlapping times), ``city``
(another screening in the same city starting within three hours either side), ``organizer``
(the same organizer e-mail with another booking that local day) and ``duplicate`` (the same
organization, local date and city: probably the same booking twice). The producer sees all of
it. Anyone can fill in the booking form with any name and address, so the organizer's note
speaks only of what the public already sees: approved, listed screenings, as much of them as
their listing shows (services/visibility.py). Private and pending screenings, a guests-only
street and another booking's e-mail address are never confirmed to a booker.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..formatting import format_datetime
from ..models import Screening, ScreeningStatus
from . import visibility

NEARBY = timedelta(hours=3)
KINDS = ("venue", "city", "organizer", "duplicate")


@dataclass(frozen=True)
class Clash:
    kind: str
    other: Screening


def _norm(text: str | None) -> str:
    """Case, accents, punctuation and spacing ignored: "Salle St-Denis" ~ "salle st denis"."""
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    kept = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.split())


def _overlap(a: Screening, b: Screening) -> bool:
    return a.starts_at_utc < b.ends_at_utc and b.starts_at_utc < a.ends_at_utc


def find(screening: Screening) -> list[Clash]:
    """Every clash of this screening with another live one, at most one per other screening
    (the strongest kind first: venue, duplicate, organizer, city)."""
    window = timedelta(days=1, minutes=screening.duration_minutes or 0)
    others = db.session.scalars(
        select(Screening)
        .where(
            Screening.id != (screening.id or 0),
            Screening.status.in_((ScreeningStatus.PENDING, ScreeningStatus.APPROVED)),
            Screening.starts_at > screening.starts_at - window,
            Screening.starts_at < screening.starts_at + window,
        )
        .order_by(Screening.starts_at, Screening.id)
    )
    city = (_norm(screening.city), screening.country)
    venue = (_norm(screening.venue_name), _norm(screening.street_address), *city)
    day = screening.local_start.date()
    email = screening.contact_email.casefold()
    found = []
    for other in others:
        same_city = (_norm(other.city), other.country) == city
        other_venue = (_norm(other.venue_name), _norm(other.street_address), _norm(other.city))
        same_day = other.local_start.date() == day
        if (*other_venue, other.country) == venue and _overlap(screening, other):
            kind = "venue"
        elif (
            same_city
            and same_day
            and _norm(other.organization_name) == _norm(screening.organization_name)
        ):
            kind = "duplicate"
        elif same_day and other.contact_email.casefold() == email:
            kind = "organizer"
        elif same_city and abs(other.starts_at - screening.starts_at) <= NEARBY:
            kind = "city"
        else:
            continue
        found.append(Clash(kind, other))
    return found


def _about(other: Screening) -> str:
    """The other screening as this organizer may learn of it (its start at its venue)."""
    if not visibility.is_listed(other):
        return _("another screening")
    place = visibility.public_place(other)
    when = format_datetime(other.starts_at, "medium", other.timezone)
    if visibility.shows_street_publicly(other):
        return _(
            "“%(title)s” hosted by %(org)s at %(venue)s, %(when)s",
            title=other.film.title,
            org=other.organization_name,
            venue=place.venue_name,
            when=when,
        )
    return _(
        "“%(title)s” at %(venue)s, %(when)s",
        title=other.film.title,
        venue=place.venue_name,
        when=when,
    )


def _public_clashes(screening: Screening) -> list[Clash]:
    """The clashes a booker may be told of: with approved, listed screenings only; a match on
    a guests-only street is told as the city's, and a match on the e-mail address not at all."""
    told = []
    for clash in find(screening):
        other = clash.other
        if other.status != ScreeningStatus.APPROVED or not visibility.is_listed(other):
            continue
        if clash.kind == "organizer":
            continue
        if clash.kind in ("venue", "duplicate") and not visibility.shows_street_publicly(other):
            clash = Clash("city", other)
        told.append(clash)
    return told


def organizer_notes(screening: Screening) -> list[str]:
    """Gentle notes for the organizer about the clashes of their booking (never blocking)."""
    notes = []
    for clash in _public_clashes(screening):
        if clash.kind == "venue":
            notes.append(
                _(
                    "Your venue seems to be booked for another screening at an overlapping "
                    "time: %(other)s. You may want to check with the venue.",
                    other=_about(clash.other),
                )
            )
        elif clash.kind == "duplicate":
            notes.append(
                _(
                    "A booking for the same organization, date and city was already received. "
                    "If this is the same screening, cancel one of them with its manage link."
                )
            )
        elif clash.kind == "organizer":
            notes.append(_("You have another booking on the same day with this e-mail address."))
        else:
            notes.append(
                _(
                    "Another screening is planned in %(city)s that evening: %(other)s. "
                    "You may want to coordinate.",
                    city=screening.city,
                    other=_about(clash.other),
                )
            )
    return notes


def label(kind: str) -> str:
    """The producer's badge for a kind of clash."""
    return {
        "venue": _("Same venue, overlapping time"),
        "city": _("Same city within 3 hours"),
        "organizer": _("Same organizer that day"),
        "duplicate": _("Possible duplicate"),
    }[kind]
