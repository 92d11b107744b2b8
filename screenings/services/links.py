""" "E-mail me my links": every private link an address holds, sent to that address only.

The page answers the same whether or not the address holds anything, and an unknown
address gets no e-mail, so the form tells nobody who booked or replied. The links are the
capability links already issued (screenings/capabilities.py): they keep
working, and are re-sent unchanged, after a secret rotation.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from ..emails import send_my_links as send
from ..extensions import db
from ..models import (
    OutboxMessage,
    Rsvp,
    RsvpStatus,
    Screening,
    ScreeningStatus,
    normalize_email,
    utcnow,
)

KIND = "my_links"
LIVE = (ScreeningStatus.PENDING, ScreeningStatus.APPROVED)


def links_for(address: str) -> tuple[list[Screening], list[Rsvp]]:
    """The bookings (still to come, pending or approved) and live RSVPs of an address."""
    email = normalize_email(address)
    soon_past = utcnow() - timedelta(days=1)  # a screening ending today is still shown
    screenings = db.session.scalars(
        select(Screening)
        .where(
            func.lower(Screening.contact_email) == email,
            Screening.status.in_(LIVE),
            Screening.starts_at >= soon_past,
        )
        .order_by(Screening.starts_at, Screening.id)
    ).all()
    rsvps = db.session.scalars(
        select(Rsvp)
        .join(Screening, Rsvp.screening_id == Screening.id)
        .where(
            Rsvp.email_normalized == email,
            Rsvp.status != RsvpStatus.CANCELLED,
            Screening.status == ScreeningStatus.APPROVED,
            Screening.starts_at >= soon_past,
        )
        .order_by(Screening.starts_at, Rsvp.id)
    ).all()
    return [s for s in screenings if not s.is_past], [r for r in rsvps if not r.screening.is_past]


def sent_today(email: str, kind: str = KIND) -> int:
    """How many e-mails of a kind went to an address in the last day (a daily allowance)."""
    since = utcnow() - timedelta(days=1)
    return (
        db.session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.kind == kind,
                func.lower(OutboxMessage.recipient) == email,
                OutboxMessage.created_at >= since,
            )
        )
        or 0
    )


def send_my_links(address: str, *, language: str) -> bool:
    """Queue one e-mail with every link the address holds; False when nothing was sent
    (nothing held, or the address's daily allowance spent). The caller answers the same."""
    email = normalize_email(address)
    screenings, rsvps = links_for(email)
    if not (screenings or rsvps):
        return False
    if sent_today(email) >= current_app.config["LINKS_MAILS_PER_ADDRESS_PER_DAY"]:
        current_app.logger.info("links e-mail not sent: the address's daily allowance is spent")
        return False
    send(email, screenings=screenings, rsvps=rsvps, language=language)
    db.session.commit()
    return True
