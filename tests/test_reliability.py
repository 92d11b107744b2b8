"""Faults and concurrency: duplicate submissions, unique licences, the database going away."""

from __future__ import annotations

import contextlib
import select as select_module
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from screenings import create_app
from screenings.extensions import db as _db
from screenings.models import Licence, Screening
from screenings.services.films import seed_catalogue

from .conftest import app_config, booking_data, dispose_app_engine, hidden_fields


def _post_in_threads(app, payloads: list[dict]) -> list:
    """POST /book with each payload from its own thread and client, all released at once."""
    barrier = threading.Barrier(len(payloads))

    def post(payload):
        client = app.test_client()
        barrier.wait()
        response = client.post("/book", data=payload)
        response.close()
        return response

    with ThreadPoolExecutor(len(payloads)) as pool:
        return list(pool.map(post, payloads))


@pytest.mark.config(WTF_CSRF_ENABLED=False)
def test_the_same_booking_submitted_twice_at_once_is_one_booking(app, client, db, smtp):
    form = hidden_fields(client.get("/book").get_data(as_text=True))
    payload = {**booking_data(), "submission_key": form["submission_key"]}
    responses = _post_in_threads(app, [payload, payload, payload])
    assert [r.status_code for r in responses] == [302, 302, 302]
    assert len({r.headers["Location"] for r in responses}) == 1
    db.session.remove()
    assert db.session.scalar(select(func.count(Screening.id))) == 1
    assert db.session.scalar(select(func.count(Licence.id))) == 1


@pytest.mark.config(WTF_CSRF_ENABLED=False, OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_licence_numbers_are_unique_under_concurrency(app, db):
    payloads = [
        {**booking_data(organization_name=f"Org {n}"), "submission_key": f"key-{n:04d}-abcdef"}
        for n in range(8)
    ]
    responses = _post_in_threads(app, payloads)
    assert [r.status_code for r in responses] == [302] * 8
    db.session.remove()
    numbers = db.session.scalars(select(Licence.number)).all()
    assert len(numbers) == 8
    assert len(set(numbers)) == 8


def test_readyz_reports_ready_on_a_migrated_database(tmp_path, smtp_server):
    app = create_app(app_config(f"sqlite:///{tmp_path / 'ready.db'}", smtp_server.port))
    client = app.test_client()
    with app.app_context():
        assert client.get("/readyz").status_code == 503  # nothing migrated yet
        upgrade()
        response = client.get("/readyz")
        dispose_app_engine()
    assert response.status_code == 200
    assert response.json["status"] == "ready"
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_says_when_migrations_are_pending(app, client):
    response = client.get("/readyz")  # the test schema is made by create_all, not migrations
    assert response.status_code == 503
    assert response.json["status"] == "migrations pending"


class FlakyProxy:
    """A TCP proxy to the database that can drop every connection and refuse new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select_module.select([a, b], [], [], 1.0)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)
        except (OSError, ValueError):  # the socket was closed by go_down()
            return
        finally:
            a.close()
            b.close()

    def go_down(self) -> None:
        """Like a database restart: every connection is cut and new ones are refused."""
        self.up = False
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def come_up(self) -> None:
        self.up = True

    def close(self) -> None:
        self.listener.close()
        self.go_down()


def test_database_restart_gives_503_then_recovers_without_restart(postgres_uri, smtp_server):
    parts = urlsplit(postgres_uri)
    proxy = FlakyProxy(parts.hostname, parts.port or 5432)
    through_proxy = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    app = create_app(app_config(through_proxy, smtp_server.port))
    client = app.test_client()
    try:
        with app.app_context():
            _db.create_all()
            seed_catalogue()
            _db.session.remove()
        assert client.get("/").status_code == 200

        proxy.go_down()
        down = client.get("/")
        assert down.status_code == 503
        assert down.headers["Retry-After"] == "5"
        body = down.get_data(as_text=True)
        assert "Temporarily unavailable" in body
        assert "Traceback" not in body
        assert "OperationalError" not in body

        proxy.come_up()
        assert client.get("/").status_code == 200
        assert "The Killing Roads" in client.get("/").get_data(as_text=True)
    finally:
        with app.app_context():
            dispose_app_engine()
        proxy.close()


def test_ids_beyond_the_integer_column_are_404_not_500(client):
    assert client.get(f"/screenings/{2**31}").status_code == 404
    assert client.get(f"/screenings/{10**12}.ics").status_code == 404
    assert client.get(f"/screenings/{2**31 - 1}").status_code == 404  # in range, not found


def test_a_long_read_on_sqlite_does_not_block_a_commit(app, db):
    """WAL mode: a feed build or an export reading for seconds never makes a booking fail."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's journal mode only")
    from sqlalchemy import create_engine, text

    writer = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], connect_args={"timeout": 1})
    with db.engine.connect() as reader:
        reader.execute(text("BEGIN"))
        reader.execute(select(func.count()).select_from(Screening)).scalar()  # holds a read
        with writer.begin() as connection:
            connection.execute(
                text("UPDATE films SET genre = 'documentary film' WHERE id = 1")
            )  # commits while the read is open: "database is locked" without WAL
        reader.execute(text("ROLLBACK"))
    writer.dispose()
    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
