"""The producer hears: booking and change to review, organizer's cancellation, dead mail; digest."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update

from screenings.capabilities import manage_token
from screenings.models import Film, OutboxMessage, Producer, ProducerAlert
from screenings.outbox import deliver_pending
from screenings.services import alerts
from screenings.services.bookings import approve_booking
from screenings.services.producers import create_producer

from . import producer_helpers
from .conftest import booking_data, submit
from .factories import make_screening

producer = producer_helpers.producer  # the fixture, logged in on `client`
DIGEST_READER = "digest@example.org"
SILENT = "silent@example.org"


def _accounts(db):
    """Three more producers: one at once (the fixture's), one digest, one none."""
    for email, mode in ((DIGEST_READER, "digest"), (SILENT, "none")):
        account = create_producer(email, "another long pass phrase")
        account.alert_mode = mode
    db.session.commit()


def _needs_approval(db) -> None:
    db.session.get(Film, 1).requires_approval = True
    db.session.commit()


def test_a_booking_awaiting_approval_alerts_at_once_and_keeps_for_the_digest(
    client, producer, db, smtp
):
    _accounts(db)
    _needs_approval(db)
    submit(client, "/book", booking_data(), follow_redirects=True)
    smtp.wait_for(2)
    (alert,) = smtp.to(producer_helpers.PRODUCER_EMAIL)
    assert alert["Subject"] == "Booking awaiting approval: Beth Tzedec Congregation · " + (
        db.session.get(Film, 1).title
    )
    assert "/producer/approvals" in alert.get_body(("plain",)).get_content()
    assert smtp.to(DIGEST_READER) == []
    assert smtp.to(SILENT) == []
    kept = db.session.scalars(select(ProducerAlert)).all()
    assert [(a.kind, a.digested_at) for a in kept] == [("booking", None)]


def test_an_organizer_cancellation_alerts_with_reason_and_cause(client, producer, db, smtp):
    manage = submit(client, "/book", booking_data(), follow_redirects=True).request.path
    smtp.clear()
    page = client.get(manage).get_data(as_text=True)
    assert '<label for="cause">' in page
    assert "Security concerns or threats" in page
    submit(
        client,
        manage + "/cancel",
        {"confirm": "y", "cause": "security", "reason": "Threatening calls to the office."},
        form_url=manage,
    )
    smtp.wait_for(2)
    (alert,) = smtp.to(producer_helpers.PRODUCER_EMAIL)
    assert alert["Subject"].startswith("Cancelled by the organizer: Beth Tzedec")
    body = alert.get_body(("plain",)).get_content()
    assert "Cause: Security concerns or threats" in body
    assert "Threatening calls to the office." in body
    # The dashboard counts the causes.
    board = client.get("/producer/").get_data(as_text=True)
    assert "Why organizers cancelled" in board
    assert "<dt>Security concerns or threats</dt><dd>1</dd>" in board
    assert "<dt>Low interest</dt><dd>0</dd>" in board


def test_a_bad_cause_is_not_a_500(client, producer, db, smtp):
    manage = submit(client, "/book", booking_data(), follow_redirects=True).request.path
    response = submit(
        client, manage + "/cancel", {"confirm": "y", "cause": "<script>"}, form_url=manage
    )
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)


def test_a_change_awaiting_approval_alerts(client, producer, db, smtp):
    _needs_approval(db)
    screening = make_screening()
    approve_booking(screening, actor="producer:test")
    manage = f"/manage/{manage_token(screening)}"
    smtp.clear()
    submit(client, manage + "/edit", booking_data(city="Ottawa", timezone="America/Toronto"))
    smtp.wait_for(2)
    (alert,) = smtp.to(producer_helpers.PRODUCER_EMAIL)
    assert alert["Subject"].startswith("Change awaiting approval: Beth Tzedec")
    assert "City: Toronto → Ottawa" in alert.get_body(("plain",)).get_content()


def test_dead_mail_alerts_once_and_never_about_itself(app, producer, db, smtp):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 1
    make_screening()
    smtp.refuse = True
    deliver_pending()
    dead = db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "dead")).all()
    assert [m.kind for m in dead] == ["licence_issued"]
    queued = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "producer_alert")
    ).all()
    assert len(queued) == 1
    # The alert itself failing is not alerted again (no loop).
    db.session.execute(update(OutboxMessage).values(next_attempt_at=func.now()))
    db.session.commit()
    deliver_pending()
    assert (
        db.session.scalar(select(func.count()).where(OutboxMessage.kind == "producer_alert")) == 1
    )
    smtp.refuse = False
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.kind == "producer_alert")
        .values(status="pending", attempts=0)
    )
    db.session.commit()
    deliver_pending()
    (alert,) = smtp.to(producer_helpers.PRODUCER_EMAIL)
    assert alert["Subject"].startswith("An e-mail could not be delivered")
    assert "451" in alert.get_body(("plain",)).get_content()


def test_the_digest_sends_each_alert_once(app, client, producer, db, smtp, runner):
    _accounts(db)
    _needs_approval(db)
    for index in range(2):
        submit(
            client,
            "/book",
            booking_data(organization_name=f"Org {index}", contact_email=f"o{index}@example.org"),
        )
    smtp.clear()
    result = runner.invoke(args=["alerts", "digest"])
    assert result.exit_code == 0, result.output
    assert "1 digest(s) queued" in result.output
    (digest,) = smtp.to(DIGEST_READER)
    assert digest["Subject"] == "Screenings: 2 events since the last digest"
    body = digest.get_body(("plain",)).get_content()
    assert "Org 0" in body
    assert "Org 1" in body
    assert smtp.to(SILENT) == []
    # Idempotent: nothing new, nothing sent.
    again = runner.invoke(args=["alerts", "digest"])
    assert "0 digest(s) queued" in again.output
    assert len(smtp.to(DIGEST_READER)) == 1
    assert db.session.scalar(select(func.count()).where(ProducerAlert.digested_at.is_(None))) == 0


def test_each_producer_chooses_in_settings(client, producer, db):
    page = client.get("/producer/settings").get_data(as_text=True)
    assert "A daily digest" in page
    (chosen,) = re.findall(r"<input[^>]*\bchecked\b[^>]*>", page)  # the stored choice only
    assert 'value="immediate"' in chosen
    response = submit(client, "/producer/settings", {"timezone": "UTC", "alert_mode": "digest"})
    assert response.status_code == 302
    assert db.session.scalar(select(Producer.alert_mode)) == "digest"
    bad = submit(client, "/producer/settings", {"timezone": "UTC", "alert_mode": "loud"})
    assert bad.status_code == 422
    assert db.session.scalar(select(Producer.alert_mode)) == "digest"
    assert alerts.cause_label("nonsense") == "Not given"
