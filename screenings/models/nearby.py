"""Near-me alerts: a person who asked to hear of new screenings near a town."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from .core import utcnow

__all__ = ["NearbySubscription"]


class NearbySubscription(Model):
    """ "Tell me when there's a screening near me": personal data (services/privacy.py).

    Confirmed by a link e-mailed to the address (double opt-in); every alert carries a
    one-click unsubscribe link. Both are derived from ``key`` and stored only as digests."""

    __tablename__ = "nearby_subscriptions"
    __table_args__ = (CheckConstraint("radius_km > 0", name="radius_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    city_id: Mapped[int]  # the GeoNames id of the town (places.city_by_id)
    radius_km: Mapped[int]
    language: Mapped[str] = mapped_column(String(8), default="en")
    key: Mapped[str] = mapped_column(String(64))
    confirm_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    unsubscribe_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    # Screenings approved up to this instant have been considered for an alert.
    considered_until: Mapped[datetime | None]
    last_sent_at: Mapped[datetime | None]

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None

    def __repr__(self) -> str:
        state = "confirmed" if self.is_confirmed else "unconfirmed"
        return f"<NearbySubscription {self.id} {state} city={self.city_id} {self.radius_km} km>"
