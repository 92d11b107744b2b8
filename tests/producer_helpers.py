"""Producer-side test helpers: a logged-in producer, bulk data, query counting."""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, insert, update

from screenings import caching
from screenings.extensions import db as _db
from screenings.models import Licence, Screening, utcnow
from screenings.services.producers import create_producer

from .conftest import submit

PRODUCER_EMAIL = "producer@example.org"
PRODUCER_PASSWORD = "correct horse battery staple"


def log_in(client, email: str = PRODUCER_EMAIL, password: str = PRODUCER_PASSWORD):
    response = submit(
        client, "/producer/login", {"email": email, "password": password}, follow_redirects=False
    )
    assert response.status_code == 302, response.status_code
    return response


@pytest.fixture
def producer(app, client):
    """A producer account, logged in on ``client``."""
    account = create_producer(PRODUCER_EMAIL, PRODUCER_PASSWORD)
    log_in(client)
    return account


def make_past(screening: Screening, days_ago: int = 2) -> None:
    """Move a screening into the past (the booking service refuses past dates)."""
    starts = utcnow() - timedelta(days=days_ago)
    _db.session.execute(
        update(Screening)
        .where(Screening.id == screening.id)
        .values(starts_at=starts, local_start=starts - timedelta(hours=5))
    )
    _db.session.commit()
    _db.session.refresh(screening)


COUNTRIES = [
    ("CA", "Toronto", "America/Toronto"),
    ("US", "Chicago", "America/Chicago"),
    ("FR", "Lyon", "Europe/Paris"),
    ("IL", "Haifa", "Asia/Jerusalem"),
    ("AU", "Perth", "Australia/Perth"),
]


def bulk_screenings(count: int, *, film_id: int = 1, start: datetime | None = None) -> None:
    """Insert approved screenings, each with a licence, in bulk with core INSERTs."""
    start = start or utcnow() + timedelta(days=1)
    rows, licences = [], []
    table = Screening.__table__
    first_id = (_db.session.scalar(_db.select(_db.func.max(Screening.id))) or 0) + 1
    now = utcnow()
    for index in range(count):
        country, city, zone = COUNTRIES[index % len(COUNTRIES)]
        starts_at = start + timedelta(minutes=(index * 60 * 24 * 60) // max(count, 1))
        screening_id = first_id + index
        rows.append(
            {
                "id": screening_id,
                "film_id": film_id,
                "status": "approved",
                "submission_key": secrets.token_hex(16),
                "manage_token_hash": secrets.token_hex(32),
                "manage_token_version": 1,
                "language": "en",
                "organization_name": f"Organization {index:05d}",
                "organization_type": ("school", "cinema", "faith_community")[index % 3],
                "organization_website": "",
                "organization_country": country,
                "contact_name": f"Contact {index}",
                "contact_email": f"contact{index}@example.org",
                "contact_phone": "",
                "venue_name": "Hall",
                "street_address": "1 Main Street",
                "city": city,
                "region": "",
                "postal_code": "",
                "country": country,
                "timezone": zone,
                "local_start": starts_at,
                "starts_at": starts_at,
                "duration_minutes": 145,
                "expected_audience": 50 + index % 100,
                "capacity": 100,
                "seats_taken": index % 100,
                "is_public": True,
                "rsvps_enabled": True,
                "max_party_size": 10,
                "notes": "",
                "rejection_reason": "",
                "calendar_sequence": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
        licences.append(
            {
                "screening_id": screening_id,
                "number": f"TKR-2026-{screening_id:05d}",
                "revision": 1,
                "terms_id": 1,
                "particulars_json": "{}",
                "issued_at": now,
            }
        )
    for chunk in range(0, count, 2000):
        _db.session.execute(insert(table), rows[chunk : chunk + 2000])
        _db.session.execute(insert(Licence.__table__), licences[chunk : chunk + 2000])
    _db.session.commit()
    if _db.engine.dialect.name == "postgresql":
        # Explicit ids bypass the sequences; move them past the inserted rows.
        for name in ("screenings", "licences"):
            _db.session.execute(
                _db.text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT MAX(id) FROM {name}))"
                )
            )
        _db.session.commit()


@contextmanager
def count_queries():
    """Count the SQL statements run inside the block (a list, read after it)."""
    statements: list[str] = []

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    # The app's engine, and the one its version reads keep their connections on.
    engines = {_db.engine, caching._held_reads(_db.engine).engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", before_cursor_execute)
    # And the version reads sent straight to the DBAPI cursor, which no engine event sees.
    direct_fetch = caching._DirectRead.fetch

    def counted_fetch(direct, kept, parameters):
        statements.append(direct.sql)
        return direct_fetch(direct, kept, parameters)

    caching._DirectRead.fetch = counted_fetch
    try:
        yield statements
    finally:
        caching._DirectRead.fetch = direct_fetch
        for engine in engines:
            event.remove(engine, "before_cursor_execute", before_cursor_execute)
