"""The approval queue at volume: a paged compact table, select-all, past dates refused in
words, and two hundred approvals in one request, their licences mailed by the outbox."""

from __future__ import annotations

import io
import re
import time
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from screenings.extensions import db as _db
from screenings.models import Film, OutboxMessage, Screening, SuppressedAddress, utcnow
from screenings.outbox import deliver_pending
from screenings.services import licences
from screenings.services.bookings import expire_past_bookings

from . import producer_helpers
from .conftest import future_date, hidden_fields, submit
from .factories import make_screening

producer = producer_helpers.producer  # the fixture, logged in on `client`
make_past = producer_helpers.make_past


def _pending(db, count: int) -> list[Screening]:
    """Bookings waiting for approval, on different days and venues (no clashes between them)."""
    film = db.session.get(Film, 1)
    film.requires_approval = True
    db.session.commit()
    made = [
        make_screening(
            organization_name=f"Org {i:03d}",
            contact_email=f"org{i}@example.org",
            contact_name=f"C{i}",
            venue_name=f"Hall {i}",
            start_date=future_date(10 + i % 90),
        )
        for i in range(count)
    ]
    # Their "booking received" mails are not what these tests look at: mark them gone.
    _db.session.execute(update(OutboxMessage).values(status="sent", sent_at=utcnow()))
    _db.session.commit()
    return made


def _pdf_of(message) -> tuple[str, bytes]:
    (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    return part.get_filename(), part.get_content()


def _pdf_text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_two_hundred_approvals_in_one_request_and_each_mail_carries_its_pdf(
    client, producer, db, smtp, capsys
):
    made = _pending(db, 200)
    page = client.get("/producer/approvals")
    fields = hidden_fields(page.get_data(as_text=True))
    started, cpu = time.perf_counter(), time.thread_time()
    response = client.post(
        "/producer/approvals",
        data={**fields, "screening_ids": [str(s.id) for s in made], "action": "approve"},
    )
    wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
    with capsys.disabled():
        print(f"\nbulk approval of 200: {wall:.2f} s wall, {cpu:.2f} s CPU")
    assert response.status_code == 302
    # The request's own CPU (measured 3.1-4.3 s on a loaded 2-core box) and the wall clock,
    # which counts a machine shared with other work: generous bounds, the number is printed.
    assert cpu < 8
    assert wall < 60
    statuses = db.session.scalars(select(Screening.status)).all()
    assert statuses == ["approved"] * 200
    # Nothing was composed or rendered in the request: 200 references wait for the worker.
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "licence_issued"))
    refs = sorted((r.compose_ref for r in rows), key=lambda ref: int(ref.rsplit(":", 1)[1]))
    assert refs == [f"licence-issued:{i}" for i in range(1, 201)]  # any order (PostgreSQL's)
    assert smtp.messages == []

    # The worker composes and renders at delivery: real SMTP, the PDF the download gives.
    assert deliver_pending(limit=3) == {"sent": 3, "failed": 0}
    for message in smtp.wait_for(3):
        screening = db.session.scalar(
            select(Screening).where(Screening.contact_email == message["To"].addresses[0].addr_spec)
        )
        licence = screening.current_licence
        assert licence.number in message["Subject"]
        name, pdf = _pdf_of(message)
        assert name == f"licence-{licence.number}-r1.pdf"
        assert licence.number in _pdf_text(pdf)
        assert pdf == licences.licence_pdf(licence)  # identical to what the download renders
    stored = db.session.scalar(select(OutboxMessage).where(OutboxMessage.status == "sent"))
    assert stored.compose_ref is None
    assert b"%PDF" not in stored.raw


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_a_pdf_that_fails_to_render_is_retried_not_lost(client, producer, db, smtp, monkeypatch):
    (screening,) = _pending(db, 1)
    submit(
        client, f"/producer/screenings/{screening.id}/approve", {}, form_url="/producer/approvals"
    )

    def broken(*_args, **_kwargs):
        raise RuntimeError("fonts missing")

    monkeypatch.setattr("screenings.licence_pdf.render_licence_pdf", broken)
    assert deliver_pending() == {"sent": 0, "failed": 1}
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "licence_issued"))
    assert row.status == "failed"
    assert "fonts missing" in row.last_error
    assert smtp.messages == []

    monkeypatch.undo()
    _db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    _db.session.commit()
    assert deliver_pending() == {"sent": 1, "failed": 0}
    (message,) = smtp.wait_for(1)
    assert message["Message-ID"] == row.message_id  # the same message, retried
    assert screening.current_licence.number in _pdf_text(_pdf_of(message)[1])


def test_the_queue_is_a_paged_table_with_select_all(client, producer, db, smtp):
    _pending(db, 60)
    first = client.get("/producer/approvals").get_data(as_text=True)
    assert first.count('name="screening_ids"') == 50
    assert 'data-select-all="screening_ids"' in first
    assert "Select all on this page" in first
    assert 'name="every_pending"' in first
    assert "60 bookings are waiting in all." in first
    assert "Page 1 of 2" in first
    assert re.search(r'href="/producer/approvals\?page=2" rel="next"', first)
    assert "Org 000" in first
    assert "Org 055" not in first
    second = client.get("/producer/approvals?page=2").get_data(as_text=True)
    assert second.count('name="screening_ids"') == 10
    assert 'rel="prev"' in second
    assert "Org 055" in second


