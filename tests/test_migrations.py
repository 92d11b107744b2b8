"""The models and the migrations agree: upgrading an empty database leaves nothing to add."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from screenings import create_app
from screenings.extensions import db
from screenings.models import OutboxMessage, Rsvp, Screening, ScreeningCount
from screenings.models.counts import TRIGGER_NAMES
from screenings.services.films import seed_catalogue

from .conftest import _postgres_database, app_config, dispose_app_engine
from .factories import make_screening
from .producer_helpers import bulk_screenings
from .rsvp_helpers import reply


def _pending_diff(uri: str) -> list:
    """What autogenerate would still add after every migration, and the CHECK constraints
    (which autogenerate does not compare) that differ between the models and the database."""
    app = create_app(app_config(uri, 25))
    with app.app_context():
        upgrade()
        engine = create_engine(uri)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
            diff += _check_constraint_diff(connection)
        engine.dispose()
        dispose_app_engine()
    return diff


def _check_constraint_diff(connection) -> list:
    inspector = inspect(connection)
    differ = []
    for table in db.metadata.sorted_tables:
        modelled = {
            constraint.name
            for constraint in table.constraints
            if constraint.__class__.__name__ == "CheckConstraint"
        }
        # Booleans' own CHECKs (unnamed, SQLite's) are not the models' to declare.
        migrated = {c["name"] for c in inspector.get_check_constraints(table.name) if c["name"]}
        if modelled != migrated:
            differ.append(("check constraints", table.name, modelled ^ migrated))
    return differ


def test_migrations_match_models_on_sqlite(tmp_path):
    uri = f"sqlite:///{tmp_path / 'migrated.db'}"
    assert _pending_diff(uri) == []
    _assert_partial_index_kept(uri)
    _assert_count_triggers_kept(uri)


def test_migrations_match_models_on_postgresql(postgres_uri):
    # A database of its own: another test may have left tables in the shared scratch one.
    for empty in _postgres_database(postgres_uri):
        assert _pending_diff(empty) == []
        _assert_partial_index_kept(empty)
        _assert_count_triggers_kept(empty)


def _catalogue(uri: str, sqlite: str, postgresql: str, **params) -> list:
    """The rows of a query of the database's own catalogue, in its dialect's words."""
    engine = create_engine(uri)
    try:
        with engine.connect() as connection:
            query = sqlite if engine.dialect.name == "sqlite" else postgresql
            return list(connection.execute(text(query), params).scalars())
    finally:
        engine.dispose()


def _assert_count_triggers_kept(uri: str) -> None:
    """The triggers that keep screening_counts (models/counts.py), which autogenerate does
    not see, are there after the last migration: a migration that rebuilds screenings
    (SQLite batch mode) drops them and must create them again."""
    names = _catalogue(
        uri,
        "SELECT name FROM sqlite_master WHERE type = 'trigger'",
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
    )
    assert set(TRIGGER_NAMES) <= set(names), names


def _assert_partial_index_kept(uri: str) -> None:
    """Adding a CHECK rebuilds a SQLite table: its partial unique index (one live reply per
    address) must come back partial, which autogenerate does not compare."""
    (definition,) = _catalogue(
        uri,
        "SELECT sql FROM sqlite_master WHERE name = :name",
        "SELECT indexdef FROM pg_indexes WHERE indexname = :name",
        name="uq_rsvps_screening_id_email_active",
    )
    assert "WHERE" in definition.upper()
    assert "cancelled" in definition


@pytest.mark.parametrize(
    ("model", "column"),
    [
        (Screening, "status"),
        (Screening, "organization_type"),
        (Rsvp, "status"),
        (OutboxMessage, "status"),
    ],
)
def test_a_state_no_enum_names_is_refused_by_the_database(db, model, column):
    screening = make_screening()
    reply(screening)
    assert db.session.scalar(select(OutboxMessage.id).limit(1))  # a row in each table
    with pytest.raises(IntegrityError):
        db.session.execute(update(model).values({column: "typo"}))
    db.session.rollback()


def test_the_readiness_check_finds_the_heads_alembic_finds(app):
    """/readyz reads the migrations' heads from their scripts, without Alembic (which a web
    worker does not import): the same heads Alembic's script directory gives."""
    from alembic.script import ScriptDirectory

    from screenings.ops import migration_heads

    directory = app.extensions["migrate"].directory
    config = app.extensions["migrate"].migrate.get_config()
    assert migration_heads(directory) == set(ScriptDirectory.from_config(config).get_heads())


def test_the_counts_migration_fills_them_from_the_screenings_there_are(tmp_path):
    """Migrating a database that already holds screenings counts them: the migration's
    INSERT … SELECT gives the rows the triggers would have kept."""
    uri = f"sqlite:///{tmp_path / 'filled.db'}"
    app = create_app(app_config(uri, 25))
    with app.app_context():
        upgrade()
        seed_catalogue()
        bulk_screenings(40)
        db.session.execute(update(Screening).where(Screening.id <= 7).values(status="pending"))
        db.session.commit()
        counted = select(ScreeningCount.__table__).where(ScreeningCount.n != 0)
        kept = sorted(db.session.execute(counted).all())  # a row moved from is left at 0
        downgrade(revision="-1")  # the counts and their triggers go
        upgrade()
        filled = sorted(db.session.execute(counted).all())
        db.session.remove()
        dispose_app_engine()
    assert filled == kept
    assert sum(row.n for row in filled) == 40
    assert {row.status for row in filled} == {"approved", "pending"}
