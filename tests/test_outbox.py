"""The outbox: nothing lost when SMTP is down, nothing sent twice when it is back."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select, update

from screenings import create_app, outbox
from screenings.models import OutboxMessage, Screening, utcnow
from screenings.outbox import backoff, deliver_pending

from .conftest import app_config, booking_data, free_port, hidden_fields, submit
from .factories import make_screening
from .producer_helpers import count_queries
from .rsvp_helpers import rsvp_data


@pytest.fixture
def smtp_down(app):
    """Point the mailer at a closed port; yields a function that brings SMTP back."""
    state = app.extensions["mail"]
    real_port = state.port
    state.port = free_port()

    def restore() -> None:
        state.port = real_port

    yield restore
    restore()


def _due_now(db) -> None:
    """Skip the backoff wait, as time passing would."""
    db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    db.session.commit()


def test_smtp_down_during_booking_loses_nothing(client, db, smtp, smtp_down, runner):
    response = submit(client, "/book", booking_data(), follow_redirects=True)
    assert response.status_code == 200
    assert "licence" in response.get_data(as_text=True)
    screening = db.session.scalar(select(Screening))
    assert screening.status == "approved"
    row = db.session.scalar(select(OutboxMessage))
    assert row.status == "failed"
    assert row.attempts == 1
    assert "Connection refused" in row.last_error or "Errno" in row.last_error
    assert smtp.messages == []

    smtp_down()  # SMTP is back
    _due_now(db)
    result = runner.invoke(args=["outbox", "deliver"])
    assert result.exit_code == 0
    assert "sent 1" in result.output
    assert len(smtp.wait_for(1)) == 1
    assert runner.invoke(args=["outbox", "deliver"]).output.strip() == "sent 0, failed 0"
    _due_now(db)
    assert runner.invoke(args=["outbox", "deliver"]).output.strip() == "sent 0, failed 0"
    assert len(smtp.messages) == 1
    db.session.expire_all()
    assert db.session.scalar(select(OutboxMessage.status)) == "sent"


def test_temporary_refusal_is_retried_with_backoff(app, client, db, smtp):
    smtp.refuse = True
    submit(client, "/book", booking_data())
    row = db.session.scalar(select(OutboxMessage))
    assert row.status == "failed"
    assert "451" in row.last_error
    assert row.next_attempt_at > utcnow() + timedelta(seconds=20)
    assert deliver_pending() == {"sent": 0, "failed": 0}  # not due yet
    smtp.refuse = False
    _due_now(db)
    assert deliver_pending() == {"sent": 1, "failed": 0}
    assert len(smtp.messages) == 1


def test_backoff_grows_and_is_capped():
    assert backoff(1) == timedelta(seconds=30)
    assert backoff(2) == timedelta(seconds=60)
    assert backoff(5) == timedelta(seconds=480)
    assert backoff(50) == timedelta(hours=6)


@pytest.mark.config(OUTBOX_MAX_ATTEMPTS=3)
def test_a_message_that_keeps_failing_becomes_dead(client, db, smtp):
    smtp.refuse = True
    submit(client, "/book", booking_data())
    for _ in range(2):
        _due_now(db)
        deliver_pending()
    db.session.expire_all()
    row = db.session.scalar(select(OutboxMessage))
    assert row.status == "dead"
    assert row.attempts == 3
    _due_now(db)
    assert deliver_pending() == {"sent": 0, "failed": 0}


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_crash_between_send_and_mark_sent_resends_once_with_same_message_id(client, db, smtp):
    """A worker died after SMTP accepted the message but before it was marked sent."""
    submit(client, "/book", booking_data())
    row = db.session.scalar(select(OutboxMessage))
    message_id = row.message_id
    # The dead worker's claim: 'sending', claimed long ago.
    row.status = "sending"
    row.claimed_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert deliver_pending() == {"sent": 1, "failed": 0}
    assert deliver_pending() == {"sent": 0, "failed": 0}
    assert [m["Message-ID"] for m in smtp.messages] == [message_id]


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_a_fresh_claim_is_not_stolen(client, db, smtp):
    """A message another worker is sending right now is left to that worker."""
    submit(client, "/book", booking_data())
    row = db.session.scalar(select(OutboxMessage))
    row.status = "sending"
    row.claimed_at = utcnow()
    db.session.commit()
    assert deliver_pending() == {"sent": 0, "failed": 0}
    assert smtp.messages == []


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_concurrent_workers_send_each_message_exactly_once(app, client, db, smtp):
    for number in range(12):
        submit(client, "/book", booking_data(organization_name=f"Org {number}"))
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 12
    db.session.remove()
    errors = []

    def worker() -> None:
        with app.app_context():
            try:
                deliver_pending()
            except Exception as error:  # surfaced below
                errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = [m["Message-ID"] for m in smtp.wait_for(12)]
    assert len(ids) == 12
    assert len(set(ids)) == 12
    assert (
        db.session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "sent")
        )
        == 12
    )


def test_header_injection_cannot_add_recipients(client, db, smtp):
    submit(client, "/book", booking_data(contact_name='Eve", attacker@example.net <a@b>'))
    message = smtp.wait_for(1)[0]
    assert [a.addr_spec for a in message["To"].addresses] == ["miriam@example.org"]
    assert smtp.envelopes[0].rcpt_tos == ["miriam@example.org"]
    assert message["Bcc"] is None


# ---------------------------------------------------------------- off the request path
class HungSMTP:
    """A server that accepts connections and says nothing until told to answer; then it
    relays each connection, held ones included, to the real loopback SMTP server."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.answering = threading.Event()
        self.accepted = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        self.answering.wait()
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        for source, target in ((connection, upstream), (upstream, connection)):
            threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_RDWR)
            source.close()

    def close(self) -> None:
        self.answering.set()
        self.listener.close()


