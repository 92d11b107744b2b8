"""The model factories make what the booking and RSVP services make, and the caches see it."""

from __future__ import annotations

from sqlalchemy import func, select

from screenings import caching
from screenings.capabilities import manage_token, rsvp_token
from screenings.models import Licence, Screening, ScreeningCount
from screenings.services import bookings, rsvps, visibility
from screenings.services.licences import normalize_number

from .factories import RsvpFactory, ScreeningFactory, make_screening

# What a screening says, compared between the service's and the factory's (ids, keys,
# digests and timestamps differ by nature).
COMPARED = (
    "film_id",
    "status",
    "language",
    "organization_name",
    "organization_type",
    "contact_email",
    "venue_name",
    "city",
    "country",
    "timezone",
    "local_start",
    "starts_at",
    "duration_minutes",
    "capacity",
    "seats_taken",
    "visibility",
    "is_public",
    "rsvps_enabled",
    "approves_guests",
    "address_check",
    "accepted_terms_id",
    "accepted_terms_language",
    "public_latitude",
    "public_longitude",
    "calendar_sequence",
)


def _said(screening: Screening) -> dict:
    return {name: getattr(screening, name) for name in COMPARED}


def test_a_factory_screening_is_what_the_booking_service_makes(db):
    for given in (
        {},
        {"visibility": "guests", "language": "fr"},
        {"visibility": "private", "city": "Ottawa", "language": "he"},
    ):
        booked = make_screening(**given)
        made = ScreeningFactory(**given)
        assert _said(made) == _said(booked), given
        licence = made.current_licence
        assert licence is not None
        assert licence.revision == 1
        assert normalize_number(licence.number) == licence.number  # a real number, checked
        assert licence.particulars["local_start"] == made.local_start.isoformat()
        assert bookings.find_by_manage_token(manage_token(made)) is made
        assert (visibility.share_token(made) is None) == (given.get("visibility") != "private")


def test_a_pending_screening_has_no_licence(db):
    assert ScreeningFactory(status="pending").current_licence is None


def test_factory_rows_raise_the_cache_counters_and_are_counted(db):
    before = {name: caching.counter_version(name)[1] for name in ("listing", "feeds")}
    screening = ScreeningFactory()
    after = {name: caching.counter_version(name)[1] for name in ("listing", "feeds")}
    assert all(after[name] != before[name] for name in before), (before, after)
    version = caching.screening_version(screening.id)
    assert db.session.scalar(select(func.sum(ScreeningCount.n))) == 1
    RsvpFactory(screening=screening, party_size=3)
    assert caching.counter_version("listing")[1] != after["listing"]
    assert caching.counter_version("feeds")[1] == after["feeds"], "seats are in no feed"
    assert caching.screening_version(screening.id) != version
    assert db.session.scalar(select(func.count(Licence.id))) == 1


def test_a_factory_reply_holds_its_seats_and_its_links_work(db):
    screening = ScreeningFactory(capacity=5)
    rsvp = RsvpFactory(screening=screening, party_size=2, email="Ada@Example.org")
    RsvpFactory(screening=screening, status="waitlisted")
    assert screening.seats_taken == 2
    assert rsvp.email_normalized == "ada@example.org"
    assert rsvps.find_by_token(rsvp_token(rsvp)) is rsvp
    assert rsvp.ticket_hash
