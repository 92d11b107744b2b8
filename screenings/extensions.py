"""Flask extensions, created unbound and initialised in the app factory."""

import sqlite3
from typing import TYPE_CHECKING, Any, cast

import click
from flask import Flask, current_app, session
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_mail import Mail
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Delete, MetaData, Update, event
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from werkzeug.local import LocalProxy

from .security import client_address

# Named constraints make Alembic migrations deterministic and SQLite batch mode work.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# The models' base class. db.Model is made at run time, so a type checker cannot see it
# (python/mypy#8603); to mypy it is the declarative Base it extends, which is what the typed
# Mapped[...] columns need.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model


class LazyMigrations:
    """Flask-Migrate, imported (with Alembic: about 12 MB in each process) only where
    migrations are run or read: `flask db ...`, the readiness check, the drift tests. A web
    worker, the delivery worker and the feed builder never load it.

    Until then ``app.extensions["migrate"]`` holds this object, which sets Flask-Migrate up
    on first use and hands on to what Flask-Migrate puts there."""

    def __init__(self, app: Flask, directory: str) -> None:
        self.app, self.directory = app, directory

    def __getattr__(self, name: str) -> Any:
        return getattr(load_migrations(self.app), name)


def load_migrations(app: Flask) -> Any:
    """Flask-Migrate's own config object for the app (set up now if it is not yet)."""
    found = app.extensions["migrate"]
    if isinstance(found, LazyMigrations):
        from flask_migrate import Migrate  # noqa: PLC0415 Alembic only where migrations run

        Migrate(render_as_batch=True, compare_type=True).init_app(
            app, db, directory=found.directory
        )
    return app.extensions["migrate"]


class MigrationCommands(click.Group):
    """`flask db ...`: Flask-Migrate's command group, imported when a migration command
    runs (``flask --help`` lists it without importing Alembic)."""

    def __init__(self) -> None:
        super().__init__("db", help="Perform database migrations.")

    @staticmethod
    def _real() -> click.Group:
        load_migrations(current_app)
        from flask_migrate.cli import db as real  # noqa: PLC0415 Alembic only where migrations run

        return real

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return self._real().get_params(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._real().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._real().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        self.callback = self._real().callback  # --directory, -x: kept on g for Flask-Migrate
        return super().invoke(ctx)


def init_migrations(app: Flask, directory: str) -> None:
    """Offer migrations (``app.extensions["migrate"]`` and `flask db`) without importing
    them."""
    app.extensions["migrate"] = LazyMigrations(app, directory)
    app.cli.add_command(MigrationCommands())


mail = Mail()
csrf = CSRFProtect()


class UserSessionLoginManager(LoginManager):
    """Flask-Login with its session protection applied to sessions that hold a user: on an
    anonymous visitor's session (a CSRF token, nothing else) the "strong" mode found no
    identifier, emptied it and cleared the remember cookie on every request, so each page
    answered two Set-Cookie headers. There is no login in such a session to protect."""

    def _session_protection_failed(self) -> bool:
        if "_user_id" not in session:
            return False
        return super()._session_protection_failed()


login_manager = UserSessionLoginManager()
# Limits count per client address (behind a proxy, only with PROXY_FIX set: see config.py).
limiter = Limiter(key_func=client_address, default_limits=[])


def app_object() -> Flask:
    """The application behind current_app, for what outlives the context (a thread, a
    server). Flask types current_app as a Flask though it is a werkzeug LocalProxy."""
    return cast("LocalProxy[Flask]", current_app)._get_current_object()


def rows_changed(statement: Update | Delete) -> int:
    """Run an UPDATE or DELETE in the session and say how many rows it matched: the check of
    every conditional UPDATE (``… WHERE seats_taken + n <= capacity``). SQLAlchemy types
    Session.execute() as a Result, which has no rowcount, though for DML without RETURNING it
    is a CursorResult (sqlalchemy/sqlalchemy#9185)."""
    return cast(CursorResult[Any], db.session.execute(statement)).rowcount


@event.listens_for(Engine, "connect")
def _sqlite_write_ahead_log(
    dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry
) -> None:
    """SQLite in WAL mode: a long read (a feed build, an export) never blocks a booking's commit."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
