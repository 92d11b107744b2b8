"""Confirm the address before holding seats (issue 12, item 2): an RSVP that must confirm
holds its seats as unconfirmed for ADDRESS_HOLD_MINUTES until its e-mailed link is opened;
an expired hold releases its seats by itself, through the periodic job and lazily wherever
seats are taken, so it never blocks a seat. Time is moved by the clock fixture, not slept."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from screenings import create_app, jobs
from screenings.extensions import db as _db
from screenings.models import Rsvp, Screening, utcnow
from screenings.services import rsvps as rsvp_service

from .conftest import app_config
from .factories import make_screening
from .rsvp_helpers import calendar_part, post_rsvp, reply, rsvp_link
from .test_guest_approval import mail_to, text_of

CONFIRM_LINK = re.compile(r"http://screenings\.test(/rsvp/confirm/[A-Za-z0-9_-]{20,})")


@pytest.fixture
def clock(monkeypatch):
    """The time address holds are set and expire by; ``clock.advance(minutes=…)`` moves it."""

    class Clock:
        now = utcnow()

        def __call__(self):
            return self.now

        def advance(self, **delta) -> None:
            self.now += timedelta(**delta)

    fake = Clock()
    monkeypatch.setattr(rsvp_service, "clock", fake)
    return fake


def _seats_taken(screening_id: int) -> int:
    _db.session.expire_all()
    return _db.session.get(Screening, screening_id).seats_taken


def _status(rsvp_id: int) -> str:
    _db.session.expire_all()
    return _db.session.get(Rsvp, rsvp_id).status


def test_a_reply_holds_its_seats_until_the_link_confirms_the_address(client, db, smtp, clock):
    screening = make_screening(capacity=150, address_check="everyone")
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert "link to confirm your address" in page
    smtp.clear()
    post_rsvp(client, screening, party_size="2")
    (row,) = db.session.scalars(select(Rsvp)).all()
    assert row.status == "unconfirmed"
    assert row.hold_expires_at == clock.now + timedelta(minutes=30)
    assert _seats_taken(screening.id) == 2  # held: nobody else can take them meanwhile

    (message,) = mail_to(smtp, "ann@example.org")
    assert "Confirm your address" in message["Subject"]
    assert "within 30 minutes" in text_of(message)
    assert [p for p in message.walk() if p.get_content_type() == "text/calendar"] == []
    attendee = client.get(rsvp_link(message)).get_data(as_text=True)
    assert "Confirm your address: 2 seats are held for you" in attendee
    assert "Your ticket" not in attendee

    link = CONFIRM_LINK.search(text_of(message)).group(1)
    clock.advance(minutes=29)
    smtp.clear()
    response = client.get(link, follow_redirects=True)
    assert "your address is confirmed" in response.get_data(as_text=True)
    assert "Confirmed: 2 seats reserved." in response.get_data(as_text=True)
    assert _status(row.id) == "confirmed"
    assert _seats_taken(screening.id) == 2
    (confirmed,) = mail_to(smtp, "ann@example.org")
    assert calendar_part(confirmed).get_param("method") == "REQUEST"
    # Opening the link again changes nothing and sends nothing.
    smtp.clear()
    client.get(link)
    assert mail_to(smtp, "ann@example.org") == []
    assert _seats_taken(screening.id) == 2


def test_an_expired_hold_is_released_by_the_job_and_the_waiting_list_moves_up(
    client, db, smtp, clock
):
    screening = make_screening(capacity=3, address_check="everyone")
    held = reply(screening, email="held@example.org", party_size=3)
    waiting = reply(screening, email="wait@example.org", party_size=1)
    assert (held.status, waiting.status) == ("unconfirmed", "waitlisted")
    (message,) = mail_to(smtp, "held@example.org")
    link = CONFIRM_LINK.search(text_of(message)).group(1)

    clock.advance(minutes=29, seconds=59)
    assert jobs.expire_address_holds().startswith("released 0 unconfirmed hold(s)")
    assert _seats_taken(screening.id) == 3

    clock.advance(seconds=1)
    smtp.clear()
    assert jobs.expire_address_holds().startswith("released 1 unconfirmed hold(s)")
    assert _status(held.id) == "cancelled"
    # The freed seats go to the waiting list, held for it until it confirms in its turn:
    # a made-up address waiting in line gets no seat for good either.
    assert _status(waiting.id) == "unconfirmed"
    assert _seats_taken(screening.id) == 1
    (offer,) = mail_to(smtp, "wait@example.org")
    assert "Confirm your address" in offer["Subject"]
    clock.advance(minutes=31)
    jobs.expire_address_holds()
    assert _status(waiting.id) == "cancelled"
    assert _seats_taken(screening.id) == 0

    page = client.get(link, follow_redirects=True).get_data(as_text=True)
    assert "This link came too late" in page
    assert _status(held.id) == "cancelled"
    assert _seats_taken(screening.id) == 0


def test_an_expired_hold_never_blocks_a_seat_even_without_the_job(client, db, clock):
    screening = make_screening(capacity=2, address_check="everyone")
    held = reply(screening, email="held@example.org", party_size=2)
    clock.advance(minutes=31)  # the job has not run
    late = reply(screening, email="late@example.org", party_size=2)
    assert late.status == "unconfirmed"  # seats, not the waiting list
    assert _status(held.id) == "cancelled"
    assert _seats_taken(screening.id) == 2


def test_the_same_person_after_their_hold_lapsed_gets_a_new_hold(client, db, clock):
    screening = make_screening(capacity=10, address_check="everyone")
    first = reply(screening, party_size=2)
    clock.advance(minutes=45)
    again = rsvp_service.rsvp(
        screening, name="Ann Attendee", email="ann@example.org", party_size=2, consent=True
    )
    assert again.is_new
    assert again.rsvp.id != first.id
    assert again.rsvp.status == "unconfirmed"
    assert _status(first.id) == "cancelled"
    assert _seats_taken(screening.id) == 2


def test_large_parties_confirm_and_small_ones_do_not(client, db, clock):
    screening = make_screening(capacity=40, address_check="large_parties")
    assert reply(screening, email="four@example.org", party_size=4).status == "confirmed"
    assert reply(screening, email="five@example.org", party_size=5).status == "unconfirmed"
    off = make_screening(capacity=40, address_check="off")
    assert reply(off, email="six@example.org", party_size=6).status == "confirmed"


def test_cancelling_an_unconfirmed_hold_frees_its_seats(client, db, clock):
    screening = make_screening(capacity=10, address_check="everyone")
    held = reply(screening, party_size=3)
    rsvp_service.cancel_rsvp(held)
    assert _seats_taken(screening.id) == 0


def test_a_link_clicked_after_the_screening_was_cancelled_confirms_nothing(db, smtp, clock):
    from screenings.models import OutboxMessage, RsvpStatus, ScreeningStatus

    screening = make_screening(capacity=10, address_check="everyone")
    held = reply(screening, party_size=3)
    db.session.get(Screening, screening.id).status = ScreeningStatus.CANCELLED
    db.session.commit()
    queued = db.session.query(OutboxMessage).count()
    assert rsvp_service.confirm_address(held) == "closed"
    assert db.session.get(Rsvp, held.id).status == RsvpStatus.UNCONFIRMED
    assert db.session.query(OutboxMessage).count() == queued  # no invite to a cancelled screening


def test_the_job_is_in_the_schedule_and_the_readme(app):
    from pathlib import Path

    (job,) = [j for j in jobs.JOBS if j.run is jobs.expire_address_holds]
    assert job.every <= timedelta(minutes=5)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "address holds" in readme


def test_a_released_hold_moves_the_cached_pages_seats_on_another_worker(
    database_uri, smtp_server, app, db, clock
):
    worker = create_app(app_config(database_uri, smtp_server.port))
    screening = make_screening(capacity=30, address_check="everyone")
    reply(screening, party_size=5)
    visitor = worker.test_client()

    def seats_left() -> int:
        page = visitor.get(f"/screenings/{screening.id}").get_data(as_text=True)
        return int(re.search(r'class="seats-left">(\d+)<', page).group(1))

    assert seats_left() == 25
    assert seats_left() == 25  # cached
    clock.advance(minutes=31)
    jobs.expire_address_holds()
    assert seats_left() == 30
