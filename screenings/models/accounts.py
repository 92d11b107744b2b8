"""Producer accounts around the Producer row: sessions per device, e-mailed links, audit log."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .core import Producer, utcnow

__all__ = [
    "AccountAction",
    "AccountEvent",
    "AccountLink",
    "LinkPurpose",
    "ProducerSession",
    "RecoveryCode",
]


class ProducerSession(Model):
    """One logged-in device. The cookie holds a random id; only its SHA-256 is stored."""

    __tablename__ = "producer_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    device: Mapped[str] = mapped_column(String(120), default="")
    address: Mapped[str] = mapped_column(String(45), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    producer: Mapped[Producer] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def __repr__(self) -> str:
        return f"<ProducerSession {self.id} of {self.producer_id} {self.device!r}>"


class LinkPurpose(enum.StrEnum):
    UNLOCK = "unlock"
    RESET = "reset"
    INVITE = "invite"


class AccountLink(Model):
    """A single-use, expiring link e-mailed to an account's owner (token stored hashed)."""

    __tablename__ = "account_links"
    __table_args__ = (
        CheckConstraint("purpose IN ('unlock', 'reset', 'invite')", name="purpose_known"),
        Index("ix_account_links_producer_id_purpose", "producer_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producers.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    producer: Mapped[Producer] = relationship()

    def __repr__(self) -> str:
        return f"<AccountLink {self.purpose} for {self.producer_id}>"


class RecoveryCode(Model):
    """A single-use code that stands in for the authenticator app (shown once, stored hashed)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producers.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<RecoveryCode {self.id} of {self.producer_id}>"


class AccountAction(enum.StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGIN_REFUSED_LOCKED = "login_refused_locked"
    LOCKED = "locked"
    UNLOCKED = "unlocked"
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"
    RESET_REQUESTED = "reset_requested"
    RESET_USED = "reset_used"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 an event name, not a password
    INVITED = "invited"
    INVITE_ACCEPTED = "invite_accepted"
    ROLE_CHANGED = "role_changed"
    DISABLED = "disabled"
    ENABLED = "enabled"
    CREATED = "created"
    TWO_FACTOR_ENABLED = "two_factor_enabled"
    TWO_FACTOR_DISABLED = "two_factor_disabled"
    RECOVERY_CODE_USED = "recovery_code_used"


class AccountEvent(Model):
    """The audit log: who did what to which account, when, from which address."""

    __tablename__ = "account_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(32))
    # The account acted on (None: a failed login naming no account).
    producer_id: Mapped[int | None] = mapped_column(ForeignKey("producers.id"), index=True)
    # Who acted: None when it was the account itself or someone not logged in.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("producers.id"))
    address: Mapped[str] = mapped_column(String(45), default="")
    detail: Mapped[str] = mapped_column(String(200), default="")

    producer: Mapped[Producer | None] = relationship(foreign_keys=[producer_id])
    actor: Mapped[Producer | None] = relationship(foreign_keys=[actor_id])

    def __repr__(self) -> str:
        return f"<AccountEvent {self.action} {self.producer_id} by {self.actor_id}>"
