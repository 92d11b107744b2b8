"""Reminders: an e-mail to the organizer and every confirmed attendee shortly before a screening.

Idempotent: a screening is claimed by setting ``reminder_sent_at`` with a conditional UPDATE
(``… WHERE reminder_sent_at IS NULL``) in the same transaction that queues its e-mails, so a
second run, or two runs at once, queue nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from .. import emails
from ..extensions import db, rows_changed
from ..models import RsvpStatus, Screening, ScreeningStatus, utcnow
from .rsvps import attendees, counts


def due_screenings(now: datetime, lead: timedelta) -> list[int]:
    """Ids of approved screenings starting within ``lead`` that have had no reminder."""
    return list(
        db.session.scalars(
            select(Screening.id)
            .where(
                Screening.status == ScreeningStatus.APPROVED,
                Screening.reminder_sent_at.is_(None),
                Screening.starts_at > now,
                Screening.starts_at <= now + lead,
            )
            .order_by(Screening.starts_at)
        )
    )


def send_reminders(*, lead: timedelta, now: datetime | None = None) -> dict[str, int]:
    """Queue the reminders that are due; returns how many screenings and e-mails."""
    now = now or utcnow()
    outcome = {"screenings": 0, "emails": 0}
    for screening_id in due_screenings(now, lead):
        claimed = rows_changed(
            update(Screening)
            .where(Screening.id == screening_id, Screening.reminder_sent_at.is_(None))
            .values(reminder_sent_at=now, updated_at=Screening.updated_at)
            .execution_options(synchronize_session=False)
        )
        if claimed != 1:
            db.session.rollback()
            continue
        screening = db.session.get_one(Screening, screening_id)  # just claimed: it is there
        db.session.refresh(screening)
        tally = counts(screening)
        emails.send_organizer_reminder(
            screening, seats=tally["confirmed_seats"], attendees=tally["confirmed"]
        )
        sent = 1
        for rsvp in attendees(screening, statuses=(RsvpStatus.CONFIRMED,)):
            if rsvp.consent_to_email:
                emails.send_rsvp_reminder(rsvp)
                sent += 1
        db.session.commit()
        outcome["screenings"] += 1
        outcome["emails"] += sent
    return outcome
