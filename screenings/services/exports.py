"""CSV exports: the screening list (with the dashboard's filters) and the reports.

Cells that a spreadsheet would read as a formula (starting with = + - @, or a tab or CR)
are prefixed with a single quote: an organizer typing ``=HYPERLINK(…)`` as their name
must not run in the producer's spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Screening
from ..places import country_name
from . import DomainError
from .dashboard import ScreeningFilter, check_filter, filtered
from .reports import reports_query

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A cell as text, defused when a spreadsheet would evaluate it."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def _csv_lines(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return value

    writer.writerow(header)
    yield "\ufeff" + flush()  # BOM: spreadsheet programs then read UTF-8 names correctly
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        yield flush()


SCREENING_COLUMNS = [
    "id",
    "licence_number",
    "status",
    "film",
    "organization",
    "organization_type",
    "contact_name",
    "contact_email",
    "venue",
    "city",
    "region",
    "country",
    "country_name",
    "timezone",
    "local_start",
    "starts_at_utc",
    "duration_minutes",
    "expected_audience",
    "capacity",
    "seats_taken",
    "listing",
]


def check_parameters(form: FlaskForm, filters: ScreeningFilter) -> None:
    """Refuse an export's invalid parameters (DomainError) while an error page can still be sent.

    The dashboard's own page shows such a filter as a field error and lists by its defaults;
    a file streamed from the wrong filters, or cut off by an error, must not leave the server.
    """
    for name, messages in form.errors.items():
        label = getattr(getattr(form, name, None), "label", None)
        raise DomainError(
            _("%(field)s: %(message)s", field=label.text if label else name, message=messages[0]),
            field=name,
        )
    check_filter(filters)


def screenings_csv(filters: ScreeningFilter, batch: int = 1000) -> Iterator[str]:
    """Every screening matching the filters (no paging), streamed in batches."""

    def rows() -> Iterator[list[object]]:
        query = (
            filtered(filters.without_page())
            .options(selectinload(Screening.licences))
            .execution_options(yield_per=batch)
        )
        for s in db.session.scalars(query):
            licence = s.current_licence
            yield [
                s.id,
                licence.number if licence else "",
                s.status,
                s.film.title,
                s.organization_name,
                s.organization_type,
                s.contact_name,
                s.contact_email,
                s.venue_name,
                s.city,
                s.region,
                s.country,
                country_name(s.country),
                s.timezone,
                s.local_start.isoformat(timespec="minutes"),
                s.starts_at.isoformat(timespec="minutes") + "Z",
                s.duration_minutes,
                s.expected_audience,
                s.capacity,
                s.seats_taken,
                s.visibility,
            ]

    return _csv_lines(SCREENING_COLUMNS, rows())


REPORT_COLUMNS = [
    "screening_id",
    "licence_number",
    "film",
    "organization",
    "organization_type",
    "city",
    "country",
    "local_start",
    "expected_audience",
    "actual_attendance",
    "feedback",
    "quote",
    "submitted_at_utc",
]


def reports_csv(batch: int = 1000) -> Iterator[str]:
    """Every post-screening report with its screening's particulars."""

    def rows() -> Iterator[list[object]]:
        query = reports_query().execution_options(yield_per=batch)
        for report in db.session.scalars(query):
            s = report.screening
            licence = s.current_licence
            yield [
                s.id,
                licence.number if licence else "",
                s.film.title,
                s.organization_name,
                s.organization_type,
                s.city,
                s.country,
                s.local_start.isoformat(timespec="minutes"),
                s.expected_audience,
                report.actual_attendance,
                report.feedback,
                report.quote,
                report.submitted_at.isoformat(timespec="minutes") + "Z",
            ]

    return _csv_lines(REPORT_COLUMNS, rows())
