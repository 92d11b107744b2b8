"""Test data: rows made by model factories, or bookings made through the services.

A test about a list, a feed, the map, a cache or the dashboard needs screenings as data:
``ScreeningFactory`` and ``RsvpFactory`` (factory_boy) write the rows an approved, listed
screening and its guests have, the values the services derive (UTC start, listing flag,
token digests, licence, seats taken) computed by the services' own functions, in one commit
each, with no e-mail queued, no history and no licence PDF. A test about booking, licences or
e-mails makes its screening through the booking service (``make_screening``).
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import factory
from factory.alchemy import SQLAlchemyModelFactory

from screenings.capabilities import manage_token, reply_token
from screenings.extensions import db
from screenings.models import (
    Film,
    Rsvp,
    RsvpStatus,
    Screening,
    ScreeningStatus,
    normalize_email,
    utcnow,
)
from screenings.places import venue_time_to_utc
from screenings.security import derived_token, hash_token, new_token
from screenings.services import door, rsvps, visibility
from screenings.services.bookings import BookingDetails, create_booking, default_duration
from screenings.services.licences import issue_licence

# What the organizer of a test booking states about themselves and the venue: the booking
# service's defaults (booking_details) and the factory's alike.
STATED: dict[str, Any] = {
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
START_TIME = time(19, 0)


def future_date(days: int = 30) -> date:
    """The default day of a test screening, booked or made: a month ahead."""
    return (datetime.now(UTC) + timedelta(days=days)).date()


# ---------------------------------------------------------------- through the services
def booking_details(**overrides) -> BookingDetails:
    values = {
        **STATED,
        "film_id": 1,
        "start_date": future_date(),
        "start_time": START_TIME,
        "duration_minutes": 145,
    }
    if "is_public" in overrides:  # the older spelling: listed with the address, or private
        overrides["visibility"] = "public" if overrides.pop("is_public") else "private"
    values.update(overrides)
    return BookingDetails(**values)


def make_screening(language: str = "en", **overrides) -> Screening:
    """A booked screening (approved at once unless the film needs approval), through the
    booking service: for tests about booking, licences and the e-mails they send."""
    result = create_booking(
        booking_details(**overrides), submission_key=secrets.token_urlsafe(16), language=language
    )
    return result.screening


# ---------------------------------------------------------------- model factories
class ModelFactory(SQLAlchemyModelFactory):
    """A row in the app's session, committed as a service commits: the cache listeners
    (caching.py) raise their counters and versions, the screening_counts triggers count
    it, and other connections (the outbox thread, a second app) see it."""

    class Meta:
        abstract = True
        sqlalchemy_session = db.session
        sqlalchemy_session_persistence = "commit"

    # Declared values that say how to make the row rather than what it holds.
    _options: tuple[str, ...] = ()

    @classmethod
    def _save(cls, model_class, session, args, kwargs):
        options = {name: kwargs.pop(name) for name in cls._options}
        row = model_class(*args, **kwargs)
        session.add(row)
        cls._complete(row, **options)
        if cls._meta.sqlalchemy_session_persistence == "commit":
            session.commit()
        else:
            session.flush()
        return row

    @classmethod
    def _complete(cls, row, **options) -> None:
        """What the service derives from the row's values, before it is written."""


class ScreeningFactory(ModelFactory):
    """An approved, listed screening a month ahead, with its licence, as create_booking
    leaves one on a film that needs no approval (``status``, ``visibility``, ``licensed``,
    ``start_date``/``start_time`` and any column may be given)."""

    class Meta:
        model = Screening
        exclude = ("start_date", "start_time")

    start_date = factory.LazyFunction(future_date)
    start_time = START_TIME
    film_id = 1
    film = factory.LazyAttribute(lambda o: db.session.get(Film, o.film_id))
    status = ScreeningStatus.APPROVED
    submission_key = factory.LazyFunction(lambda: secrets.token_urlsafe(16))
    manage_token_version = 1
    timezone = STATED["timezone"]
    local_start = factory.LazyAttribute(lambda o: datetime.combine(o.start_date, o.start_time))
    starts_at = factory.LazyAttribute(
        lambda o: venue_time_to_utc(o.start_date, o.start_time, o.timezone)[0]
    )
    duration_minutes = factory.LazyAttribute(lambda o: default_duration(o.film))
    language = "en"
    # The terms the organizer accepted: the film's current ones, in their language if written.
    accepted_terms = factory.LazyAttribute(lambda o: o.film.current_terms)
    accepted_terms_language = factory.LazyAttribute(
        lambda o: o.accepted_terms.language_for(o.language) if o.accepted_terms else "en"
    )
    # Whether it has a licence: an approved screening does (issue_licence, as approval).
    licensed = factory.LazyAttribute(lambda o: o.status == ScreeningStatus.APPROVED)

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        return {**{k: v for k, v in STATED.items() if k != "timezone"}, **kwargs}

    _options = ("licensed",)

    @classmethod
    def _complete(cls, row: Screening, *, licensed: bool) -> None:
        visibility.apply(row, row.visibility)
        visibility.ensure_share_link(row)
        row.manage_token_hash = hash_token(manage_token(row))
        if licensed:
            issue_licence(row)


class RsvpFactory(ModelFactory):
    """A confirmed reply of one guest, its seats taken on the screening as rsvps.rsvp takes
    them (a reply whose status holds seats takes its party's)."""

    class Meta:
        model = Rsvp

    screening = factory.SubFactory(ScreeningFactory)
    status = RsvpStatus.CONFIRMED
    name = factory.Sequence(lambda n: f"Guest {n}")
    email = factory.Sequence(lambda n: f"guest{n}@example.org")
    email_normalized = factory.LazyAttribute(lambda o: normalize_email(o.email))
    party_size = 1
    consent_to_email = True
    cancel_key = factory.LazyFunction(new_token)
    cancel_token_hash = factory.LazyAttribute(
        lambda o: hash_token(derived_token("rsvp", o.cancel_key))
    )
    confirmed_at = factory.LazyAttribute(
        lambda o: utcnow() if o.status == RsvpStatus.CONFIRMED else None
    )

    @classmethod
    def _complete(cls, row: Rsvp) -> None:
        row.reply_token_hash = hash_token(reply_token(row))
        door.ensure_ticket(row)
        if row.status in rsvps.HOLDS_SEATS:
            assert rsvps._hold_seats(row.screening.id, row.party_size), "no seats left"
            db.session.expire(row.screening, ["seats_taken", "cache_version"])
