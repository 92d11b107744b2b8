"""The attendee's page (issue 16, item 8): a confirmation card per status with the film, time,
place and the screening's page; calendar buttons only for a confirmed seat; the seats changed
through the same conditional UPDATE as a reply; cancel behind a confirmation, then RSVP again."""

from __future__ import annotations

import pytest
from icalendar import Calendar

from screenings.capabilities import rsvp_token
from screenings.extensions import db as _db
from screenings.outbox import deliver_pending
from screenings.services import rsvps as rsvp_service
from screenings.services.rsvps import RsvpError
from screenings.services.visibility import share_token

from .conftest import submit
from .factories import make_screening
from .rsvp_helpers import calendar_part, reply

CALENDAR = ("/invite.ics", "calendar.google.com", "outlook.live.com")


def page_of(client, row):
    return client.get(f"/rsvp/{rsvp_token(row)}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("settings", "heading", "has_calendar"),
    [
        ({}, "You're going", True),
        ({"capacity": 1}, "You're on the waiting list", False),
        ({"approves_guests": True}, "Waiting for the host", False),
        ({"address_check": "everyone"}, "Confirm your address", False),
    ],
)
def test_the_card_per_status_and_calendar_buttons_only_when_confirmed(
    client, db, smtp, settings, heading, has_calendar
):
    screening = make_screening(**settings)
    if settings.get("capacity") == 1:
        reply(screening, email="first@example.org")
    row = reply(screening)
    page = page_of(client, row)
    card = page.split('class="card rsvp-card"', 1)[1].split("</section>", 1)[0]
    assert heading in card
    assert screening.film.title in card
    assert "19:00" in card  # the venue's local time
    assert f'href="/screenings/{screening.id}"' in card
    for marker in CALENDAR:
        assert (marker in card) is has_calendar, marker
    ics = client.get(f"/rsvp/{rsvp_token(row)}/invite.ics")
    assert ics.status_code == (200 if has_calendar else 404)


def test_the_ics_is_their_own_invite(client, db, smtp):
    screening = make_screening()
    row = reply(screening)
    deliver_pending()
    response = client.get(f"/rsvp/{rsvp_token(row)}/invite.ics")
    assert response.headers["Cache-Control"] == "no-store"
    event = Calendar.from_ical(response.data).walk("VEVENT")[0]
    emailed = Calendar.from_ical(
        calendar_part(smtp.to("ann@example.org")[0]).get_payload(decode=True)
    )
    assert event["UID"] == emailed.walk("VEVENT")[0]["UID"]
    assert "ann@example.org" in str(event["ATTENDEE"])
    assert "1700 Bathurst Street" in str(event["LOCATION"])  # a confirmed guest's place


def test_a_private_screening_links_its_share_link_never_a_public_page(client, db, smtp):
    screening = make_screening(visibility="private")
    page = page_of(client, reply(screening))
    assert f'href="/s/{share_token(screening)}"' in page
    assert f'href="/screenings/{screening.id}"' not in page


def test_more_seats_take_them_and_send_a_newer_invite(client, db, smtp):
    screening = make_screening(capacity=5)
    row = reply(screening, party_size=2)
    deliver_pending()
    (first,) = smtp.to("ann@example.org")
    token = rsvp_token(row)
    response = submit(
        client, f"/rsvp/{token}/seats", {"party_size": "4"}, form_url=f"/rsvp/{token}"
    )
    assert response.status_code == 302
    _db.session.refresh(screening)
    assert (row.party_size, screening.seats_taken) == (4, 4)
    later = smtp.to("ann@example.org")[-1]
    assert later is not first
    sequence = [
        Calendar.from_ical(calendar_part(m).get_payload(decode=True)).walk("VEVENT")[0]["SEQUENCE"]
        for m in (first, later)
    ]
    assert sequence[1] > sequence[0]


def test_too_many_seats_are_refused_beside_the_field(client, db, smtp):
    screening = make_screening(capacity=5)
    row = reply(screening, party_size=2)
    reply(screening, email="bob@example.org", party_size=2)
    token = rsvp_token(row)
    response = submit(
        client, f"/rsvp/{token}/seats", {"party_size": "4"}, form_url=f"/rsvp/{token}"
    )
    assert response.status_code == 422
    assert "Only 1 more seat is left." in response.get_data(as_text=True)
    _db.session.refresh(screening)
    _db.session.refresh(row)
    assert (row.party_size, screening.seats_taken) == (2, 4)
    with pytest.raises(RsvpError):
        rsvp_service.change_party_size(row, 4)


def test_fewer_seats_free_them_for_the_waiting_list(client, db, smtp):
    screening = make_screening(capacity=4)
    row = reply(screening, party_size=4)
    waiting = reply(screening, email="bob@example.org", party_size=2)
    assert waiting.status == "waitlisted"
    rsvp_service.change_party_size(row, 2)
    _db.session.refresh(screening)
    _db.session.refresh(waiting)
    assert (row.party_size, waiting.status, screening.seats_taken) == (2, "confirmed", 4)


def test_cancel_asks_first_then_offers_rsvp_again(client, db, smtp):
    screening = make_screening()
    row = reply(screening)
    token = rsvp_token(row)
    page = page_of(client, row)
    assert '<details class="cancel-reply">' in page
    assert "RSVP again" not in page
    response = submit(
        client, f"/rsvp/{token}/cancel", {}, form_url=f"/rsvp/{token}", follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert "Your reply is cancelled" in page
    assert f'href="/screenings/{screening.id}#rsvp-heading"' in page
    assert "RSVP again" in page
    assert "/invite.ics" not in page
    assert "Change your seats" not in page
    again = reply(screening)  # the way back: a new reply for the same address
    assert again.status == "confirmed"


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_calendar_links_never_carry_the_attendees_own_link(client, db, smtp, visibility):
    """Google and Outlook links hand their text to another company: the attendee's token
    (which can cancel and erase the reply) must not be in them, nor a private share link."""
    from urllib.parse import unquote

    screening = make_screening(visibility=visibility)
    row = reply(screening)
    page = unquote(page_of(client, row)).replace("&amp;", "&")
    links = [part.split('"', 1)[0] for part in page.split('href="')[1:]]
    outside = [link for link in links if "google.com" in link or "outlook." in link]
    assert len(outside) == 3
    for link in outside:
        assert rsvp_token(row) not in link
        assert "/rsvp/" not in link
        assert "/s/" not in link