@pytest.fixture
def hung_smtp(app, smtp_server):
    """Point the mailer at a server that accepts and never answers (until told to)."""
    server = HungSMTP(smtp_server.port)
    state = app.extensions["mail"]
    real_port, state.port = state.port, server.port
    yield server
    server.close()
    outbox.wait_idle(15)
    state.port = real_port


def _post_without_waiting(client, url: str, data: dict):
    """POST a form as a browser does, without waiting for the outbox (unlike submit())."""
    page = client.get(url)
    response = client.post(url, data={**hidden_fields(page.get_data(as_text=True)), **data})
    response.get_data()
    response.close()
    return response


@pytest.mark.config(MAIL_TIMEOUT=5)
def test_a_hung_smtp_server_does_not_slow_the_site(app, client, db, smtp, hung_smtp):
    screening = make_screening()
    before = set(db.session.scalars(select(OutboxMessage.id)))
    for number in range(3):
        started = time.monotonic()
        response = _post_without_waiting(
            client, f"/screenings/{screening.id}", rsvp_data(email=f"guest{number}@example.org")
        )
        assert response.status_code in (200, 302, 303)
        assert time.monotonic() - started < 2  # MAIL_TIMEOUT is 5: the request never waited
    deadline = time.monotonic() + 3
    while not hung_smtp.accepted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hung_smtp.accepted >= 1  # the background thread is stuck on the hung server
    timings = []
    for _ in range(20):
        started = time.monotonic()
        assert client.get("/healthz").status_code == 200
        timings.append(time.monotonic() - started)
    assert max(timings) < 0.1, timings
    assert smtp.messages == []

    hung_smtp.answering.set()  # the server answers at last: the same thread delivers
    assert outbox.wait_idle(15)
    db.session.expire_all()
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.not_in(before))).all()
    assert len(rows) >= 3
    assert {row.status for row in rows} == {"sent"}
    delivered = {str(m["To"].addresses[0].addr_spec) for m in smtp.wait_for(len(rows))}
    assert {f"guest{number}@example.org" for number in range(3)} <= delivered


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_without_background_delivery_only_the_worker_sends(client, db, smtp, runner):
    submit(client, "/book", booking_data())
    assert db.session.scalar(select(OutboxMessage.status)) == "pending"
    assert smtp.messages == []
    result = runner.invoke(args=["outbox", "run", "--iterations", "1"])
    assert result.exit_code == 0, result.output
    assert "sent 1" in result.output
    assert len(smtp.wait_for(1)) == 1


def test_the_background_thread_survives_an_error(app, client, db, smtp, monkeypatch):
    calls = []
    real = outbox.deliver_pending

    def fails_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise RuntimeError("a bug in delivery")
        return real(**kwargs)

    monkeypatch.setattr(outbox, "deliver_pending", fails_once)
    submit(client, "/book", booking_data())
    assert smtp.messages == []
    submit(client, "/book", booking_data(organization_name="Second Org"))
    assert len(calls) == 2
    assert len(smtp.wait_for(1)) == 1  # the second booking's e-mail, by the same thread


