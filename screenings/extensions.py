"""Flask extensions, created unbound and initialised in the app factory."""

import sqlite3
from typing import TYPE_CHECKING

from flask import session
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

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
migrate = Migrate(render_as_batch=True, compare_type=True)
mail = Mail()
csrf = CSRFProtect()


class UserSessionLoginManager(LoginManager):
    """Flask-Login with its session protection applied to sessions that hold a user: on an
    anonymous visitor's session (a CSRF token, nothing else) the "strong" mode found no
    identifier, emptied it and cleared the remember cookie on every request, so each page
    answered two Set-Cookie headers. There is no login in such a session to protect."""

    def _session_protection_failed(self):
        if "_user_id" not in session:
            return False
        return super()._session_protection_failed()


login_manager = UserSessionLoginManager()
# Limits count per client address (behind a proxy, only with PROXY_FIX set: see config.py).
limiter = Limiter(key_func=client_address, default_limits=[])


@event.listens_for(Engine, "connect")
def _sqlite_write_ahead_log(dbapi_connection, _record) -> None:
    """SQLite in WAL mode: a long read (a feed build, an export) never blocks a booking's commit."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
