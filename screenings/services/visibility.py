"""Who learns what about a screening: whether it is listed, and who learns its street address.

The one home of these rules. A screening's ``visibility`` is

- ``public``: listed (upcoming list, embed, API, feeds), full address for anyone;
- ``guests``: listed, but the public sees the venue name and city only; the street, postal
  code and map pin go to **confirmed** guests (their e-mails, invite and RSVP page);
- ``private``: not listed anywhere and its public URL is a 404; the organizer hands out a
  share link ``/s/<token>`` whose page behaves like a guests-only one.

``Screening.is_public`` is kept as the stored "listed" flag (it leads the public list's index);
a CHECK holds it equal to ``visibility != 'private'`` and only ``apply`` writes both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, overload

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Connection, event, select
from sqlalchemy.orm import Mapper

from ..extensions import db
from ..models import OrganizationType, Rsvp, RsvpStatus, Screening
from ..places import city_point
from ..security import hash_token, link_token, new_token, tokens_match
from .history import record_change

PUBLIC = "public"
GUESTS = "guests"
PRIVATE = "private"
CHOICES = (PUBLIC, GUESTS, PRIVATE)  # from the most open to the most discreet

LABELS = {
    PUBLIC: _l("Public"),
    GUESTS: _l("Guests only"),
    PRIVATE: _l("Private"),
}


def is_more_discreet(new: str, old: str) -> bool:
    """Whether a change of setting tells the public less (public → guests only → private).

    A host who hides an address must never wait for a review to have it hidden."""
    return CHOICES.index(new) > CHOICES.index(old)


# One sentence each, shown beside the choice on the booking and edit forms.
EXPLANATIONS = {
    PUBLIC: _l("Listed on the upcoming screenings page with the full address, for anyone."),
    GUESTS: _l(
        "Listed with the venue and town only; confirmed guests alone receive the full address."
    ),
    PRIVATE: _l(
        "Not listed anywhere; you share a private link, and guests who reply through it get "
        "the address once confirmed."
    ),
}


def default_for(organization_type: str | None) -> str:
    """The preselected choice: guests only for faith communities, public for everyone else."""
    return GUESTS if organization_type == OrganizationType.FAITH_COMMUNITY else PUBLIC


def apply(screening: Screening, visibility: str) -> None:
    """Set the screening's visibility and its stored "listed" flag together."""
    if visibility not in CHOICES:
        raise ValueError(f"visibility must be one of {CHOICES}, not {visibility!r}")
    screening.visibility = visibility
    screening.is_public = visibility != PRIVATE


class Visible(Protocol):
    """What ``is_listed`` reads: a Screening, or its state read with its version."""

    @property
    def visibility(self) -> str: ...


def is_listed(screening: Visible) -> bool:
    """On the public list, feeds, API and embed, and reachable at its public URL."""
    return screening.visibility != PRIVATE


def listed_clause() -> ColumnElement[bool]:
    """The SQL form of ``is_listed``, on the indexed column the public list is ordered by."""
    return Screening.is_public.is_(True)


