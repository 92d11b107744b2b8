"""Operations endpoints for load balancers and orchestrators: liveness and readiness."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
def healthz():
    """The process is up and serving requests."""
    return {"status": "ok"}, 200, {"Cache-Control": "no-store"}


def _migration_heads() -> set[str]:
    config = current_app.extensions["migrate"].migrate.get_config()
    return set(ScriptDirectory.from_config(config).get_heads())


@bp.route("/readyz")
def readyz():
    """Ready for traffic: the database answers and its schema is at the latest migration."""
    headers = {"Cache-Control": "no-store"}
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        return {"status": "unavailable", "database": type(error).__name__}, 503, headers
    expected = _migration_heads()
    if current != expected:
        return (
            {
                "status": "migrations pending",
                "database_revision": sorted(current),
                "code_revision": sorted(expected),
            },
            503,
            headers,
        )
    return {"status": "ready", "revision": sorted(current)}, 200, headers