def test_one_thread_serves_every_app_and_restarts_after_a_fork(app, client, db, smtp):
    submit(client, "/book", booking_data())
    thread = outbox.background._thread
    assert thread is not None
    assert thread.is_alive()
    assert thread.daemon
    other = create_app(app_config(db.engine.url.render_as_string(False), 1))
    assert outbox.background._thread is thread  # a second app adds no thread
    assert other.config["OUTBOX_DELIVER_IN_BACKGROUND"]
    outbox.background._pid = -1  # as a forked child sees it: its parent's thread is gone
    submit(client, "/book", booking_data(organization_name="After the fork"))
    assert outbox.background._thread is not thread
    assert len(smtp.wait_for(2)) == 2


def test_the_commit_listener_is_registered_once_however_many_apps(app, client, db, monkeypatch):
    """Issue 17: each create_app used to add one more after_commit listener."""
    for _ in range(5):
        create_app(app_config(db.engine.url.render_as_string(False), 1))
    listeners = list(db.session().dispatch.after_commit)
    assert [fn.__module__ for fn in listeners].count("screenings.outbox") == 1, listeners
    handed = []
    monkeypatch.setattr(outbox.background, "submit", lambda app_, ids: handed.append(app_))
    _post_without_waiting(client, "/book", booking_data())
    assert handed == [app]  # once, to the app that served the request


def test_the_sender_is_parsed_once_per_configured_value_and_follows_a_change(app):
    """sender_address keeps each configured MAIL_DEFAULT_SENDER parsed (every page's footer
    names it): a new value is parsed anew, not answered with the old one."""
    with app.app_context():
        app.config["MAIL_DEFAULT_SENDER"] = "Screenings <first@example.org>"
        first = outbox.sender_address()
        assert outbox.sender_address() is first
        app.config["MAIL_DEFAULT_SENDER"] = "Other Name <second@example.org>"
        second = outbox.sender_address()
    assert (first.display_name, first.addr_spec) == ("Screenings", "first@example.org")
    assert (second.display_name, second.addr_spec) == ("Other Name", "second@example.org")


def _queue_plain(db, count: int) -> list[int]:
    """`count` ready messages, as a bulk announcement leaves them: bytes stored, nothing to
    compose or render at delivery."""
    rows = []
    for number in range(count):
        message = EmailMessage()
        message["From"] = "screenings@example.org"
        message["To"] = f"guest{number}@example.net"
        message["Subject"] = f"Announcement {number}"
        message["Message-ID"] = f"<announcement-{number}@example.org>"
        message.set_content(f"Announcement number {number}.")
        rows.append(
            OutboxMessage(
                message_id=message["Message-ID"],
                kind="announcement",
                recipient=f"guest{number}@example.net",
                subject=message["Subject"],
                raw=bytes(message),
            )
        )
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_a_batch_is_read_again_in_one_query_after_each_commit_not_a_row_at_a_time(db, smtp):
    """Each commit of "sent" marks expires the batch; reading each row again on first use
    was a SELECT per message (of its whole raw message) and 15 % of a delivery's time."""
    _queue_plain(db, 45)
    db.session.remove()
    with count_queries() as statements:
        assert deliver_pending() == {"sent": 45, "failed": 0}
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # The due ids, the claimed batch and its suppression list, then one read after each of
    # the four commits of ten: 7 (a read per row made 38).
    assert len(reads) <= 8, reads
    assert sorted(m["Subject"] for m in smtp.wait_for(45)) == sorted(
        f"Announcement {n}" for n in range(45)
    )


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_a_message_redacted_while_its_batch_is_sent_goes_out_redacted(app, db, smtp):
    """What each row says is read again after each commit: a message an erasure redacted
    after the batch was claimed goes out as it is now, not as it was at the claim."""
    ids = _queue_plain(db, 30)
    db.session.remove()
    handler = smtp
    receive = handler.handle_DATA
    redacted = bytes(_redacted_copy())

    async def redact_a_later_one(server, session, envelope):
        answer = await receive(server, session, envelope)
        if len(handler.messages) == 3:  # before the first commit of "sent" marks
            with app.app_context(), db.engine.begin() as connection:
                connection.execute(
                    update(OutboxMessage).where(OutboxMessage.id == ids[25]).values(raw=redacted)
                )
        return answer

    handler.handle_DATA = redact_a_later_one
    try:
        assert deliver_pending() == {"sent": 30, "failed": 0}
    finally:
        handler.handle_DATA = receive
    subjects = [m["Subject"] for m in smtp.wait_for(30)]
    assert "[redacted]" in subjects
    assert "Announcement 25" not in subjects


def _redacted_copy() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "screenings@example.org"
    message["To"] = "guest25@example.net"
    message["Subject"] = "[redacted]"
    message["Message-ID"] = "<announcement-25@example.org>"
    message.set_content("[redacted]")
    return message