class Addressed(Visible, Protocol):
    """What the place rules read of a screening: a Screening, or a feed's plain row of it
    (services/feeds.py)."""

    @property
    def venue_name(self) -> str: ...
    @property
    def street_address(self) -> str: ...
    @property
    def city(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def postal_code(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def latitude(self) -> float | None: ...
    @property
    def longitude(self) -> float | None: ...


@overload
def shows_street_publicly(screening: Addressed) -> bool: ...
@overload
def shows_street_publicly(screening: type[Screening]) -> ColumnElement[bool]: ...


def shows_street_publicly(screening: Addressed | type[Screening]) -> bool | ColumnElement[bool]:
    """Whether anyone may learn the street; given the ``Screening`` class, the same rule as
    a SQL condition (the map averages only such screenings' coordinates)."""
    return screening.visibility == PUBLIC


@dataclass(frozen=True)
class Place:
    """Where a screening is, as much of it as one reader may learn (duck-types a screening's
    address attributes, so calendar and templates read either)."""

    venue_name: str
    street_address: str
    city: str
    region: str
    postal_code: str
    country: str
    latitude: float | None
    longitude: float | None

    @property
    def is_complete(self) -> bool:
        return bool(self.street_address)


def guest_place(screening: Addressed) -> Place:
    """The full address: for the organizer, the producer and confirmed guests."""
    return Place(
        venue_name=screening.venue_name,
        street_address=screening.street_address,
        city=screening.city,
        region=screening.region or "",
        postal_code=screening.postal_code or "",
        country=screening.country,
        latitude=screening.latitude,
        longitude=screening.longitude,
    )


def public_place(screening: Addressed) -> Place:
    """What anyone may learn: the full address of a public screening, else venue and city."""
    if shows_street_publicly(screening):
        return guest_place(screening)
    return _venue_and_city(screening)


def _venue_and_city(screening: Addressed) -> Place:
    return Place(
        venue_name=screening.venue_name,
        street_address="",
        city=screening.city,
        region=screening.region or "",
        postal_code="",
        country=screening.country,
        latitude=None,
        longitude=None,
    )


def public_point(screening: Screening) -> tuple[float, float] | None:
    """Where anyone may place a screening (distances on the lists, near-me alerts): its own
    coordinates when its street is public, else its city's in the gazetteer, so a distance
    tells no more than the town the list shows; None when neither is known."""
    if (
        shows_street_publicly(screening)
        and screening.latitude is not None
        and screening.longitude is not None
    ):
        return screening.latitude, screening.longitude
    return city_point(screening.city or "", screening.country or "")


@event.listens_for(Screening, "before_insert")
@event.listens_for(Screening, "before_update")
def _keep_public_point(
    _mapper: Mapper[Screening], _connection: Connection, screening: Screening
) -> None:
    """Every ORM write of a screening stores its public point with it (core INSERTs, like
    the demo's, set the columns from public_point themselves)."""
    screening.public_latitude, screening.public_longitude = public_point(screening) or (
        None,
        None,
    )


def rsvp_place(rsvp: Rsvp) -> Place:
    """What one attendee may learn: the full address once their seat is confirmed."""
    return place_for_guest(rsvp.screening, confirmed=rsvp.status == RsvpStatus.CONFIRMED)


def place_for_guest(screening: Screening, *, confirmed: bool, setting: str | None = None) -> Place:
    """What a guest may learn of a screening: the full address once their seat is confirmed,
    else what the public may. ``setting`` decides instead of the screening's own visibility
    (an address it had before a change, read under today's setting)."""
    if confirmed or (setting or screening.visibility) == PUBLIC:
        return guest_place(screening)
    return _venue_and_city(screening)


def label(screening: Screening) -> str:
    return str(LABELS[screening.visibility])


def licence_listing(value: str) -> str:
    """The choice as a licence's frozen particulars state it (in English, like the rest)."""
    return {PUBLIC: "Public", GUESTS: "Guests only", PRIVATE: "Private"}[value]


# -- the private share link ---------------------------------------------------------------------


def share_token(screening: Screening) -> str | None:
    """The share link's token (derived from a random key, so the manage page can show it)."""
    if not screening.share_key:
        return None
    return link_token("share", screening.share_key, screening.share_token_hash)


def _new_share_key(screening: Screening) -> None:
    key = screening.share_key = new_token()
    # A new key, a new link: the old link's digest goes (link_token derives afresh without it).
    screening.share_token_hash = hash_token(link_token("share", key, None))


def ensure_share_link(screening: Screening) -> None:
    """A private screening has a share link from the start (no commit: the caller's change)."""
    if screening.visibility == PRIVATE and not screening.share_key:
        _new_share_key(screening)


def issue_share_link(screening: Screening, *, actor: str) -> str | None:
    """A new share link for a private screening (any earlier one stops working); None for a
    listed screening, which has no share link."""
    if screening.visibility != PRIVATE:
        return None
    _new_share_key(screening)
    record_change(screening, actor, "share link issued")
    db.session.commit()
    return share_token(screening)


def revoke_share_link(screening: Screening, *, actor: str) -> bool:
    """The share link stops working (a 404, like any unknown link); False when there was none."""
    if not screening.share_key:
        return False
    screening.share_key = None
    screening.share_token_hash = None
    record_change(screening, actor, "share link revoked")
    db.session.commit()
    return True


def find_by_share_token(token: str) -> Screening | None:
    """The private screening a share link opens, or None (unknown, revoked, not private)."""
    if not token or len(token) > 100:
        return None
    screening = db.session.scalar(
        select(Screening).where(Screening.share_token_hash == hash_token(token))
    )
    if screening is None or not tokens_match(token, screening.share_token_hash or ""):
        return None
    if screening.visibility != PRIVATE:
        return None
    return screening
