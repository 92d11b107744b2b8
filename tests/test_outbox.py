"""The outbox: nothing lost when SMTP is down, nothing sent twice when it is back."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from screenings.models import OutboxMessage, Screening, utcnow
from screenings.outbox import backoff, deliver_pending

from .conftest import booking_data, free_port, submit


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