def test_every_waiting_booking_on_all_pages_can_be_decided_at_once(client, producer, db, smtp):
    _pending(db, 55)
    response = submit(
        client,
        "/producer/approvals",
        {"every_pending": "y", "action": "reject", "reason": "The programme is full."},
        follow_redirects=True,
    )
    assert "55 bookings rejected" in response.get_data(as_text=True)
    assert set(db.session.scalars(select(Screening.status))) == {"rejected"}


def test_a_past_booking_is_flagged_refused_in_its_row_and_expires(client, producer, db, smtp):
    soon, past = _pending(db, 2)
    make_past(past, days_ago=1)
    page = client.get("/producer/approvals").get_data(as_text=True)
    # Upcoming first, the passed date last and flagged, with no Approve button for it.
    assert page.index("Org 000") < page.index("Org 001")
    row = page[page.index('id="booking-2"') :]
    assert "Date passed: cannot be approved" in row
    assert f'action="/producer/screenings/{past.id}/approve"' not in page

    refused = submit(
        client,
        "/producer/approvals",
        {"screening_ids": [str(soon.id), str(past.id)], "action": "approve"},
    )
    assert refused.status_code == 200
    text = refused.get_data(as_text=True)
    assert "1 booking approved" in text
    row = text[text.index('id="booking-2"') :]
    assert "has passed, so it can no longer be approved" in row[: row.index("</tr>")]
    assert db.session.get(Screening, past.id).status == "pending"

    # A stale tab's own Approve button: refused on the queue, the reason beside the booking.
    alone = submit(
        client, f"/producer/screenings/{past.id}/approve", {}, form_url="/producer/approvals"
    )
    assert alone.status_code == 422
    assert "Waiting for approval" in alone.get_data(as_text=True)
    assert 'id="error-2"' in alone.get_data(as_text=True)

    # Its own page says so too, and offers no Approve button.
    detail = client.get(f"/producer/screenings/{past.id}").get_data(as_text=True)
    assert "so it can no longer be approved" in detail
    assert f'action="/producer/screenings/{past.id}/approve"' not in detail
    assert f'action="/producer/screenings/{past.id}/reject"' in detail

    smtp.clear()
    assert expire_past_bookings() == 1
    assert expire_past_bookings() == 0  # twice: nothing twice
    db.session.refresh(past)
    assert past.status == "rejected"
    assert "passed before the producer could decide" in past.rejection_reason
    assert past.changes[-1].actor == "system:expired"
    deliver_pending()
    (mail,) = smtp.to("org1@example.org")
    assert "passed before the producer could decide" in mail.get_body(("plain",)).get_content()


def test_rejecting_without_a_reason_is_answered_on_the_queue(client, producer, db, smtp):
    _pending(db, 2)
    refused = submit(
        client, "/producer/screenings/2/reject", {"reason": ""}, form_url="/producer/approvals"
    )
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Waiting for approval" in page  # the queue, not another page
    assert 'id="reason-2-error"' in page
    assert 'id="reason-1-error"' not in page
    assert db.session.get(Screening, 2).status == "pending"


def test_the_expiry_job_is_scheduled():
    from screenings.jobs import JOBS

    (job,) = [j for j in JOBS if j.name == "expire bookings"]
    assert job.every <= timedelta(hours=1)


def test_a_bulk_approvals_mail_is_composed_by_the_worker_not_the_web_process(
    client, producer, db, smtp
):
    made = _pending(db, 21)  # one more than OUTBOX_BACKGROUND_MAX
    submit(
        client,
        "/producer/approvals",
        {"screening_ids": [str(s.id) for s in made], "action": "approve"},
    )
    assert smtp.messages == []  # the web process's thread was not handed them
    waiting = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "licence_issued")
    ).all()
    assert len(waiting) == 21
    assert {row.status for row in waiting} == {"pending"}
    assert deliver_pending(limit=2) == {"sent": 2, "failed": 0}  # the worker's run
    assert len(smtp.wait_for(2)) == 2


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_a_licence_mail_composed_for_a_changed_address_checks_the_new_one_for_bounces(
    client, producer, db, smtp
):
    """The worker composes a licence mail from the booking as it is at delivery: when the
    contact address changed after it was queued, the new address is checked too."""
    (screening,) = _pending(db, 1)
    response = client.post(
        "/producer/approvals",
        data={
            **hidden_fields(client.get("/producer/approvals").get_data(as_text=True)),
            "screening_ids": [str(screening.id)],
            "action": "approve",
        },
    )
    assert response.status_code == 302
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "licence_issued"))
    assert row.compose_ref
    assert row.recipient == "org0@example.org"
    db.session.get(Screening, screening.id).contact_email = "Bounced@Example.org"
    db.session.add(SuppressedAddress(email_normalized="bounced@example.org", status="5.1.1"))
    db.session.commit()

    assert deliver_pending() == {"sent": 0, "failed": 0, "suppressed": 1}
    assert smtp.messages == []
    db.session.refresh(row)
    assert (row.status, row.recipient) == ("suppressed", "Bounced@Example.org")
