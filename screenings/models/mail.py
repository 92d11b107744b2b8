"""Mail coming back: addresses the outbox no longer writes to, and inbound messages seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from .core import utcnow

__all__ = ["InboundMessage", "SuppressedAddress"]


class SuppressedAddress(Model):
    """An address that hard-bounced (5.x.x) a message of ours: the outbox refuses to send
    to it until a producer lifts it. Personal data: erased with its owner."""

    __tablename__ = "suppressed_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_normalized: Mapped[str] = mapped_column(String(254), unique=True)
    # The receiving server's words (Diagnostic-Code), for the producer's outbox page.
    diagnostic: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="")
    # The outbox message whose bounce put the address here (no foreign key: the outbox keeps
    # its rows, but the list must not depend on that).
    outbox_message_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<SuppressedAddress {self.id} since {self.created_at:%Y-%m-%d}>"


class InboundMessage(Model):
    """An inbound message already acted on, by the digest of its Message-ID (or of its bytes
    when it has none): the same message delivered or polled twice changes nothing twice."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    outcome: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    def __repr__(self) -> str:
        return f"<InboundMessage {self.id} {self.outcome} at {self.received_at:%Y-%m-%d %H:%M}>"
