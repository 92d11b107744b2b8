"""How many screenings there are of each status, cancel cause and (UTC) day, kept by the
database itself: the dashboard's counts read a few of these rows instead of counting
screenings.

Triggers on ``screenings`` keep them in the transaction of every insert, delete and change
of status, start or cancel cause, whoever sends it (a service, a bulk ``update()``, demo data,
raw SQL): a row's ``n`` goes down for the screening's old key and up for its new one. A
delete only lowers an existing row (never creates one), so emptying both tables in any order
leaves none behind. Each change touches only its own day's rows: bookings on other days never
wait for each other. Sums of these rows are what the dashboard reads (services/dashboard.py).

Rebuilding ``screenings`` (SQLite batch mode in a migration) drops its triggers: such a
migration must create them again (``create_count_triggers``); tests/test_migrations.py checks
that they are there after every migration.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, Date, Integer, MetaData, String, Table, event, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model

__all__ = ["ScreeningCount", "create_count_triggers"]


class ScreeningCount(Model):
    """The number of screenings with this status, UTC day of their start and cancel cause."""

    __tablename__ = "screening_counts"
    # Rows in key order (SQLite WITHOUT ROWID): the causes' sums and a range of days are read
    # from the key alone, ~0.1 ms and ~0.03 ms whatever the number of screenings.
    __table_args__ = ({"sqlite_with_rowid": False},)

    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    cancel_cause: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"<ScreeningCount {self.status} {self.day} {self.cancel_cause!r}={self.n}>"


TRIGGER_NAMES = ("screening_counts_insert", "screening_counts_delete", "screening_counts_update")

_SQLITE = (
    """CREATE TRIGGER IF NOT EXISTS screening_counts_insert AFTER INSERT ON screenings
BEGIN
  INSERT INTO screening_counts (status, day, cancel_cause, n)
  VALUES (NEW.status, date(NEW.starts_at), NEW.cancel_cause, 1)
  ON CONFLICT (status, cancel_cause, day) DO UPDATE SET n = n + 1;
END""",
    """CREATE TRIGGER IF NOT EXISTS screening_counts_delete AFTER DELETE ON screenings
BEGIN
  UPDATE screening_counts SET n = n - 1
  WHERE status = OLD.status AND day = date(OLD.starts_at) AND cancel_cause = OLD.cancel_cause;
END""",
    """CREATE TRIGGER IF NOT EXISTS screening_counts_update
AFTER UPDATE OF status, starts_at, cancel_cause ON screenings
WHEN OLD.status IS NOT NEW.status OR date(OLD.starts_at) IS NOT date(NEW.starts_at)
  OR OLD.cancel_cause IS NOT NEW.cancel_cause
BEGIN
  UPDATE screening_counts SET n = n - 1
  WHERE status = OLD.status AND day = date(OLD.starts_at) AND cancel_cause = OLD.cancel_cause;
  INSERT INTO screening_counts (status, day, cancel_cause, n)
  VALUES (NEW.status, date(NEW.starts_at), NEW.cancel_cause, 1)
  ON CONFLICT (status, cancel_cause, day) DO UPDATE SET n = n + 1;
END""",
)

_POSTGRESQL = (
    """CREATE OR REPLACE FUNCTION screening_counts_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE screening_counts SET n = n - 1
    WHERE status = OLD.status AND day = OLD.starts_at::date
      AND cancel_cause = OLD.cancel_cause;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO screening_counts (status, day, cancel_cause, n)
    VALUES (NEW.status, NEW.starts_at::date, NEW.cancel_cause, 1)
    ON CONFLICT (status, cancel_cause, day) DO UPDATE SET n = screening_counts.n + 1;
  END IF;
  RETURN NULL;
END
$$""",
    "DROP TRIGGER IF EXISTS screening_counts_insert ON screenings",
    """CREATE TRIGGER screening_counts_insert AFTER INSERT ON screenings
FOR EACH ROW EXECUTE FUNCTION screening_counts_follow()""",
    "DROP TRIGGER IF EXISTS screening_counts_delete ON screenings",
    """CREATE TRIGGER screening_counts_delete AFTER DELETE ON screenings
FOR EACH ROW EXECUTE FUNCTION screening_counts_follow()""",
    "DROP TRIGGER IF EXISTS screening_counts_update ON screenings",
    """CREATE TRIGGER screening_counts_update
AFTER UPDATE OF status, starts_at, cancel_cause ON screenings FOR EACH ROW
WHEN (OLD.status IS DISTINCT FROM NEW.status
  OR OLD.starts_at::date IS DISTINCT FROM NEW.starts_at::date
  OR OLD.cancel_cause IS DISTINCT FROM NEW.cancel_cause)
EXECUTE FUNCTION screening_counts_follow()""",
)


def create_count_triggers(connection: Connection) -> None:
    """Create (or replace) the triggers that keep screening_counts, on SQLite or PostgreSQL."""
    statements = _POSTGRESQL if connection.dialect.name == "postgresql" else _SQLITE
    for statement in statements:
        connection.execute(text(statement))


@event.listens_for(Model.metadata, "after_create")
def _after_create(
    metadata: MetaData, connection: Connection, tables: Sequence[Table] = (), **_kw: object
) -> None:
    """create_all (tests, the benchmark's schema) makes the triggers as the migration does."""
    if any(table.name == "screenings" for table in tables):
        create_count_triggers(connection)
