"""Fixtures: app, db, client, runner, smtp (a real aiosmtpd server on loopback), factories.

The database is SQLite by default. With TEST_DATABASE_URI=postgresql+psycopg://… the whole
suite runs on PostgreSQL, in a database of its own created for this run and dropped after.
"""

from __future__ import annotations

import email
import os
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
from email.policy import default as default_policy
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiosmtpd.controller import Controller
from flask import Flask, g
from jinja2 import BytecodeCache
from sqlalchemy import bindparam, create_engine, event, select, text
from sqlalchemy.engine import Engine
from werkzeug.routing import rules as _werkzeug_rules

from screenings import create_app, outbox
from screenings.caching import raise_counters
from screenings.extensions import db as _db
from screenings.models import ChangeCounter
from screenings.services.films import seed_catalogue

from .factories import STATED, future_date

# ---------------------------------------------------------------- app creation
# Every test makes its app (and some a second one); of create_app's 0.11 s here, 0.10 s went
# to Werkzeug compiling two URL builders (Python source, compiled) for each of its ~105 rules,
# the same ones each time. The builder is a function of the rule's text, its parsed parts and
# its defaults' names, bound to each rule afterwards (Rule.compile), so the test run compiles
# each once and reuses it: create_app 0.11 -> 0.01 s. A rule whose defaults fill one of its
# own parts (the builder holds the converted value) is compiled as before.
_compile_builder = _werkzeug_rules.Rule._compile_builder
_builders: dict[tuple, object] = {}


def _reused_builder(self, append_unknown: bool = True):
    defaults = self.defaults or {}
    if any(dynamic and part in defaults for dynamic, part in self._trace):
        return _compile_builder(self, append_unknown)
    key = (self.rule, tuple(self._trace), tuple(map(str, defaults)), append_unknown)
    if key not in _builders:
        _builders[key] = _compile_builder(self, append_unknown)
    return _builders[key]


_werkzeug_rules.Rule._compile_builder = _reused_builder  # type: ignore[method-assign]


