"""Approval integrity: a material change after approval waits for the producer; terms kept."""

from __future__ import annotations

from sqlalchemy import select

from screenings.capabilities import manage_token
from screenings.models import ChangeRequest, Film, Screening
from screenings.services.bookings import approve_booking
from screenings.services.films import set_terms

from . import producer_helpers
from .conftest import booking_data, future_date, submit
from .factories import make_screening

producer = producer_helpers.producer  # the fixture, logged in on `client`


def _approved_on_an_approval_film(db):
    db.session.get(Film, 1).requires_approval = True
    db.session.commit()
    screening = make_screening()
    approve_booking(screening, actor="producer:test")
    return screening, f"/manage/{manage_token(screening)}"


def test_a_new_city_waits_on_the_old_licence_until_approved(client, producer, db, smtp):
    screening, manage = _approved_on_an_approval_film(db)
    number = screening.current_licence.number
    smtp.clear()
    response = submit(
        client, manage + "/edit", booking_data(city="Ottawa", expected_audience="5000")
    )
    assert response.status_code == 302
    db.session.expire_all()
    screening = db.session.get(Screening, screening.id)
    # Nothing changed yet: the screening, its public page and its licence say Toronto.
    assert screening.city == "Toronto"
    assert screening.expected_audience == 120
    assert len(screening.licences) == 1
    verification = client.get(f"/licences/{number}").get_data(as_text=True)
    assert "Valid" in verification
    assert "Toronto" in verification
    public = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert "Ottawa" not in public
    (held,) = db.session.scalars(select(ChangeRequest)).all()
    assert held.changes == {"city": ["Toronto", "Ottawa"], "expected_audience": [120, 5000]}
    # Both sides are told.
    smtp.wait_for(2)
    (organizer,) = smtp.to("miriam@example.org")
    assert "waits for approval" in organizer["Subject"]
    assert "stays valid" in organizer.get_body(("plain",)).get_content()
    assert "waits for the producer's approval" in client.get(manage).get_data(as_text=True).replace(
        "&#39;", "'"
    )
    assert smtp.to(producer_helpers.PRODUCER_EMAIL)
    # The producer sees it in the queue and approves it there.
    queue = client.get("/producer/approvals").get_data(as_text=True)
    assert "Changes waiting for approval" in queue
    assert "Toronto → <strong>Ottawa</strong>" in queue
    smtp.clear()
    decided = submit(
        client,
        f"/producer/changes/{held.id}",
        {"decision": "approve"},
        form_url="/producer/approvals",
    )
    assert decided.status_code == 302
    db.session.expire_all()
    screening = db.session.get(Screening, screening.id)
    assert screening.city == "Ottawa"
    assert screening.expected_audience == 5000
    assert [lic.revision for lic in screening.licences] == [1, 2]
    assert screening.licences[1].particulars["city"] == "Ottawa"
    assert db.session.get(ChangeRequest, held.id).status == "approved"
    smtp.wait_for(1)
    assert any("Revised licence" in m["Subject"] for m in smtp.to("miriam@example.org"))


def test_the_producer_rejects_a_change_with_a_reason(client, producer, db, smtp):
    screening, manage = _approved_on_an_approval_film(db)
    submit(client, manage + "/edit", booking_data(venue_name="Stadium", capacity="4000"))
    held = db.session.scalar(select(ChangeRequest))
    page = f"/producer/screenings/{screening.id}"
    assert "Change waiting for your approval" in client.get(page).get_data(as_text=True)
    refused = submit(
        client,
        f"/producer/changes/{held.id}",
        {"decision": "reject", "back": "screening"},
        form_url=page,
    )
    assert refused.status_code == 422
    assert "Give the organizer a reason." in refused.get_data(as_text=True)
    smtp.clear()
    done = submit(
        client,
        f"/producer/changes/{held.id}",
        {"decision": "reject", "reason": "Too large for this film.", "back": "screening"},
        form_url=page,
    )
    assert done.status_code == 302
    db.session.expire_all()
    screening = db.session.get(Screening, screening.id)
    assert (screening.venue_name, screening.capacity) == ("Main Sanctuary Hall", 100)
    assert len(screening.licences) == 1
    (message,) = smtp.wait_for(1)
    assert "not approved" in message["Subject"].lower()
    assert "Too large for this film." in message.get_body(("plain",)).get_content()
    again = submit(client, f"/producer/changes/{held.id}", {"decision": "approve"}, form_url=page)
    assert again.status_code == 422  # already decided: said so, not a 500


def test_small_changes_apply_at_once_on_an_approval_film(client, db, smtp):
    screening, manage = _approved_on_an_approval_film(db)
    # Capacity lowered, phone changed, start moved by an hour: no review.
    submit(
        client,
        manage + "/edit",
        booking_data(capacity="80", contact_phone="+1 416 555 0199", start_time="20:00"),
    )
    db.session.expire_all()
    screening = db.session.get(Screening, screening.id)
    assert (screening.capacity, screening.local_start.hour) == (80, 20)
    assert db.session.scalar(select(ChangeRequest)) is None
    # Moved by a week: review.
    submit(
        client,
        manage + "/edit",
        booking_data(
            start_date=future_date(37).isoformat(),
            start_time="20:00",
            capacity="80",
            contact_phone="+1 416 555 0199",
        ),
    )
    assert db.session.scalar(select(ChangeRequest)).changes.keys() == {"local_start"}


