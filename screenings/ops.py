"""Operations endpoints for load balancers and orchestrators: liveness and readiness."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from flask import Blueprint, current_app
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
def healthz() -> tuple[dict[str, str], int, dict[str, str]]:
    """The process is up and serving requests."""
    return {"status": "ok"}, 200, {"Cache-Control": "no-store"}


def _migration_heads() -> set[str]:
    return set(migration_heads(current_app.extensions["migrate"].directory))


@cache
def migration_heads(directory: str) -> frozenset[str]:
    """The revisions no migration revises: read from the scripts' ``revision`` and
    ``down_revision`` assignments, so a probe of /readyz never imports Alembic into a web
    worker (tests/test_migrations.py checks it against Alembic's own heads)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in sorted((Path(directory) / "versions").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = getattr(node.targets[0], "id", None)
                if target not in ("revision", "down_revision"):
                    continue
                value = ast.literal_eval(node.value)
                names = {value} if isinstance(value, str) else set(value or ())
                (revisions if target == "revision" else revised).update(names)
    return frozenset(revisions - revised)


def _database_heads(connection: Connection) -> set[str]:
    """The revisions the database is at (none if it was never migrated)."""
    if not inspect(connection).has_table("alembic_version"):
        return set()
    return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


@bp.route("/readyz")
def readyz() -> tuple[dict[str, object], int, dict[str, str]]:
    """Ready for traffic: the database answers and its schema is at the latest migration."""
    headers = {"Cache-Control": "no-store"}
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = _database_heads(connection)
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
