"""Attendees' RSVPs and the waiting list.

A screening's ``seats_taken`` counter is the sum of the party sizes of its confirmed RSVPs and
of its unconfirmed ones (seats held until the address is confirmed or the hold expires); it is
changed only by conditional UPDATEs in services/rsvps.py, and a CHECK keeps it within capacity.
A *requested* RSVP (the screening's organizer approves each guest) holds no seat.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .core import Screening, one_of, utcnow

__all__ = ["DoorHelper", "MailBounce", "Rsvp", "RsvpStatus"]


class RsvpStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    # Waits for the organizer's approval; holds no seat.
    REQUESTED = "requested"
    # Holds its seats until the e-mailed link is clicked or ``hold_expires_at`` passes.
    UNCONFIRMED = "unconfirmed"
    # The organizer declined the request (it still counts as the address's one reply).
    DECLINED = "declined"


class Rsvp(Model):
    """One reply to a public screening: a party of ``party_size`` seats, confirmed or waiting."""

    __tablename__ = "rsvps"
    __table_args__ = (
        CheckConstraint("party_size >= 1", name="party_size_positive"),
        one_of("status", RsvpStatus),
        # One active reply per e-mail address and screening: a double submission is one RSVP.
        Index(
            "uq_rsvps_screening_id_email_active",
            "screening_id",
            "email_normalized",
            unique=True,
            sqlite_where=text("status != 'cancelled'"),
            postgresql_where=text("status != 'cancelled'"),
        ),
        # The waiting list in order, and the attendee list.
        Index("ix_rsvps_screening_id_status_created_at", "screening_id", "status", "created_at"),
        # The expiry job's scan of unconfirmed holds.
        Index("ix_rsvps_status_hold_expires_at", "status", "hold_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"))
    status: Mapped[str] = mapped_column(String(16), default=RsvpStatus.CONFIRMED)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    # Lower-cased address: the key of "one active RSVP per person".
    email_normalized: Mapped[str] = mapped_column(String(254))
    party_size: Mapped[int] = mapped_column(default=1)
    consent_to_email: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str] = mapped_column(String(8), default="en")
    # Random key the private cancel link is derived from; replace it to revoke the link.
    cancel_key: Mapped[str] = mapped_column(String(64))
    cancel_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Digest of the token in the invite's reply address (replies+<token>@…): an iTIP REPLY
    # is matched by it and the attendee's address, never by its From line.
    reply_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The attendee's own answer from their calendar (ACCEPTED, TENTATIVE), when they sent one.
    reply_partstat: Mapped[str | None] = mapped_column(String(16))
    # Added to the screening's calendar_sequence in this attendee's invites: raised by their
    # own cancellation, and carried (plus one) into a later reply of the same person, so every
    # object they receive has a higher SEQUENCE than the last (RFC 5546 2.1.5).
    calendar_sequence_offset: Mapped[int] = mapped_column(default=0, server_default="0")
    # Digest of the ticket code (services/door.ticket_code): the door finds a ticket by it.
    ticket_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Party members through the door so far (0 … party_size), the first time and by whom.
    checked_in_count: Mapped[int] = mapped_column(default=0, server_default="0")
    checked_in_at: Mapped[datetime | None]
    checked_in_by: Mapped[str | None] = mapped_column(String(120))
    # The answer to the screening's host question (Screening.host_question); personal data.
    answer: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # An unconfirmed reply's seats are released at this time (services/rsvps.py).
    hold_expires_at: Mapped[datetime | None]
    # Digest of the confirm-address link's token (derived from cancel_key, purpose "confirm").
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    declined_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # Indexed: the producer sorts and exports replies by their last change.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    screening: Mapped[Screening] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status != RsvpStatus.CANCELLED

    def __repr__(self) -> str:
        return f"<Rsvp {self.id} {self.status} x{self.party_size} screening={self.screening_id}>"


class DoorHelper(Model):
    """A check-in-only link a screening's organizer gave a volunteer: it opens the door page
    of that screening and nothing else, until revoked."""

    __tablename__ = "door_helpers"

    id: Mapped[int] = mapped_column(primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"), index=True)
    label: Mapped[str] = mapped_column(String(80))
    # Random key the link's token is derived from (the organizer sees the link again on the
    # manage page); only the token's digest finds it.
    key: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    screening: Mapped[Screening] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def __repr__(self) -> str:
        return f"<DoorHelper {self.id} screening={self.screening_id} active={self.is_active}>"


class MailBounce(Model):
    """An address that bounced (an RFC 3464 delivery status notification came back)."""

    __tablename__ = "mail_bounces"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_normalized: Mapped[str] = mapped_column(String(254), unique=True)
    # True for a permanent failure (status 5.x.x); a transient one (4.x.x) is only noted.
    is_permanent: Mapped[bool] = mapped_column(default=False)
    diagnostic: Mapped[str] = mapped_column(String(500), default="")
    bounces: Mapped[int] = mapped_column(default=1)
    first_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<MailBounce {self.id} x{self.bounces} permanent={self.is_permanent}>"
