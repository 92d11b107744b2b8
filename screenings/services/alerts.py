"""What the producers hear: bookings and changes to review, cancellations, dead mail.

One home for producer alerts. Each producer account chooses how (``Producer.alert_mode``):
``immediate`` (an e-mail per event), ``digest`` (kept in ``producer_alerts`` and sent once a
day by ``flask alerts digest``) or ``none``. Alerts are written in the caller's transaction,
like every e-mail (the outbox), so an event that is rolled back alerts no one.
"""

from __future__ import annotations

import json

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from .. import emails
from ..extensions import db, rows_changed
from ..models import (
    ChangeRequest,
    OutboxMessage,
    Producer,
    ProducerAlert,
    Screening,
    utcnow,
)
from . import DomainError

ALERT_MODES = (
    ("immediate", _l("At once: an e-mail for each event")),
    ("digest", _l("A daily digest")),
    ("none", _l("None")),
)
# Why an organizer cancelled: the cancel form's choices, and the dashboard's counts.
CANCEL_CAUSES = (
    ("venue_withdrew", _l("The venue withdrew")),
    ("security", _l("Security concerns or threats")),
    ("protest", _l("Protest or disruption expected")),
    ("low_interest", _l("Low interest")),
    ("other", _l("Other")),
)
NO_CAUSE = "not_given"
KINDS = {
    "booking": _l("Booking awaiting approval"),
    "change": _l("Change awaiting approval"),
    "cancellation": _l("Cancelled by the organizer"),
    "dead_mail": _l("An e-mail could not be delivered"),
    "organizer_bounced": _l("An organizer's e-mail address bounces"),
}


def cause_label(cause: str) -> str:
    """The cause's words, for e-mails and the dashboard."""
    return str(dict(CANCEL_CAUSES).get(cause, _l("Not given")))


def _words(kind: str, details: dict) -> tuple[str, str]:
    """What an alert's e-mail says it is, and the organizer's cause, in the current language."""
    return str(KINDS.get(kind, kind)), cause_label(details.get("cause", ""))


def set_alert_mode(producer: Producer, mode: str) -> None:
    """The producer's choice of how they hear of events."""
    if mode not in dict(ALERT_MODES):
        raise DomainError(_("Choose how you want to hear of events."), field="alert_mode")
    producer.alert_mode = mode
    db.session.commit()


def _listeners() -> list[Producer]:
    return list(
        db.session.scalars(
            select(Producer)
            .where(Producer.alert_mode != "none", Producer.disabled_at.is_(None))
            .order_by(Producer.id)
        )
    )


def _alert(kind: str, screening: Screening | None, **details: object) -> None:
    """E-mail each producer who hears at once; keep it for those who read a digest."""
    for producer in _listeners():
        if producer.alert_mode == "digest":
            db.session.add(
                ProducerAlert(
                    producer_id=producer.id,
                    kind=kind,
                    screening_id=screening.id if screening else None,
                    details_json=json.dumps(details, ensure_ascii=False, default=str),
                )
            )
        else:
            kind_label, cause = _words(kind, details)
            emails.send_producer_alert(
                producer, kind, screening, details, kind_label=kind_label, cause=cause
            )


def booking_awaiting_approval(screening: Screening) -> None:
    """A booking of an approval film waits in the queue."""
    _alert("booking", screening)


def change_awaiting_approval(screening: Screening, change: ChangeRequest) -> None:
    """An approved screening's organizer proposed a material change."""
    _alert("change", screening, changes=change.changes)


def cancelled_by_organizer(screening: Screening, *, reason: str, cause: str) -> None:
    """The organizer cancelled: with their reason and its structured cause."""
    _alert("cancellation", screening, reason=reason, cause=cause)


def dead_mail(message: OutboxMessage) -> None:
    """An outbox message gave up (no alert of an alert: that could loop)."""
    if message.kind.startswith("producer_"):
        return
    screening = db.session.get(Screening, message.screening_id) if message.screening_id else None
    _alert(
        "dead_mail",
        screening,
        subject=message.subject,
        message_kind=message.kind,
        error=message.last_error[:300],
    )


def send_digests() -> int:
    """E-mail each digest reader what they have not had yet; returns e-mails queued.

    Each producer's pending alerts are claimed by one conditional UPDATE (``digested_at IS
    NULL``) in the transaction that queues their digest: a second run, even at the same
    time, finds nothing to send. Alerts kept for a producer who has since switched to "at
    once" or "none" are dropped, not sent late.
    """
    sent = 0
    producers = list(db.session.scalars(select(Producer).order_by(Producer.id)))
    for producer in producers:
        now = utcnow()
        claimed = rows_changed(
            update(ProducerAlert)
            .where(ProducerAlert.producer_id == producer.id, ProducerAlert.digested_at.is_(None))
            .values(digested_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed and producer.alert_mode == "digest":
            alerts = list(
                db.session.scalars(
                    select(ProducerAlert)
                    .where(
                        ProducerAlert.producer_id == producer.id,
                        ProducerAlert.digested_at == now,
                    )
                    .order_by(ProducerAlert.id)
                )
            )
            screenings: dict[int | None, Screening] = {  # an alert may name no screening
                s.id: s
                for s in db.session.scalars(
                    select(Screening).where(
                        Screening.id.in_({a.screening_id for a in alerts if a.screening_id})
                    )
                )
            }
            emails.send_producer_digest(
                producer,
                [
                    (alert, screenings.get(alert.screening_id), *_words(alert.kind, alert.details))
                    for alert in alerts
                ],
            )
            sent += 1
        db.session.commit()
    return sent


def cancellation_causes(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Organizers' cancellations by cause (`counts`: cancellations by stored cause, from
    dashboard.board_counts), labelled, in the causes' order, the unexplained last."""
    return [
        (cause_label(cause), counts.get(cause, 0)) for cause in [*dict(CANCEL_CAUSES), NO_CAUSE]
    ]


def organizer_address_bounced(screening: Screening, *, address: str, diagnostic: str) -> None:
    """An organizer's address bounced permanently: we no longer write to it (bounces.py)."""
    _alert(
        "organizer_bounced",
        screening,
        subject=str(_l("E-mail to %(address)s bounces", address=address)),
        address=address,
        error=diagnostic[:300],
    )
