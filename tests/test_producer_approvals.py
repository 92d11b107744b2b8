"""The approval queue: one by one and in bulk, each decision e-mailed through real SMTP."""

from __future__ import annotations

from sqlalchemy import select

from screenings.models import Film, OutboxMessage, Rsvp, Screening
from screenings.services.rsvps import rsvp

from . import producer_helpers
from .conftest import hidden_fields, submit
from .factories import make_screening

producer = producer_helpers.producer  # the fixture, logged in on `client`


def _needs_approval(db) -> None:
    film = db.session.get(Film, 1)
    film.requires_approval = True
    db.session.commit()


def _pending(db, count: int, smtp) -> list[Screening]:
    _needs_approval(db)
    made = [
        make_screening(
            organization_name=f"Org {i}", contact_email=f"org{i}@example.org", contact_name=f"C{i}"
        )
        for i in range(count)
    ]
    # Made outside a request, their "booking received" e-mails stay queued, not sent.
    assert smtp.messages == []
    return made


def test_queue_shows_what_is_needed_to_decide(client, producer, db, smtp):
    _pending(db, 1, smtp)
    page = client.get("/producer/approvals").get_data(as_text=True)
    assert "Org 0" in page
    assert "org0@example.org" in page
    assert "Main Sanctuary Hall, 1700 Bathurst Street, Toronto Ontario M5P 3K3, Canada" in page
    assert "120 expected, 100 seats" in page
    assert "0 approved screenings before" in page
    assert 'name="screening_ids"' in page


def test_approve_one_sends_the_licence(client, producer, db, smtp):
    (screening,) = _pending(db, 1, smtp)
    response = submit(client, "/producer/screenings/1/approve", {}, form_url="/producer/approvals")
    assert response.status_code == 302
    db.session.refresh(screening)
    assert screening.status == "approved"
    (message,) = smtp.wait_for(1)
    assert message["To"].addresses[0].addr_spec == "org0@example.org"
    assert screening.current_licence.number in message["Subject"]


def test_reject_one_needs_a_reason_and_sends_it(client, producer, db, smtp):
    (screening,) = _pending(db, 1, smtp)
    refused = submit(
        client, "/producer/screenings/1/reject", {"reason": ""}, form_url="/producer/approvals"
    )
    assert refused.status_code == 422
    assert db.session.get(Screening, 1).status == "pending"
    submit(
        client,
        "/producer/screenings/1/reject",
        {"reason": "The venue is not suitable for this film."},
        form_url="/producer/approvals",
    )
    db.session.refresh(screening)
    assert screening.status == "rejected"
    (message,) = smtp.wait_for(1)
    assert "not approved" in message["Subject"]
    assert "The venue is not suitable" in message.get_body(("plain",)).get_content()


def test_bulk_approve_sends_each_organizer_a_licence(client, producer, db, smtp):
    screenings = _pending(db, 3, smtp)
    response = submit(
        client,
        "/producer/approvals",
        {"screening_ids": ["1", "3"], "action": "approve", "reason": ""},
        follow_redirects=True,
    )
    assert "2 bookings approved" in response.get_data(as_text=True)
    statuses = [db.session.get(Screening, s.id).status for s in screenings]
    assert statuses == ["approved", "pending", "approved"]
    messages = smtp.wait_for(2)
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == [
        "org0@example.org",
        "org2@example.org",
    ]
    assert all("licence" in m["Subject"].lower() for m in messages)


def test_bulk_reject_requires_a_reason_and_reports_stale_rows(client, producer, db, smtp):
    _pending(db, 2, smtp)
    refused = submit(
        client, "/producer/approvals", {"screening_ids": ["1", "2"], "action": "reject"}
    )
    assert refused.status_code == 422
    assert "Give the organizers a reason." in refused.get_data(as_text=True)
    assert smtp.messages == []

    # Booking 1 is approved meanwhile (another tab): the bulk rejection skips it, says so.
    submit(client, "/producer/screenings/1/approve", {}, form_url="/producer/approvals")
    smtp.wait_for(1)
    smtp.clear()
    response = submit(
        client,
        "/producer/approvals",
        {"screening_ids": ["1", "2"], "action": "reject", "reason": "Dates are full."},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "1 booking rejected" in page
    assert "Booking 1: This screening has changed meanwhile" in page
    assert db.session.get(Screening, 1).status == "approved"
    assert db.session.get(Screening, 2).status == "rejected"
    (message,) = smtp.wait_for(1)
    assert message["To"].addresses[0].addr_spec == "org1@example.org"
    assert "Dates are full." in message.get_body(("plain",)).get_content()


def test_screening_page_shows_particulars_licence_attendees_emails_history(
    client, producer, db, smtp
):
    screening = make_screening()
    rsvp(screening, name="Dana Levi", email="dana@example.org", party_size=2, consent=True)
    page = client.get(f"/producer/screenings/{screening.id}").get_data(as_text=True)
    assert "1700 Bathurst Street" in page
    assert "miriam@example.org" in page
    assert screening.current_licence.number in page
    assert "r1" in page
    assert "Dana Levi" in page
    assert "dana@example.org" in page
    kinds = db.session.scalars(
        select(OutboxMessage.kind).where(OutboxMessage.screening_id == screening.id)
    ).all()
    assert "licence_issued" in kinds
    for kind in kinds:
        assert kind in page  # e-mails sent
    assert "system:auto-approval" in page
    assert "booked" in page
    assert db.session.scalar(select(Rsvp.name)) == "Dana Levi"


def test_decision_forms_carry_csrf_tokens(client, producer, db, smtp):
    _pending(db, 1, smtp)
    page = client.get("/producer/approvals").get_data(as_text=True)
    assert "csrf_token" in hidden_fields(page)
    response = client.post("/producer/screenings/1/approve", data={})
    assert response.status_code == 400  # no token: refused
    assert db.session.get(Screening, 1).status == "pending"
