"""Reach: post-screening reports and what the dashboard charts are made of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import SupportsInt

from flask_babel import gettext as _
from sqlalchemy import Select, extract, func, select, update
from sqlalchemy.orm import contains_eager, selectinload

from .. import emails
from ..extensions import db, rows_changed
from ..models import Rsvp, Screening, ScreeningReport, ScreeningStatus, utcnow
from . import DomainError, NotAllowed
from .door import counted_at_door
from .history import record_change


def report_of(screening: Screening) -> ScreeningReport | None:
    return db.session.scalar(
        select(ScreeningReport).where(ScreeningReport.screening_id == screening.id)
    )


def can_report(screening: Screening) -> bool:
    """A licensed screening that has started can be reported on."""
    return screening.status == ScreeningStatus.APPROVED and screening.starts_at <= utcnow()


def request_reports(*, since_days: int = 30, limit: int | None = None) -> int:
    """E-mail the organizer of each screening that ended (within since_days) the report link.

    Idempotent: ``report_requested_at`` is set by a conditional UPDATE in the same
    transaction that queues the e-mail, so a second run (or a concurrent one) sends nothing.
    """
    now = utcnow()
    candidates = db.session.scalars(
        select(Screening)
        .where(
            Screening.status == ScreeningStatus.APPROVED,
            Screening.report_requested_at.is_(None),
            Screening.starts_at <= now,
            Screening.starts_at >= now - timedelta(days=since_days),
        )
        .order_by(Screening.starts_at, Screening.id)
    ).all()
    sent = 0
    for screening in candidates:
        if not screening.is_past:  # started but not yet over
            continue
        claimed = rows_changed(
            update(Screening)
            .where(Screening.id == screening.id, Screening.report_requested_at.is_(None))
            .values(report_requested_at=now, updated_at=Screening.updated_at)
            .execution_options(synchronize_session=False)
        )
        if claimed != 1:
            db.session.rollback()
            continue
        emails.send_report_request(screening)
        record_change(screening, "system:reports", "report requested")
        db.session.commit()
        sent += 1
        if limit and sent >= limit:
            break
    return sent


def submit_report(
    screening: Screening, *, actual_attendance: int, feedback: str, quote: str, actor: str
) -> ScreeningReport:
    """Save (or correct) the organizer's report of a screening that took place."""
    if not can_report(screening):
        raise NotAllowed(_("A report can be written once the licensed screening has started."))
    if actual_attendance < 0 or actual_attendance > 1_000_000:
        raise DomainError(_("Enter the number of people who came."), field="actual_attendance")
    report = report_of(screening)
    if report is None:
        report = ScreeningReport(screening_id=screening.id, actual_attendance=actual_attendance)
        db.session.add(report)
        action = "reported"
    else:
        action = "report corrected"
    report.actual_attendance = actual_attendance
    report.feedback = feedback
    report.quote = quote
    record_change(screening, actor, action, actual_attendance=actual_attendance)
    db.session.commit()
    return report


# ---------------------------------------------------------------- reach statistics
@dataclass
class Reach:
    per_month: list[tuple[str, int]]
    audience: list[tuple[str, int, int]]  # month, expected (reported screenings), actual
    door: list[tuple[str, int]]  # month, people checked in at the door (services/door.py)
    countries: list[tuple[str, int, int]]  # country, screenings, cities
    cities: list[tuple[str, str, int]]  # country, city, screenings
    organization_types: list[tuple[str, int]]
    totals: dict[str, int]


