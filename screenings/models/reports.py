"""Post-screening reports: what the organizer says happened."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, db
from .core import Screening, utcnow

__all__ = ["ScreeningReport"]


class ScreeningReport(Model):
    """One report per screening: actual attendance, feedback, an optional quote to reuse."""

    __tablename__ = "screening_reports"
    __table_args__ = (CheckConstraint("actual_attendance >= 0", name="attendance_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"), unique=True)
    actual_attendance: Mapped[int]
    feedback: Mapped[str] = mapped_column(Text, default="")
    # Given for the producer's use (website, press); empty when the organizer gave none.
    quote: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    screening: Mapped[Screening] = relationship(
        backref=db.backref("report", uselist=False, lazy="select")
    )

    def __repr__(self) -> str:
        return (
            f"<ScreeningReport screening={self.screening_id} attendance={self.actual_attendance}>"
        )
