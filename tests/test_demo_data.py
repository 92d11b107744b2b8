"""`flask demo-data`: realistic data in bulk that keeps the product's invariants."""

from __future__ import annotations

import re
from datetime import UTC

from sqlalchemy import func, select, text

from screenings.capabilities import manage_token, rsvp_token
from screenings.models import Licence, Rsvp, Screening, ScreeningReport, utcnow
from screenings.services.bookings import find_by_manage_token
from screenings.services.licences import particulars_of
from screenings.services.rsvps import find_by_token

LICENCE_NUMBER = re.compile(r"^[A-Z0-9]{1,8}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def scalar(db, sql: str):
    return db.session.execute(text(sql)).scalar()


def test_demo_data_counts_and_invariants(runner, db):
    result = runner.invoke(args=["demo-data", "--screenings", "400", "--rsvps", "6000"])
    assert result.exit_code == 0, result.output
    assert "400 screenings" in result.output

    assert db.session.scalar(select(func.count(Screening.id))) == 400
    rsvps = db.session.scalar(select(func.count(Rsvp.id)))
    assert 5400 <= rsvps <= 6000
    # Never overbooked, and the counter is the sum of the confirmed parties.
    assert scalar(db, "SELECT count(*) FROM screenings WHERE seats_taken > capacity") == 0
    assert (
        scalar(
            db,
            "SELECT count(*) FROM screenings s WHERE seats_taken != (SELECT coalesce(sum("
            "party_size), 0) FROM rsvps r WHERE r.screening_id = s.id AND r.status = 'confirmed')",
        )
        == 0
    )
    # A waiting party is one that did not fit; some screenings have a waiting list.
    assert scalar(db, "SELECT count(*) FROM rsvps WHERE status = 'waitlisted'") > 0
    assert (
        scalar(
            db,
            "SELECT count(*) FROM rsvps r JOIN screenings s ON s.id = r.screening_id "
            "WHERE r.status = 'waitlisted' AND r.party_size <= s.capacity - s.seats_taken",
        )
        == 0
    )
    # RSVPs only on approved screenings that take them.
    assert (
        scalar(
            db,
            "SELECT count(*) FROM rsvps r JOIN screenings s ON s.id = r.screening_id "
            "WHERE s.status != 'approved' OR NOT s.rsvps_enabled",
        )
        == 0
    )
    # Every approved booking has a licence; numbers are unique and well-formed.
    assert (
        scalar(
            db,
            "SELECT count(*) FROM screenings s WHERE status = 'approved' AND NOT EXISTS "
            "(SELECT 1 FROM licences l WHERE l.screening_id = s.id)",
        )
        == 0
    )
    numbers = list(db.session.scalars(select(Licence.number)))
    assert len(numbers) == len(set(numbers)) > 250
    assert all(LICENCE_NUMBER.match(number) for number in numbers)
    now = utcnow()
    assert db.session.scalar(select(func.max(Rsvp.cancelled_at))) <= now
    assert db.session.scalar(select(func.max(ScreeningReport.submitted_at))) <= now
    # Reports only for screenings that took place.
    reported = db.session.scalars(
        select(Screening).join(ScreeningReport, ScreeningReport.screening_id == Screening.id)
    ).all()
    assert reported
    assert all(s.is_past and s.status == "approved" for s in reported)


def test_demo_screenings_are_real_places_and_times(runner, db):
    assert runner.invoke(args=["demo-data", "--screenings", "300", "--rsvps", "500"]).exit_code == 0
    screenings = db.session.scalars(select(Screening)).all()
    assert len({s.country for s in screenings}) > 30
    assert len({s.timezone for s in screenings}) > 50
    now = utcnow()
    assert any(s.starts_at < now for s in screenings)
    assert any(s.starts_at > now for s in screenings)
    for screening in screenings:
        local = screening.starts_at.replace(tzinfo=UTC).astimezone(screening.zone)
        assert local.replace(tzinfo=None) == screening.local_start, screening
        assert screening.created_at <= screening.updated_at <= now  # no stamps in the future


def test_demo_links_work(runner, db):
    """The manage and cancel links of demo rows open their pages, as real ones do."""
    assert runner.invoke(args=["demo-data", "--screenings", "50", "--rsvps", "200"]).exit_code == 0
    screening = db.session.scalar(select(Screening).limit(1))
    assert find_by_manage_token(manage_token(screening)) == screening
    rsvp = db.session.scalar(select(Rsvp).limit(1))
    assert find_by_token(rsvp_token(rsvp)) == rsvp


def test_same_seed_same_data(runner, db):
    assert runner.invoke(args=["demo-data", "--screenings", "30", "--seed", "5"]).exit_code == 0
    first = [
        (s.city, s.starts_at) for s in db.session.scalars(select(Screening).order_by(Screening.id))
    ]
    db.session.execute(text("DELETE FROM screening_reports"))
    db.session.execute(text("DELETE FROM rsvps"))
    db.session.execute(text("DELETE FROM licences"))
    db.session.execute(text("DELETE FROM screenings"))
    db.session.commit()
    assert runner.invoke(args=["demo-data", "--screenings", "30", "--seed", "5"]).exit_code == 0
    again = [
        (s.city, s.starts_at) for s in db.session.scalars(select(Screening).order_by(Screening.id))
    ]
    assert [city for city, _ in again] == [city for city, _ in first]


def test_demo_licences_state_what_issuing_one_states(runner, db):
    """A demo licence's particulars are the ones issue_licence would freeze for its screening
    (the booking form's organization type label, not the bare value's)."""
    assert runner.invoke(args=["demo-data", "--screenings", "120", "--rsvps", "10"]).exit_code == 0
    licences = db.session.scalars(select(Licence)).all()
    assert {licence.screening.organization_type for licence in licences} >= {"university"}
    for licence in licences:
        assert licence.particulars == particulars_of(licence.screening)