def _month_key(year: SupportsInt, month: SupportsInt) -> str:
    return f"{int(year):04d}-{int(month):02d}"


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def reach(months_back: int = 11, months_ahead: int = 3) -> Reach:
    """Licensed screenings aggregated in SQL (a handful of GROUP BY queries, whatever the data)."""
    now = utcnow()
    start_year, start_month = _add_months(now.year, now.month, -months_back)
    end_year, end_month = _add_months(now.year, now.month, months_ahead + 1)
    first = datetime(start_year, start_month, 1)  # noqa: DTZ001 naive UTC, as starts_at holds
    end = datetime(end_year, end_month, 1)  # noqa: DTZ001 naive UTC, as starts_at holds
    keys = [
        _month_key(*_add_months(start_year, start_month, i))
        for i in range(months_back + months_ahead + 1)
    ]
    licensed = Screening.status == ScreeningStatus.APPROVED
    in_window = (Screening.starts_at >= first) & (Screening.starts_at < end)
    year = extract("year", Screening.starts_at)
    month = extract("month", Screening.starts_at)

    counted = {
        _month_key(y, m): n
        for y, m, n in db.session.execute(
            select(year, month, func.count(Screening.id))
            .where(licensed, in_window)
            .group_by(year, month)
        ).all()
    }
    per_month = [(key, counted.get(key, 0)) for key in keys]

    audience_rows = {
        _month_key(y, m): (int(expected or 0), int(actual or 0))
        for y, m, expected, actual in db.session.execute(
            select(
                year,
                month,
                func.sum(Screening.expected_audience),
                func.sum(ScreeningReport.actual_attendance),
            )
            .join(ScreeningReport, ScreeningReport.screening_id == Screening.id)
            .where(licensed, in_window)
            .group_by(year, month)
        ).all()
    }
    audience = [(key, *audience_rows.get(key, (0, 0))) for key in keys]

    at_door = Rsvp.screening_id == Screening.id
    door_rows = {
        _month_key(y, m): int(n or 0)
        for y, m, n in db.session.execute(
            select(year, month, func.sum(Rsvp.checked_in_count))
            .join(Rsvp, at_door)
            .where(licensed, in_window, counted_at_door())
            .group_by(year, month)
        ).all()
    }
    door = [(key, door_rows.get(key, 0)) for key in keys]
    door_total = db.session.execute(
        select(
            func.coalesce(func.sum(Rsvp.checked_in_count), 0),
            func.count(func.distinct(Rsvp.screening_id)),
        )
        .join(Screening, at_door)
        .where(licensed, counted_at_door(), Rsvp.checked_in_count > 0)
    ).one()

    countries = [
        (country, n, cities)
        for country, n, cities in db.session.execute(
            select(
                Screening.country,
                func.count(Screening.id),
                func.count(func.distinct(Screening.city)),
            )
            .where(licensed)
            .group_by(Screening.country)
            .order_by(func.count(Screening.id).desc(), Screening.country)
        ).all()
    ]
    cities = list(
        db.session.execute(
            select(Screening.country, Screening.city, func.count(Screening.id))
            .where(licensed)
            .group_by(Screening.country, Screening.city)
            .order_by(func.count(Screening.id).desc(), Screening.country, Screening.city)
            .limit(25)
        ).all()
    )
    organization_types = list(
        db.session.execute(
            select(Screening.organization_type, func.count(Screening.id))
            .where(licensed)
            .group_by(Screening.organization_type)
            .order_by(func.count(Screening.id).desc())
        ).all()
    )
    totals_row = db.session.execute(
        select(
            func.count(Screening.id),
            func.coalesce(func.sum(Screening.expected_audience), 0),
            func.count(func.distinct(Screening.country)),
        ).where(licensed)
    ).one()
    reported = db.session.execute(
        select(
            func.count(ScreeningReport.id),
            func.coalesce(func.sum(ScreeningReport.actual_attendance), 0),
        )
    ).one()
    totals = {
        "screenings": totals_row[0],
        "expected": int(totals_row[1]),
        "countries": totals_row[2],
        "reports": reported[0],
        "actual": int(reported[1]),
        "checked_in": int(door_total[0]),
        "door_screenings": int(door_total[1]),
    }
    return Reach(
        per_month=per_month,
        audience=audience,
        door=door,
        countries=[(c, int(n), int(k)) for c, n, k in countries],
        cities=[(c, city, int(n)) for c, city, n in cities],
        organization_types=[(t, int(n)) for t, n in organization_types],
        totals=totals,
    )


def reports_query() -> Select[ScreeningReport]:
    """Every report with its screening, film and licences, newest screening first."""
    return (
        select(ScreeningReport)
        .join(ScreeningReport.screening)
        .join(Screening.film)
        .options(
            contains_eager(ScreeningReport.screening).options(
                contains_eager(Screening.film), selectinload(Screening.licences)
            )
        )
        .order_by(Screening.starts_at.desc(), ScreeningReport.id)
    )


def recent_reports(limit: int = 20) -> list[ScreeningReport]:
    return list(db.session.scalars(reports_query().limit(limit)))