def test_an_auto_approving_film_applies_and_records_the_change(client, db, smtp):
    screening = make_screening()
    manage = f"/manage/{manage_token(screening)}"
    submit(client, manage + "/edit", booking_data(city="Ottawa"))
    db.session.expire_all()
    screening = db.session.get(Screening, screening.id)
    assert screening.city == "Ottawa"
    assert screening.changes[-1].details["changes"]["city"] == ["Toronto", "Ottawa"]
    assert db.session.scalar(select(ChangeRequest)) is None


def test_a_revision_keeps_the_accepted_terms_until_new_ones_are_accepted(client, db, smtp):
    screening = make_screening()
    film = screening.film
    accepted = screening.current_licence.terms
    set_terms(film, "New terms: a credit line on every poster.")
    db.session.commit()
    assert film.current_terms.version == accepted.version + 1
    manage = f"/manage/{manage_token(screening)}"
    form = client.get(manage + "/edit").get_data(as_text=True)
    assert "New terms: a credit line on every poster." in form
    assert 'for="accept_new_terms"' in form
    refused = submit(client, manage + "/edit", booking_data(venue_name="Social Hall"))
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "accept them to save your changes" in text
    assert 'value="Social Hall"' in text
    db.session.expire_all()
    assert db.session.get(Screening, screening.id).venue_name == "Main Sanctuary Hall"
    done = submit(
        client, manage + "/edit", booking_data(venue_name="Social Hall", accept_new_terms="y")
    )
    assert done.status_code == 302
    db.session.expire_all()
    screening = db.session.get(Screening, screening.id)
    assert [lic.terms.version for lic in screening.licences] == [
        accepted.version,
        accepted.version + 1,
    ]


def test_a_revision_without_new_terms_keeps_the_old_version(client, db, smtp):
    """The old code issued every revision under the film's current terms."""
    screening = make_screening()
    accepted = screening.current_licence.terms.version
    set_terms(screening.film, "Newer terms nobody accepted.")
    db.session.commit()
    from screenings.services.bookings import update_booking

    from .factories import booking_details

    update_booking(
        screening, booking_details(venue_name="Hall C"), actor="producer:x", by_producer=True
    )
    assert [lic.terms.version for lic in screening.licences] == [accepted, accepted]


def test_an_approved_move_sets_the_new_start_in_utc(client, producer, db, smtp):
    screening, manage = _approved_on_an_approval_film(db)
    before = screening.starts_at
    submit(
        client,
        manage + "/edit",
        booking_data(start_date=future_date(40).isoformat(), start_time="18:30"),
    )
    held = db.session.scalar(select(ChangeRequest))
    assert set(held.changes) == {"local_start"}
    db.session.expire_all()
    assert db.session.get(Screening, screening.id).starts_at == before
    submit(
        client,
        f"/producer/changes/{held.id}",
        {"decision": "approve"},
        form_url="/producer/approvals",
    )
    db.session.expire_all()
    screening = db.session.get(Screening, screening.id)
    assert screening.local_start.date() == future_date(40)
    assert (screening.local_start.hour, screening.local_start.minute) == (18, 30)
    offset = screening.local_start - screening.starts_at
    assert offset.total_seconds() / 3600 in (-4, -5)  # Toronto
    assert screening.calendar_sequence == 1
    assert screening.licences[-1].particulars["local_start"].startswith(future_date(40).isoformat())


def test_hiding_the_address_applies_at_once_while_opening_it_waits(client, producer, db, smtp):
    """A host under pressure who makes the screening guests-only or private is not held back
    by the review that a move to a wider audience needs."""
    screening, manage = _approved_on_an_approval_film(db)
    public_page = f"/screenings/{screening.id}"
    assert "1700 Bathurst Street" in client.get(public_page).get_data(as_text=True)
    submit(client, manage + "/edit", booking_data(listing="guests"))
    db.session.expire_all()
    assert db.session.get(Screening, screening.id).visibility == "guests"
    assert db.session.scalar(select(ChangeRequest)) is None
    assert "1700 Bathurst Street" not in client.get(public_page).get_data(as_text=True)
    submit(client, manage + "/edit", booking_data(listing="private"))
    db.session.expire_all()
    assert db.session.get(Screening, screening.id).visibility == "private"
    assert client.get(public_page).status_code == 404
    # Back to public: that waits for the producer.
    submit(client, manage + "/edit", booking_data(listing="public"))
    db.session.expire_all()
    assert db.session.get(Screening, screening.id).visibility == "private"
    assert db.session.scalar(select(ChangeRequest)).changes.keys() == {"visibility"}
