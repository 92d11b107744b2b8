"""Outbox administration for the producer: messages by state (failed, dead, bounced and
suppressed first), their counts, and putting one back in the queue.

Delivery itself (composing, queueing, sending, retrying with backoff) is screenings/outbox.py.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from ..extensions import db
from ..models import OutboxMessage, OutboxStatus
from ..outbox import retry_message
from . import NotAllowed
from .dashboard import Page

OUTBOX_VIEWS = ("problems", "pending", "failed", "dead", "bounced", "sent")


_PROBLEMS = (OutboxStatus.FAILED, OutboxStatus.DEAD, OutboxStatus.BOUNCED, OutboxStatus.SUPPRESSED)


def outbox_page(view: str = "problems", page: int = 1, per_page: int = 100) -> Page:
    """Messages by state; "problems" shows failed, dead, bounced and suppressed ones, the
    last error included."""
    statuses = {
        "problems": _PROBLEMS,
        "pending": (OutboxStatus.PENDING, OutboxStatus.SENDING),
        "failed": (OutboxStatus.FAILED,),
        "dead": (OutboxStatus.DEAD,),
        "bounced": (OutboxStatus.BOUNCED, OutboxStatus.SUPPRESSED),
        "sent": (OutboxStatus.SENT,),
    }.get(view, _PROBLEMS)
    condition = OutboxMessage.status.in_(statuses)
    total = db.session.scalar(select(func.count(OutboxMessage.id)).where(condition)) or 0
    pages = max((total + per_page - 1) // per_page, 1)
    page = max(1, min(page, pages))
    rows = db.session.scalars(
        select(OutboxMessage)
        .where(condition)
        .order_by(OutboxMessage.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(rows), total, page, per_page)


def outbox_counts() -> dict[str, int]:
    """How many messages are in each state (the outbox page's tabs)."""
    rows = db.session.execute(
        select(OutboxMessage.status, func.count(OutboxMessage.id)).group_by(OutboxMessage.status)
    ).all()
    return dict(rows)


def retry(message_id: int) -> OutboxMessage:
    """Put one failed or dead message back in the queue."""
    row = db.session.get(OutboxMessage, message_id)
    if row is None:
        raise NotAllowed(_("No such message."))
    if row.status not in (OutboxStatus.FAILED, OutboxStatus.DEAD, OutboxStatus.SUPPRESSED):
        raise NotAllowed(_("Only failed, dead or suppressed messages can be retried."))
    retry_message(row)
    return row
