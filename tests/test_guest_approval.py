"""Guest approval (issue 12, item 1): replies arrive requested and hold no seat; the host
approves (seats taken by the same conditional UPDATE as an RSVP, so never overbooked),
declines or wait-lists them from the manage page; the host question's answers; the address
of a private screening only for approved guests; the defaults by organization and listing."""

from __future__ import annotations

import csv
import io
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from sqlalchemy import func, select

from screenings import create_app, outbox
from screenings.capabilities import manage_token
from screenings.extensions import db as _db
from screenings.models import Rsvp, Screening
from screenings.outbox import deliver_pending
from screenings.services import rsvps as rsvp_service

from .conftest import app_config, booking_data, hidden_fields, submit
from .factories import make_screening
from .rsvp_helpers import calendar_part, post_rsvp, reply, rsvp_link
from .test_rsvp import (
    _naive_hold_seats,
    _NoRedirect,
    _pause,
    live_server,  # noqa: F401  (fixture)
)

STREET = "1700 Bathurst Street"


def mail_to(smtp, address: str) -> list:
    """What reached the loopback SMTP server for address, once the outbox has sent it all."""
    outbox.wait_idle(15)
    deliver_pending()
    outbox.wait_idle(15)
    return smtp.to(address)


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _status(rsvp_id: int) -> str:
    return _db.session.scalar(select(Rsvp.status).where(Rsvp.id == rsvp_id))


def _seats_taken(screening_id: int) -> int:
    _db.session.expire_all()
    return _db.session.get(Screening, screening_id).seats_taken


def _confirmed_seats(screening_id: int) -> int:
    return _db.session.scalar(
        select(func.coalesce(func.sum(Rsvp.party_size), 0)).where(
            Rsvp.screening_id == screening_id, Rsvp.status == "confirmed"
        )
    )


def _decide(client, screening, ids, button="approve", follow_redirects=True):
    token = manage_token(screening)
    data = {"selected": [str(i) for i in ids], button: "y"}
    return submit(
        client,
        f"/manage/{token}/guests",
        data,
        form_url=f"/manage/{token}",
        follow_redirects=follow_redirects,
    )


# -- end to end, with e-mails on the loopback SMTP server ------------------------------------------


def test_a_private_screenings_guest_is_approved_and_only_then_gets_seat_invite_and_address(
    client, db, smtp
):
    screening = make_screening(
        visibility="private", approves_guests=True, host_question="heard_from", capacity=20
    )
    from screenings.services.visibility import share_token

    share = f"/s/{share_token(screening)}"
    form_page = client.get(share).get_data(as_text=True)
    assert "How did you hear about this screening?" in form_page  # the question, as its label
    assert "The host approves each guest" in form_page
    assert STREET not in form_page
    smtp.clear()
    response = submit(
        client,
        share,
        {
            "name": "Ann Attendee",
            "email": "ann@example.org",
            "party_size": "3",
            "consent": "y",
            "answer": "From the synagogue newsletter",
        },
        follow_redirects=True,
    )
    assert "Your request is with the host" in response.get_data(as_text=True)
    (row,) = db.session.scalars(select(Rsvp)).all()
    assert (row.status, row.answer) == ("requested", "From the synagogue newsletter")
    assert _seats_taken(screening.id) == 0  # a request holds no seat

    (requested,) = mail_to(smtp, "ann@example.org")
    assert "Your request is with the host" in requested["Subject"]
    assert [p for p in requested.walk() if p.get_content_type() == "text/calendar"] == []
    assert STREET not in text_of(requested)  # a private screening's place: not before approval
    attendee_page = client.get(rsvp_link(requested)).get_data(as_text=True)
    assert "Waiting for the host's approval of 3 seats." in attendee_page
    assert STREET not in attendee_page

    manage = client.get(f"/manage/{manage_token(screening)}").get_data(as_text=True)
    section = manage.split('id="guest-requests-heading"', 1)[1].split("</section>", 1)[0]
    assert "Ann Attendee" in section
    assert "3 seats" in section
    assert "From the synagogue newsletter" in section
    assert "asked " in section

    mail_to(smtp, "ann@example.org")
    smtp.clear()
    page = _decide(client, screening, [row.id]).get_data(as_text=True)
    assert "1 guest approved" in page
    assert _status(row.id) == "confirmed"
    assert _seats_taken(screening.id) == 3
    (confirmed,) = mail_to(smtp, "ann@example.org")
    assert "reserved" in text_of(confirmed)
    invite = calendar_part(confirmed)
    assert invite.get_param("method") == "REQUEST"
    assert STREET in invite.get_payload(decode=True).decode()
    assert STREET in text_of(confirmed)
    attendee_page = client.get(rsvp_link(confirmed)).get_data(as_text=True)
    assert "Confirmed: 3 seats reserved." in attendee_page
    assert STREET in attendee_page


