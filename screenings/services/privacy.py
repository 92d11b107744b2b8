"""Personal data: export and erase an organizer's, purge attendees' after their screening.

Organizations are not people: their names stay on licences and in statistics. Contact
names, e-mail addresses, phone numbers, notes and the e-mails sent to them are personal
and are what erasure removes.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from ..extensions import db
from ..models import OutboxMessage, OutboxStatus, Rsvp, Screening, ScreeningReport, utcnow
from ..security import hash_token
from . import DomainError
from .history import record_change

ERASED = "[erased]"


def _screenings_of(email: str) -> list[Screening]:
    return list(
        db.session.scalars(
            select(Screening)
            .where(func.lower(Screening.contact_email) == email.strip().lower())
            .order_by(Screening.id)
        )
    )


def export_organizer_data(email: str) -> dict:
    """Everything held about an organizer (by contact e-mail), for a subject-access request."""
    screenings = _screenings_of(email)
    if not screenings:
        raise DomainError(_("No booking was made with this e-mail address."), field="email")
    ids = [s.id for s in screenings]
    messages = db.session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.screening_id.in_(ids),
            OutboxMessage.recipient == screenings[0].contact_email,
        )
        .order_by(OutboxMessage.id)
    ).all()
    reports = db.session.scalars(
        select(ScreeningReport).where(ScreeningReport.screening_id.in_(ids))
    ).all()
    return {
        "email": email.strip().lower(),
        "exported_at": utcnow().isoformat() + "Z",
        "screenings": [
            {
                "id": s.id,
                "film": s.film.title,
                "status": s.status,
                "organization": {
                    "name": s.organization_name,
                    "type": s.organization_type,
                    "website": s.organization_website,
                    "country": s.organization_country,
                },
                "contact": {
                    "name": s.contact_name,
                    "email": s.contact_email,
                    "phone": s.contact_phone,
                },
                "venue": {
                    "name": s.venue_name,
                    "street_address": s.street_address,
                    "city": s.city,
                    "region": s.region,
                    "postal_code": s.postal_code,
                    "country": s.country,
                    "timezone": s.timezone,
                },
                "local_start": s.local_start.isoformat(),
                "duration_minutes": s.duration_minutes,
                "expected_audience": s.expected_audience,
                "notes": s.notes,
                "licences": [
                    {
                        "number": lic.number,
                        "revision": lic.revision,
                        "issued_at": lic.issued_at.isoformat(),
                    }
                    for lic in s.licences
                ],
                "history": [
                    {"at": c.at.isoformat(), "actor": c.actor, "action": c.action}
                    for c in s.changes
                ],
                "created_at": s.created_at.isoformat(),
            }
            for s in screenings
        ],
        "emails": [
            {
                "subject": m.subject,
                "kind": m.kind,
                "status": m.status,
                "created_at": m.created_at.isoformat(),
            }
            for m in messages
        ],
        "reports": [
            {"screening_id": r.screening_id, "feedback": r.feedback, "quote": r.quote}
            for r in reports
        ],
    }


def erase_organizer_data(email: str, *, actor: str) -> int:
    """Remove an organizer's personal data from every booking they made; returns how many.

    Their manage links stop working. Licences keep the organization and venue, which are
    not personal data, so verification still works.
    """
    screenings = _screenings_of(email)
    if not screenings:
        raise DomainError(_("No booking was made with this e-mail address."), field="email")
    address = screenings[0].contact_email
    for screening in screenings:
        screening.contact_name = ERASED
        screening.contact_email = f"erased-{screening.id}@invalid"
        screening.contact_phone = ""
        screening.notes = ""
        screening.manage_token_version += 1
        screening.manage_token_hash = hash_token(secrets.token_urlsafe(32))
        record_change(screening, actor, "personal data erased")
    db.session.execute(
        delete(OutboxMessage).where(func.lower(OutboxMessage.recipient) == address.lower())
    )
    db.session.execute(
        update(ScreeningReport)
        .where(ScreeningReport.screening_id.in_([s.id for s in screenings]))
        .values(feedback="", quote="")
    )
    db.session.commit()
    return len(screenings)


def purge_attendee_data(*, older_than_days: int) -> dict:
    """Anonymise RSVPs of screenings that ended that long ago, and drop old e-mail copies.

    The counts (seats, party sizes) stay for the producer's reach statistics.
    """
    cutoff = utcnow() - timedelta(days=older_than_days)
    ended_ids = select(Screening.id).where(Screening.starts_at < cutoff)
    rsvps = db.session.scalars(
        select(Rsvp).where(Rsvp.screening_id.in_(ended_ids), Rsvp.email != "")
    ).all()
    for rsvp in rsvps:
        rsvp.name = ""
        rsvp.email = ""
        rsvp.email_normalized = f"purged-{rsvp.id}"
        rsvp.cancel_key = secrets.token_urlsafe(32)
        rsvp.cancel_token_hash = hash_token(secrets.token_urlsafe(32))
    messages = db.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.created_at < cutoff,
            OutboxMessage.status.in_([OutboxStatus.SENT, OutboxStatus.DEAD]),
        )
    )
    db.session.commit()
    return {"rsvps": len(rsvps), "emails": messages.rowcount}
