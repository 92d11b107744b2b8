"""The models and the migrations agree: upgrading an empty database leaves nothing to add."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine

from screenings import create_app
from screenings.extensions import db

from .conftest import _postgres_database, app_config


def _pending_diff(uri: str) -> list:
    app = create_app(app_config(uri, 25))
    with app.app_context():
        upgrade()
        engine = create_engine(uri)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        engine.dispose()
        db.engine.dispose()
    return diff


def test_migrations_match_models_on_sqlite(tmp_path):
    assert _pending_diff(f"sqlite:///{tmp_path / 'migrated.db'}") == []


def test_migrations_match_models_on_postgresql(postgres_uri):
    # A database of its own: another test may have left tables in the shared scratch one.
    for empty in _postgres_database(postgres_uri):
        assert _pending_diff(empty) == []