def test_a_declined_guest_gets_a_polite_note_and_nothing_else(client, db, smtp):
    screening = make_screening(approves_guests=True, visibility="guests")
    row = reply(screening, email="bea@example.org", name="Bea", party_size=2)
    mail_to(smtp, "bea@example.org")
    smtp.clear()
    page = _decide(client, screening, [row.id], button="decline").get_data(as_text=True)
    assert "1 request declined" in page
    assert _status(row.id) == "declined"
    assert _seats_taken(screening.id) == 0
    (note,) = mail_to(smtp, "bea@example.org")
    assert note["To"].addresses[0].addr_spec == "bea@example.org"
    assert "not able to welcome you" in text_of(note)
    assert [p for p in note.walk() if p.get_content_type() == "text/calendar"] == []
    assert STREET not in text_of(note)
    # Replying again with the same address is the same reply: the host's answer stands.
    again = rsvp_service.rsvp(
        screening, name="Bea", email="BEA@example.org", party_size=2, consent=True
    )
    assert (again.is_new, again.rsvp.status) == (False, "declined")
    attendee = client.get(rsvp_link(note)).get_data(as_text=True)
    assert "could not welcome you" in attendee
    assert "Cancel my reply" not in attendee


def test_several_at_once_and_a_full_screening_says_so_and_offers_the_waiting_list(client, db, smtp):
    screening = make_screening(approves_guests=True, capacity=4)
    first = reply(screening, email="a@example.org", name="Avi", party_size=3)
    second = reply(screening, email="b@example.org", name="Bella", party_size=2)
    third = reply(screening, email="c@example.org", name="Chen", party_size=1)
    page = _decide(client, screening, [first.id, second.id, third.id]).get_data(as_text=True)
    assert "2 guests approved" in page
    assert "Not enough seats left for: Bella (2)" in page
    assert "move them to the waiting list" in page
    assert [_status(r.id) for r in (first, second, third)] == [
        "confirmed",
        "requested",
        "confirmed",
    ]
    assert _seats_taken(screening.id) == 4

    mail_to(smtp, "b@example.org")
    smtp.clear()
    page = _decide(client, screening, [second.id], button="waitlist").get_data(as_text=True)
    assert "1 request moved to the waiting list" in page
    assert _status(second.id) == "waitlisted"
    (waiting,) = mail_to(smtp, "b@example.org")
    assert "waiting list" in text_of(waiting)
    # A seat freed goes to it as to anyone waiting.
    smtp.clear()
    rsvp_service.cancel_rsvp(db.session.get(Rsvp, first.id))
    assert _status(second.id) == "confirmed"
    assert _seats_taken(screening.id) == 3


