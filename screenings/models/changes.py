"""Changes awaiting the producer's approval, and alerts waiting for a producer's digest."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .core import Screening, one_of, utcnow

__all__ = ["ChangeRequest", "ChangeRequestStatus", "ProducerAlert"]


class ChangeRequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    # Replaced by a later proposal, or the screening was cancelled before a decision.
    WITHDRAWN = "withdrawn"


class ChangeRequest(Model):
    """A material change to an approved screening of an approval film, held for review.

    The screening keeps its approved particulars (and its licence) until the producer
    approves; ``proposed_json`` holds the organizer's new entries for the held fields (and the
    start's date, time and zone), as the edit form gave them: no contact data.
    """

    __tablename__ = "change_requests"
    __table_args__ = (one_of("status", ChangeRequestStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ChangeRequestStatus.PENDING)
    actor: Mapped[str] = mapped_column(String(300))
    # The proposed BookingDetails values of the held fields, JSON (dates and times ISO).
    proposed_json: Mapped[str] = mapped_column(Text)
    # {field: [approved value, proposed value]} for what the change alters.
    changes_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str] = mapped_column(String(300), default="")
    decision_reason: Mapped[str] = mapped_column(Text, default="")

    screening: Mapped[Screening] = relationship()

    @property
    def proposed(self) -> dict[str, Any]:
        return json.loads(self.proposed_json)

    @property
    def changes(self) -> dict[str, Any]:
        return json.loads(self.changes_json)

    def __repr__(self) -> str:
        return f"<ChangeRequest {self.id} {self.status} screening={self.screening_id}>"


class ProducerAlert(Model):
    """An alert kept for a producer who reads them as a daily digest."""

    __tablename__ = "producer_alerts"
    __table_args__ = (
        Index("ix_producer_alerts_producer_id_digested_at", "producer_id", "digested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producers.id"))
    kind: Mapped[str] = mapped_column(String(32))
    screening_id: Mapped[int | None] = mapped_column(ForeignKey("screenings.id"), index=True)
    # What the digest says of it, rendered when the event happened ({"line": …, "url": …}).
    details_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set in the same transaction as the digest e-mail is queued: nothing is sent twice.
    digested_at: Mapped[datetime | None]

    @property
    def details(self) -> dict[str, Any]:
        return json.loads(self.details_json)

    def __repr__(self) -> str:
        return f"<ProducerAlert {self.id} {self.kind} producer={self.producer_id}>"
