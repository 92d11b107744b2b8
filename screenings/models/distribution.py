"""Screening formats (download, DCP, Blu-ray…), shipments and downloads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .core import utcnow

__all__ = ["ScreeningFormat"]


class ScreeningFormat(db.Model):
    """How a film is delivered to organizers: a download, or a physical medium to ship."""

    __tablename__ = "screening_formats"

    id: Mapped[int] = mapped_column(primary_key=True)
    film_id: Mapped[int] = mapped_column(ForeignKey("films.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # "download" formats get a personal expiring link; "physical" ones are shipped.
    kind: Mapped[str] = mapped_column(String(16), default="download")
    download_url: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<ScreeningFormat {self.name} ({self.kind})>"