# And each app's Jinja environment compiled every template it rendered anew (in
# tests/test_public.py a fifth of the run: 169 compilations for 43 tests). The apps share
# one in-memory bytecode cache: Jinja keys it by the template's name and file and checks the
# source's checksum at each load, so an edited template is compiled again. Every app comes
# from create_app with the same Jinja settings, which is what makes the code shareable.
class _SharedBytecode(BytecodeCache):
    def __init__(self) -> None:
        self.codes: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if (code := self.codes.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        self.codes[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CODE = _SharedBytecode()
_create_jinja_environment = Flask.create_jinja_environment


def _shared_template_code(self):
    environment = _create_jinja_environment(self)
    environment.bytecode_cache = _TEMPLATE_CODE
    return environment


Flask.create_jinja_environment = _shared_template_code  # type: ignore[method-assign]


# ---------------------------------------------------------------- databases
def _postgres_database(uri: str):
    """Create a fresh database beside the one named in uri; yields its uri."""
    name = f"screenings_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(uri, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(uri)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_uri(tmp_path_factory):
    configured = os.environ.get("TEST_DATABASE_URI", "")
    if configured.startswith("postgresql"):
        yield from _postgres_database(configured)
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "screenings.db")


@pytest.fixture(scope="session")
def postgres_uri():
    """A scratch PostgreSQL database, for tests that need PostgreSQL itself."""
    configured = os.environ.get("TEST_POSTGRES_URI", "")
    if not configured:
        pytest.skip("no PostgreSQL configured: set TEST_POSTGRES_URI (the CI run does)")
    yield from _postgres_database(configured)


# ---------------------------------------------------------------- slow tests
# Tests of several seconds each: `make test` runs them, `pytest -m "not slow"` leaves them out
# (README.md, "Tests"). Every browser test (the `browser` marker), and these modules and tests.
SLOW_MODULES = {
    "test_bench_smoke",  # the benchmark harness end to end: gunicorn, wrk, a demo database
    "test_calendar_judges",  # libical built with gcc, a Radicale server, khal
    "test_laptop",  # `flask laptop`'s five processes
    "test_mail_poll",  # a Dovecot server
    "test_static_analysis",  # bandit over the package
}
SLOW_TESTS = {
    # races: threads or processes against one database
    "test_guest_approval.py::test_a_hundred_requests_hold_no_seat_and_a_hundred_approvals_fill_it_exactly",
    "test_guest_approval.py::test_the_approval_race_catches_a_naive_check_then_approve",
    "test_rsvp.py::test_parallel_rsvps_never_exceed_capacity",
    "test_rsvp.py::test_the_race_test_catches_a_naive_check_then_insert",
    "test_rsvp.py::test_two_hundred_simultaneous_rsvps_for_fifty_seats",
    "test_outbox.py::test_concurrent_workers_send_each_message_exactly_once",
    "test_producer_cancel.py::test_a_seat_taken_while_the_cancellation_waits_hears_of_it",
    # volume: hundreds of bookings or e-mails with their PDFs
    "test_approvals_at_volume.py::test_two_hundred_approvals_in_one_request_and_each_mail_carries_its_pdf",
}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        name = f"{item.path.name}::{item.originalname}"
        if (
            item.get_closest_marker("browser")
            or item.path.stem in SLOW_MODULES
            or name in SLOW_TESTS
        ):
            item.add_marker(pytest.mark.slow)


# ---------------------------------------------------------------- smtp
class RecordingHandler:
    """An aiosmtpd handler that keeps every message it accepts, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []
        self.lock = threading.Lock()
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 Try again later"
        with self.lock:
            self.envelopes.append(envelope)
            self.messages.append(
                email.message_from_bytes(envelope.original_content, policy=default_policy)
            )
        return "250 OK"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.envelopes.clear()
        self.refuse = False

    def to(self, address: str) -> list:
        return [m for m in self.messages if address in str(m["To"])]

    def wait_for(self, count: int, timeout: float = 5.0) -> list:
        outbox.wait_idle(timeout)
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server():
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def smtp(smtp_server):
    """The loopback SMTP server's recorder, empty at the start of each test."""
    smtp_server.handler.clear()
    return smtp_server.handler


# ---------------------------------------------------------------- app
# Built feeds without Redis are files on the host (caching.BuiltFiles): apps made here share
# one folder of this run's, as workers on one host do; the `app` fixture's has its own.
_FEED_FILES = tempfile.TemporaryDirectory(prefix="screenings-feeds-")


def app_config(database_uri: str, smtp_port: int, **overrides) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "LINK_KEYS": ["test-link-key-" + "y" * 32],
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_port,
        "MAIL_DEFAULT_SENDER": "Screenings <screenings@example.org>",
        "MAIL_TIMEOUT": 3,
        "MAIL_SUPPRESS_SEND": False,
        "PUBLIC_BASE_URL": "http://screenings.test",
        "RATELIMIT_ENABLED": False,
        "FEED_FILES_DIR": _FEED_FILES.name,
        # `feeds build` run in the test process would lower its priority for good.
        "FEED_BUILDER_NICE": 0,
        **overrides,
    }


@pytest.fixture(scope="session")
def _schema(database_uri, smtp_server):
    app = create_app(app_config(database_uri, smtp_server.port))
    with app.app_context():
        _db.create_all()
    yield
    with app.app_context():
        _db.drop_all()
        _db.engine.dispose()


# ---------------------------------------------------------------- a fresh database per test
# Every test starts from the seeded catalogue and otherwise empty tables, ids from 1 again.
# Truncating every table and seeding again before each test cost most of a PostgreSQL run
# (TRUNCATE of 26 tables: about 0.8 s a test, server-side). Instead the catalogue is seeded
# once, and before each test only the tables something wrote to are emptied: the ones whose
# INSERT, UPDATE or DELETE any engine of this process sent (the app's, a second app's, the
# outbox thread's), and, as a net for writers outside it (a subprocess), any other table
# that holds rows or whose row count differs from the seeded one. A write to a catalogue
# table empties everything and seeds again. The services' own commits are kept as they are:
# an outer transaction per test (Warehouse's way) cannot hold them, since the outbox thread
# and second app instances read what a test committed over connections of their own.
# The cache counters (change_counters) are the exception: seeding raises them and so does
# nearly every test's first change, which made 40 of tests/test_public.py's 54 tests seed
# the catalogue again. Instead the counters the seed made are made again, each from a new
# random start as a seed makes them (caching.raise_counters: a number from before the reset
# is never met again), and the catalogue is left as it is.
RESTORED_TABLES = frozenset({ChangeCounter.__tablename__})
WRITE = re.compile(
    r"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)",
    re.IGNORECASE,
)