def test_the_decision_form_refuses_nothing_ticked_and_other_screenings_requests(client, db):
    screening = make_screening(approves_guests=True)
    other = make_screening(approves_guests=True)
    theirs = reply(other, email="x@example.org")
    reply(screening, email="y@example.org")
    token = manage_token(screening)
    response = submit(
        client, f"/manage/{token}/guests", {"approve": "y"}, form_url=f"/manage/{token}"
    )
    assert response.status_code == 422
    assert "Tick at least one request." in response.get_data(as_text=True)
    _decide(client, screening, [theirs.id])  # another screening's request: not this host's
    assert _status(theirs.id) == "requested"
    assert _seats_taken(other.id) == 0


def test_answers_are_in_the_csv_and_erased_with_the_guest(client, db, smtp):
    from screenings.services.privacy import erase_attendee

    from .test_privacy_erasure import traces_of

    screening = make_screening(approves_guests=True, host_question="affiliation")
    row = rsvp_service.rsvp(
        screening,
        name="Dov",
        email="dov@example.org",
        party_size=1,
        consent=True,
        answer="=Cmd|Unusual Affiliation Corp",
    ).rsvp
    body = client.get(f"/manage/{manage_token(screening)}/attendees.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][-1] == "answer"
    assert rows[1][0] == "requested"
    assert rows[1][-1] == "'=Cmd|Unusual Affiliation Corp"  # defused, like every cell
    erase_attendee(row, actor="attendee:own link")
    assert traces_of("Unusual Affiliation Corp") == []


def test_no_question_no_field_and_an_unknown_answer_is_dropped(client, db):
    screening = make_screening(approves_guests=True)
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert 'name="answer"' not in page
    post_rsvp(client, screening, answer="sneaked in")
    assert db.session.scalar(select(Rsvp.answer)) == ""


# -- the defaults and the settings on the booking and edit forms -----------------------------------


@pytest.mark.parametrize(
    ("organization_type", "listing", "capacity", "approves", "address_check"),
    [
        ("faith_community", "public", "100", True, "large_parties"),
        ("school", "public", "100", False, "large_parties"),
        ("school", "private", "100", True, "large_parties"),
        ("community_group", "public", "101", False, "everyone"),
        ("community_group", "guests", "300", False, "large_parties"),
    ],
)
def test_the_defaults_follow_the_organization_and_the_listing(
    client, db, organization_type, listing, capacity, approves, address_check
):
    page = client.get("/book").get_data(as_text=True)
    assert "Approve each guest" in page
    assert "Automatic: on for faith communities and private screenings" in page
    assert "Who confirms their e-mail address before their seats are held" in page
    data = booking_data(
        organization_type=organization_type,
        listing=listing,
        capacity=capacity,
        approves_guests=None,  # left to the defaults, as a person who does not touch them
        address_check=None,
    )
    submit(client, "/book", data)
    screening = db.session.scalar(select(Screening))
    assert (screening.approves_guests, screening.address_check) == (approves, address_check)


def test_the_organizer_sets_them_on_the_edit_form(client, db):
    screening = make_screening()
    token = manage_token(screening)
    page = client.get(f"/manage/{token}/edit").get_data(as_text=True)
    assert "Automatic:" not in page  # an edit shows the settings as they are
    assert re.search(r'<option selected value="off">Off: replies', page) or re.search(
        r'<option value="off" selected>Off', page
    )
    data = booking_data(approves_guests="on", address_check="everyone", host_question="affiliation")
    for key in ("accept_terms", "free_admission"):
        data.pop(key)
    submit(client, f"/manage/{token}/edit", data, follow_redirects=True)
    db.session.expire_all()
    screening = db.session.get(Screening, screening.id)
    assert (screening.approves_guests, screening.address_check, screening.host_question) == (
        True,
        "everyone",
        "affiliation",
    )
    refused = submit(
        client, f"/manage/{token}/edit", {**data, "address_check": "sometimes"}
    ).get_data(as_text=True)
    assert "Not a valid choice" in refused


# -- caches ----------------------------------------------------------------------------------------


def test_an_approval_moves_the_cached_pages_seats_on_another_worker(
    database_uri, smtp_server, app, db
):
    worker = create_app(app_config(database_uri, smtp_server.port))
    screening = make_screening(approves_guests=True, capacity=30)
    row = reply(screening, party_size=4)
    visitor = worker.test_client()

    def seats_left() -> int:
        page = visitor.get(f"/screenings/{screening.id}").get_data(as_text=True)
        return int(re.search(r'class="seats-left">(\d+)<', page).group(1))

    assert seats_left() == 30
    assert seats_left() == 30  # cached now
    rsvp_service.approve_requests(screening, [row.id])
    assert seats_left() == 26


# -- the race --------------------------------------------------------------------------------------

RACERS = 100
CAPACITY = 10


def _all_at_once(count: int, form_url: str, post_url: str, data_for) -> list[int]:
    """count browsers load form_url, then all post data_for(i) to post_url at one moment."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect()
        )
        page = opener.open(form_url, timeout=120).read().decode()
        body = urllib.parse.urlencode(
            {"csrf_token": hidden_fields(page)["csrf_token"], **data_for(index)}
        ).encode()
        barrier.wait(timeout=120)
        try:
            status = opener.open(post_url, body, timeout=120).status
        except urllib.error.HTTPError as error:
            status = error.code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(240)
    return statuses


def _requests_race(base: str, screening: Screening) -> list[int]:
    url = f"{base}/screenings/{screening.id}"
    return _all_at_once(
        RACERS,
        url,
        url,
        lambda i: {
            "name": f"Racer {i}",
            "email": f"racer{i}@example.org",
            "party_size": "1",
            "consent": "y",
        },
    )


def _approvals_race(base: str, screening: Screening, ids: list[int]) -> list[int]:
    """RACERS organizer tabs, each approving one request, all at the same moment."""
    manage = f"{base}/manage/{manage_token(screening)}"
    return _all_at_once(
        RACERS, manage, f"{manage}/guests", lambda i: {"selected": str(ids[i]), "approve": "y"}
    )


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_a_hundred_requests_hold_no_seat_and_a_hundred_approvals_fill_it_exactly(
    app,
    db,
    live_server,  # noqa: F811  (the fixture of tests/test_rsvp.py)
    monkeypatch,
):
    screening = make_screening(approves_guests=True, capacity=CAPACITY)
    db.session.commit()
    monkeypatch.setattr(rsvp_service, "after_capacity_check", _pause)
    statuses = _requests_race(live_server, screening)
    assert statuses == [302] * RACERS
    assert _seats_taken(screening.id) == 0
    ids = list(db.session.scalars(select(Rsvp.id).where(Rsvp.status == "requested")))
    assert len(ids) == RACERS

    statuses = _approvals_race(live_server, screening, ids)
    assert statuses == [302] * RACERS  # no "database is locked", no 500
    assert _seats_taken(screening.id) == CAPACITY
    assert _confirmed_seats(screening.id) == CAPACITY
    still = db.session.scalar(
        select(func.count()).select_from(Rsvp).where(Rsvp.status == "requested")
    )
    assert still == RACERS - CAPACITY


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_the_approval_race_catches_a_naive_check_then_approve(
    app,
    db,
    live_server,  # noqa: F811  (the fixture of tests/test_rsvp.py)
    monkeypatch,
):
    """The same approvals against a check-then-act seat hold overbook: the test can fail."""
    screening = make_screening(approves_guests=True, capacity=CAPACITY)
    ids = [reply(screening, email=f"r{i}@example.org").id for i in range(RACERS)]
    db.session.commit()
    monkeypatch.setattr(rsvp_service, "after_capacity_check", _pause)
    monkeypatch.setattr(rsvp_service, "_hold_seats", _naive_hold_seats)
    _approvals_race(live_server, screening, ids)
    db.session.expire_all()
    assert _confirmed_seats(screening.id) > CAPACITY
