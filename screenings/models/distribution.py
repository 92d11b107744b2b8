"""Screening formats (download, DCP, Blu-ray…), download links, shipments and film materials."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .core import Film, Screening, one_of, utcnow

__all__ = [
    "DownloadLink",
    "FormatKind",
    "MaterialKind",
    "ScreeningFormat",
    "ScreeningMaterial",
    "Shipment",
    "ShipmentStatus",
]


class FormatKind(enum.StrEnum):
    DOWNLOAD = "download"
    PHYSICAL = "physical"


class ShipmentStatus(enum.StrEnum):
    TO_SHIP = "to_ship"
    SHIPPED = "shipped"
    RETURNED = "returned"
    # The screening was cancelled or its format changed before the medium left.
    CANCELLED = "cancelled"


class MaterialKind(enum.StrEnum):
    POSTER = "poster"
    DISCUSSION_GUIDE = "discussion_guide"
    TRAILER = "trailer"
    OTHER = "other"


class ScreeningFormat(Model):
    """How a film is delivered to organizers: a download, or a physical medium to ship."""

    __tablename__ = "screening_formats"

    id: Mapped[int] = mapped_column(primary_key=True)
    film_id: Mapped[int] = mapped_column(ForeignKey("films.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # "download" formats get a personal expiring link; "physical" ones are shipped.
    kind: Mapped[str] = mapped_column(String(16), default=FormatKind.DOWNLOAD)
    download_url: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    film: Mapped[Film] = relationship()

    @property
    def is_download(self) -> bool:
        return self.kind == FormatKind.DOWNLOAD

    def __repr__(self) -> str:
        return f"<ScreeningFormat {self.name} ({self.kind})>"


class DownloadLink(Model):
    """An organizer's personal, expiring link to a download format; counts its uses.

    The token is derived from ``key`` with the app secret (so a revised licence e-mail can
    repeat the same link) and only its digest is stored.
    """

    __tablename__ = "download_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"), unique=True)
    format_id: Mapped[int] = mapped_column(ForeignKey("screening_formats.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    download_count: Mapped[int] = mapped_column(default=0)
    last_download_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    screening: Mapped[Screening] = relationship()
    format: Mapped[ScreeningFormat] = relationship()

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def __repr__(self) -> str:
        return f"<DownloadLink screening={self.screening_id} x{self.download_count}>"


class Shipment(Model):
    """A physical medium sent to a screening's organizer and returned afterwards."""

    __tablename__ = "shipments"
    __table_args__ = (
        Index("ix_shipments_status_ship_by", "status", "ship_by"),
        one_of("status", ShipmentStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"), unique=True)
    format_id: Mapped[int] = mapped_column(ForeignKey("screening_formats.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ShipmentStatus.TO_SHIP)
    ship_by: Mapped[date]
    return_due: Mapped[date]
    shipping_address: Mapped[str] = mapped_column(Text)
    tracking_number: Mapped[str] = mapped_column(String(120), default="")
    shipped_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    screening: Mapped[Screening] = relationship()
    format: Mapped[ScreeningFormat] = relationship()

    @property
    def is_return_overdue(self) -> bool:
        return self.status == ShipmentStatus.SHIPPED and self.return_due < utcnow().date()

    @property
    def is_ship_late(self) -> bool:
        return self.status == ShipmentStatus.TO_SHIP and self.ship_by < utcnow().date()

    def __repr__(self) -> str:
        return f"<Shipment screening={self.screening_id} {self.status}>"


class ScreeningMaterial(Model):
    """A link sent with the licence: poster, discussion guide, trailer…"""

    __tablename__ = "screening_materials"

    id: Mapped[int] = mapped_column(primary_key=True)
    film_id: Mapped[int] = mapped_column(ForeignKey("films.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default=MaterialKind.OTHER)
    label: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    film: Mapped[Film] = relationship()

    def __repr__(self) -> str:
        return f"<ScreeningMaterial {self.kind} {self.label!r}>"