class TableReset:
    """Which tables were written since the last reset, and how to empty just those."""

    def __init__(self) -> None:
        self.written: set[str] = set()
        self.engines: set[Engine] = set()
        self.seeded_counts: dict[str, int] | None = None
        self.seeded_counters: list[str] = []
        self.sequences: dict[str, str] | None = None
        event.listen(Engine, "before_cursor_execute", self._note_write)
        event.listen(Engine, "engine_connect", self._note_engine)

    def _note_write(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.written.update(WRITE.findall(statement))

    def _note_engine(self, conn) -> None:
        self.engines.add(conn.engine)

    def dispose_engines(self) -> None:
        """Close the pooled connections of every engine used since the last call: the test's
        app's, and those of the apps a test builds beside it (another worker, a key rotation)
        and drops without disposing. Left to the garbage collector, such a pool's psycopg
        connections warned ("deleted while still open") inside whichever test ran next."""
        engines, self.engines = self.engines, set()
        for engine in engines:
            engine.dispose()

    def close(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._note_write)
        event.remove(Engine, "engine_connect", self._note_engine)
        self.dispose_engines()

    def _row_counts(self, connection, tables) -> dict[str, int]:
        counts = ", ".join(f'(SELECT count(*) FROM "{table.name}")' for table in tables)
        return dict(
            zip(
                [t.name for t in tables],
                connection.execute(text(f"SELECT {counts}")).one(),
                strict=True,
            )
        )

    def reset(self) -> None:
        tables = _db.metadata.sorted_tables
        with _db.engine.begin() as connection:
            counts = self._row_counts(connection, tables)
        seeded = self.seeded_counts or {}
        dirty = {name for name, count in counts.items() if count != seeded.get(name, 0)}
        dirty |= self.written & counts.keys()
        changed_seed = dirty & {name for name, count in seeded.items() if count}
        if self.seeded_counts is None or changed_seed - RESTORED_TABLES:
            dirty = {name for name, count in counts.items() if count}
            self._empty(dirty)
            seed_catalogue()
            _db.session.remove()
            with _db.engine.begin() as connection:
                self.seeded_counts = self._row_counts(connection, tables)
                self.seeded_counters = list(
                    connection.execute(select(ChangeCounter.name)).scalars()
                )
        elif dirty:
            self._empty(dirty - changed_seed)
            self._restore(changed_seed)
        self.written.clear()

    def _restore(self, names: set[str]) -> None:
        """Make the seeded cache counters again, from new random starts."""
        if not names:
            return
        with _db.engine.begin() as connection:
            connection.execute(ChangeCounter.__table__.delete())
            raise_counters(connection, self.seeded_counters)

    def _empty(self, names: set[str]) -> None:
        tables = [table for table in reversed(_db.metadata.sorted_tables) if table.name in names]
        if not tables:
            return
        with _db.engine.begin() as connection:
            for table in tables:
                connection.execute(table.delete())
            if connection.dialect.name == "postgresql":
                for table in tables:
                    if sequence := self._sequences(connection).get(table.name):
                        connection.execute(text("SELECT setval(:s, 1, false)"), {"s": sequence})
            elif connection.execute(
                text("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'")
            ).first():
                connection.execute(
                    text("DELETE FROM sqlite_sequence WHERE name IN :names").bindparams(
                        bindparam("names", expanding=True)
                    ),
                    {"names": [table.name for table in tables]},
                )

    def _sequences(self, connection) -> dict[str, str]:
        """PostgreSQL: each table's id sequence (serial or identity), looked up once."""
        if self.sequences is None:
            rows = connection.execute(
                text(
                    "SELECT table_name, pg_get_serial_sequence(quote_ident(table_name), "
                    "column_name) FROM information_schema.columns WHERE table_schema = "
                    "current_schema() AND (column_default LIKE 'nextval%' OR is_identity = 'YES')"
                )
            )
            self.sequences = dict(rows.all())
        return self.sequences


@pytest.fixture(scope="session")
def table_reset(_schema):
    reset = TableReset()
    yield reset
    reset.close()


@pytest.fixture
def app(database_uri, smtp_server, table_reset, request, tmp_path):
    overrides = {
        "JOBS_STATE_FILE": str(tmp_path / "jobs-state.json"),
        "FEED_FILES_DIR": str(tmp_path / "feeds"),
    }
    overrides.update(getattr(request, "param", None) or {})
    marker = request.node.get_closest_marker("config")
    if marker:
        overrides = {**overrides, **marker.kwargs}
    app = create_app(app_config(database_uri, smtp_server.port, **overrides))
    # Each app has its own in-process cache (no Redis under test unless a test sets one).

    @app.before_request
    def _fresh_form_token():
        # Under a server every request has its own g; here the test's app context outlives
        # requests (and clients), so drop what the last request left there (its signed CSRF
        # token, its logged-in user) as a server would.
        g.pop("csrf_token", None)
        g.pop("_login_user", None)

    with app.app_context():
        table_reset.reset()
        yield app
        outbox.wait_idle(15)  # nothing of this test's still being sent during the next
        _db.session.remove()
        table_reset.dispose_engines()  # this app's engine and any other app's of this test


def dispose_app_engine() -> None:
    """Close the pool of the app in context, its session's connection first. Disposed
    before the session gives its connection back, the pool that connection then goes back
    to is a discarded one, closed by no one: the garbage collector later finds it open
    (psycopg's 'deleted while still open', raised in whichever test runs then)."""
    _db.session.remove()
    _db.engine.dispose()


@pytest.fixture
def patched_python(monkeypatch):
    """Run as on a Python with the CVE-2024-6923 fix, which production insists on."""
    monkeypatch.setattr(sys, "version_info", (3, 12, 5, "final", 0))


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ---------------------------------------------------------------- forms
HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*>')
ATTR = re.compile(r'(name|value)="([^"]*)"')


@pytest.fixture
def walked_selects(monkeypatch) -> list[str]:
    """The names of the select fields whose choices were walked (SelectField.iter_choices),
    in order, while the test runs: a kept option list (forms.kept_choices) is not walked."""
    from wtforms import SelectField

    walked: list[str] = []
    walk = SelectField.iter_choices

    def counted(field):
        walked.append(field.name)
        return walk(field)

    monkeypatch.setattr(SelectField, "iter_choices", counted)
    return walked


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page (CSRF token, submission key), as a browser would send."""
    fields = {}
    for tag in HIDDEN.findall(html):
        attrs = dict(ATTR.findall(tag))
        if "name" in attrs:
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def submit(client, url: str, data: dict, *, form_url: str | None = None, **kwargs):
    """GET the form page, then POST data with its hidden fields (CSRF token included)."""
    page = client.get(form_url or url)
    assert page.status_code == 200, page.status_code
    payload = {**hidden_fields(page.get_data(as_text=True)), **data}
    response = client.post(url, data=payload, **kwargs)
    # Close the response as a WSGI server does, then wait until the outbox's background
    # thread has sent what the request committed (it does the sending, not this helper).
    response.get_data()
    response.close()
    assert outbox.wait_idle(15), "the outbox's background delivery did not finish"
    return response


def booking_data(**overrides) -> dict:
    """A complete, valid booking form submission."""
    # The organizer and the venue as the factories state them (factories.STATED), as typed.
    organizer = ("organization_name", "organization_type", "organization_website")
    contact = ("organization_country", "contact_name", "contact_email")
    venue = ("venue_name", "street_address", "city", "region", "postal_code", "country")
    data = {
        "film_id": "1",
        **{key: STATED[key] for key in organizer + contact},
        "contact_phone": "+1 416 555 0100",
        **{key: STATED[key] for key in venue},
        "timezone": STATED["timezone"],
        "start_date": future_date().isoformat(),
        "start_time": "19:00",
        "duration_minutes": "145",
        "expected_audience": "120",
        "capacity": "100",
        "listing": "public",
        "rsvps_enabled": "y",
        # Replies get their seats at once (tests/test_guest_approval.py tests the defaults).
        "approves_guests": "off",
        "address_check": "off",
        "notes": "",
        "accept_terms": "y",
        "free_admission": "y",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def book(client):
    """Submit the booking form; returns the response (follow_redirects=True)."""

    def _book(**overrides):
        return submit(client, "/book", booking_data(**overrides), follow_redirects=True)

    return _book
