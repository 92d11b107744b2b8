"""Cancelling a screening: RSVPs racing the cancellation, the producer's cancel and revoke."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from screenings.extensions import db as _db
from screenings.models import Rsvp, Screening
from screenings.outbox import deliver_pending
from screenings.services import NotAllowed
from screenings.services import bookings as booking_service
from screenings.services import rsvps as rsvp_service

from .factories import make_screening
from .rsvp_helpers import calendar_part


def _reply_in_thread(app, screening_id: int, outcome: dict) -> threading.Thread:
    """An attendee's RSVP in its own thread, app context and database session."""

    def run() -> None:
        with app.app_context():
            screening = _db.session.get(Screening, screening_id)
            try:
                result = rsvp_service.rsvp(
                    screening, name="Racer", email="racer@example.org", party_size=2, consent=True
                )
                outcome["status"] = result.rsvp.status
            except NotAllowed as error:
                outcome["refused"] = error.message
            except Exception as error:  # the test reports what went wrong
                outcome["error"] = repr(error)
            finally:
                _db.session.remove()

    return threading.Thread(target=run)


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_an_rsvp_checked_before_a_cancellation_is_refused_not_waitlisted(app, db, monkeypatch):
    """Issue 18, item 7: the RSVP passed "takes RSVPs?", then the organizer cancelled.

    The old code went on to its seat UPDATE, which found the screening cancelled, and stored
    the reply as waitlisted with seats free, telling the attendee nothing of the cancellation.
    """
    screening = make_screening(capacity=400)
    db.session.commit()
    checked, go = threading.Event(), threading.Event()

    def pause_after_the_check() -> None:
        checked.set()
        assert go.wait(10)

    monkeypatch.setattr(rsvp_service, "after_open_check", pause_after_the_check)
    outcome: dict = {}
    thread = _reply_in_thread(app, screening.id, outcome)
    thread.start()
    assert checked.wait(10)
    booking_service.cancel_booking(screening, actor="organizer:test", reason="Threats")
    go.set()
    thread.join(20)
    assert "error" not in outcome, outcome
    assert outcome == {
        "refused": "This screening has just been cancelled; it no longer takes RSVPs."
    }
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Rsvp)) == 0
    assert db.session.get(Screening, screening.id).seats_taken == 0


def test_a_seat_taken_while_the_cancellation_waits_hears_of_it(app, db, smtp, monkeypatch):
    """The RSVP holds the row's lock from its seat UPDATE to its commit: the cancellation
    waits, then finds the new guest and sends them the CANCEL."""
    screening = make_screening(capacity=400)
    db.session.commit()
    screening_id = screening.id
    holding, go = threading.Event(), threading.Event()

    def pause_holding_the_seat() -> None:
        holding.set()
        assert go.wait(10)

    monkeypatch.setattr(rsvp_service, "after_capacity_check", pause_holding_the_seat)
    outcome: dict = {}
    reply = _reply_in_thread(app, screening_id, outcome)
    reply.start()
    assert holding.wait(10)
    monkeypatch.setattr(rsvp_service, "after_capacity_check", None)
    cancelled: dict = {}

    def cancel() -> None:
        with app.app_context():
            try:
                booking_service.cancel_booking(
                    _db.session.get(Screening, screening_id), actor="organizer:test"
                )
                cancelled["done"] = True
            except Exception as error:  # the test reports what went wrong
                cancelled["error"] = repr(error)
            finally:
                _db.session.remove()

    canceller = threading.Thread(target=cancel)
    canceller.start()
    canceller.join(0.5)
    assert canceller.is_alive()  # it waits for the RSVP's lock
    go.set()
    reply.join(20)
    canceller.join(40)
    assert outcome == {"status": "confirmed"}, outcome
    assert cancelled == {"done": True}, cancelled
    deliver_pending()
    messages = smtp.wait_for(4)
    to_racer = [m for m in messages if "racer@example.org" in str(m["To"])]
    methods = sorted(calendar_part(m).get_param("method") for m in to_racer)
    assert methods == ["CANCEL", "REQUEST"]
