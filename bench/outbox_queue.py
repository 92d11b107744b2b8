"""Queue N realistic e-mails for the outbox benchmark: one real RSVP confirmation, copied."""

from __future__ import annotations

import secrets

from sqlalchemy import insert, select

from screenings import create_app
from screenings.emails import send_rsvp_confirmed
from screenings.extensions import db
from screenings.models import OutboxMessage, Rsvp, RsvpStatus, utcnow
from screenings.services import door


def queue(count: int) -> None:
    """Compose one confirmation (text, HTML, iMIP invite) and queue ``count`` copies of it."""
    app = create_app()
    with app.test_request_context():
        rsvp = db.session.scalar(select(Rsvp).where(Rsvp.status == RsvpStatus.CONFIRMED).limit(1))
        send_rsvp_confirmed(
            rsvp, ticket_code=door.ensure_ticket(rsvp), ticket_qr_png=door.ticket_qr_png(rsvp)
        )
        template = db.session.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
        kind, recipient, subject, raw = (
            template.kind,
            template.recipient,
            template.subject,
            template.raw,
        )
        old_id, screening_id = template.message_id.encode(), template.screening_id
        db.session.rollback()
        now = utcnow()
        rows = []
        for _ in range(count):
            message_id = f"<bench-{secrets.token_hex(12)}@example.org>"
            rows.append(
                {
                    "message_id": message_id,
                    "kind": kind,
                    "recipient": recipient,
                    "subject": subject,
                    "raw": raw.replace(old_id, message_id.encode()),
                    "screening_id": screening_id,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": "",
                    "created_at": now,
                }
            )
        for start in range(0, len(rows), 2000):
            db.session.execute(insert(OutboxMessage.__table__), rows[start : start + 2000])
        db.session.commit()
