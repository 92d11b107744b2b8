"""The producer acts on a screening: cancel, revoke the licence, edit particulars."""

from __future__ import annotations

from icalendar import Calendar
from sqlalchemy import select

from screenings.models import Licence, Screening, ScreeningChange

from . import producer_helpers
from .conftest import booking_data, submit
from .factories import make_screening
from .rsvp_helpers import calendar_part, reply

producer = producer_helpers.producer  # the fixture, logged in on `client`


def _guest_screening(db, smtp):
    screening = make_screening()
    reply(screening, email="guest@example.org", name="Gil Guest", party_size=2)
    db.session.commit()
    smtp.clear()
    return screening


def _cancel_event(message) -> str:
    part = calendar_part(message)
    assert part.get_param("method") == "CANCEL"
    calendar = Calendar.from_ical(part.get_payload(decode=True))
    assert calendar["METHOD"] == "CANCEL"
    (event,) = calendar.walk("VEVENT")
    return str(event["STATUS"])


def test_producer_cancels_with_a_reason_organizer_and_guests_get_a_cancel(
    client, producer, db, smtp
):
    screening = _guest_screening(db, smtp)
    url = f"/producer/screenings/{screening.id}/cancel"
    page = f"/producer/screenings/{screening.id}"
    refused = submit(client, url, {"reason": ""}, form_url=page)
    assert refused.status_code == 422
    assert "Give the organizer a reason." in refused.get_data(as_text=True)
    done = submit(client, url, {"reason": "The venue asked us to."}, form_url=page)
    assert done.status_code == 302
    db.session.refresh(screening)
    assert screening.status == "cancelled"
    messages = smtp.wait_for(2)
    organizer = smtp.to("miriam@example.org")[0]
    assert "cancelled by the producer" in organizer["Subject"].lower()
    assert "The venue asked us to." in organizer.get_body(("plain",)).get_content()
    assert _cancel_event(organizer) == "CANCELLED"
    guest = smtp.to("guest@example.org")[0]
    assert _cancel_event(guest) == "CANCELLED"
    assert len(messages) == 2
    change = db.session.scalars(select(ScreeningChange).order_by(ScreeningChange.id.desc())).first()
    assert (change.actor, change.action) == (
        "producer:producer@example.org",
        "cancelled by the producer",
    )
    history = client.get(page).get_data(as_text=True)
    assert "cancelled by the producer" in history
    assert "producer:producer@example.org" in history


def test_producer_revokes_the_licence_the_page_says_revoked(client, producer, db, smtp):
    screening = _guest_screening(db, smtp)
    number = screening.current_licence.number
    url = f"/producer/screenings/{screening.id}/revoke"
    page = f"/producer/screenings/{screening.id}"
    refused = submit(client, url, {"reason": "  "}, form_url=page)
    assert refused.status_code == 422
    assert "Give the organizer a reason." in refused.get_data(as_text=True)
    assert (
        submit(client, url, {"reason": "Terms broken: tickets sold."}, form_url=page).status_code
        == 302
    )
    db.session.expire_all()
    licence = db.session.scalar(select(Licence))
    assert licence.revoked_at is not None
    assert licence.revocation_reason == "Terms broken: tickets sold."
    verification = client.get(f"/licences/{number}").get_data(as_text=True)
    assert "Revoked" in verification
    assert "Terms broken" not in verification  # the reason is the organizer's, not the public's
    smtp.wait_for(2)
    organizer = smtp.to("miriam@example.org")[0]
    assert number in organizer["Subject"]
    assert "revoked" in organizer["Subject"].lower()
    assert "Terms broken: tickets sold." in organizer.get_body(("plain",)).get_content()
    assert _cancel_event(organizer) == "CANCELLED"
    assert _cancel_event(smtp.to("guest@example.org")[0]) == "CANCELLED"
    actions = [c.action for c in db.session.scalar(select(Screening)).changes]
    assert actions[-1] == "licence revoked"
    # Revoking twice is refused, not a 500, and changes nothing.
    sent = len(smtp.messages)
    again = submit(client, url, {"reason": "again"}, form_url=page)
    assert again.status_code in (302, 422)
    db.session.expire_all()
    assert db.session.scalar(select(Licence)).revocation_reason == "Terms broken: tickets sold."
    assert len(smtp.wait_for(sent + 1, timeout=1)) == sent


def test_producer_edits_particulars_a_revision_and_the_organizer_told(client, producer, db, smtp):
    screening = _guest_screening(db, smtp)
    url = f"/producer/screenings/{screening.id}/edit"
    refused = submit(client, url, booking_data(capacity="0"))
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert 'value="Main Sanctuary Hall"' in text  # entries kept
    assert "Enter a number from 1 to 100,000." in text
    done = submit(client, url, booking_data(venue_name="Social Hall"))
    assert done.status_code == 302
    db.session.refresh(screening)
    assert screening.venue_name == "Social Hall"
    assert [lic.revision for lic in screening.licences] == [1, 2]
    messages = smtp.wait_for(3)
    to_organizer = smtp.to("miriam@example.org")
    subjects = sorted(m["Subject"] for m in to_organizer)
    assert any("changed" in s for s in subjects), subjects
    assert any("Revised licence" in s for s in subjects), subjects
    changed = next(m for m in to_organizer if "changed" in m["Subject"])
    assert "Main Sanctuary Hall → Social Hall" in changed.get_body(("plain",)).get_content()
    assert any("guest@example.org" in str(m["To"]) for m in messages)  # updated invite
    change = screening.changes[-1]
    assert (change.actor, change.action) == (
        "producer:producer@example.org",
        "edited by the producer",
    )
