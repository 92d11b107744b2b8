"""Clashes and duplicates: the kinds a booker is told of (result page and e-mail), what a
private, pending or guests-only screening gives away (nothing, nothing, its venue), the
queue's badges (every kind, for the producer)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from screenings.models import Film, Screening

from . import producer_helpers
from .conftest import future_date
from .factories import make_screening

producer = producer_helpers.producer  # the fixture, logged in on `client`

OTHER_HOST = {
    "organization_name": "Koffler Centre",
    "contact_email": "arts@koffler.example",
    "venue_name": "Koffler Gallery",
    "street_address": "4588 Bathurst Street",
}

CASES = {
    "venue": (
        {
            **OTHER_HOST,
            "venue_name": "MAIN  sanctuary hall",
            "street_address": "1700 bathurst street",
            "start_time": "20:00",
        },
        "Your venue seems to be booked for another screening at an overlapping time: "
        "“The Killing Roads” hosted by Beth Tzedec Congregation at Main Sanctuary Hall",
    ),
    "city": (
        {**OTHER_HOST, "start_time": "21:30"},
        "Another screening is planned in Toronto that evening: “The Killing Roads” hosted by "
        "Beth Tzedec Congregation at Main Sanctuary Hall",
    ),
    "duplicate": (
        {
            "contact_email": "office@bethtzedec.example",
            "venue_name": "Chapel",
            "street_address": "1 Other Road",
            "start_time": "09:00",
        },
        "A booking for the same organization, date and city was already received.",
    ),
}


SAME_ORGANIZER = {
    "organization_name": "Beth Tzedec Youth",
    "city": "Montréal",
    "region": "Québec",
    "venue_name": "Salle Pierre-Mercure",
    "street_address": "300 boul. De Maisonneuve",
}


def _approved_then_reviewed(db, **other):
    """An approved (listed) screening, then the film needs approval for the next booking."""
    screening = make_screening(start_date=future_date(30), **other)
    film = db.session.get(Film, 1)
    film.requires_approval = True
    db.session.commit()
    return screening


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_clash_kind_is_a_gentle_note_on_the_page_and_in_the_email(kind, book, db, smtp):
    _approved_then_reviewed(db)
    smtp.clear()
    entries, words = CASES[kind]
    page = book(start_date=future_date(30).isoformat(), **entries).get_data(as_text=True)
    latest = db.session.scalar(select(Screening).order_by(Screening.id.desc()))
    assert latest.status == "pending"  # a note never blocks nor changes the decision
    assert words in page
    (message,) = smtp.wait_for(1)
    assert words in message.get_body(preferencelist=("plain",)).get_content()


def test_no_note_without_a_clash(book, db, smtp):
    make_screening(start_date=future_date(30))
    page = book(
        start_date=future_date(30).isoformat(), **OTHER_HOST, city="Ottawa", start_time="19:00"
    ).get_data(as_text=True)
    assert "You may want to" not in page
    assert "another booking" not in page


@pytest.mark.parametrize("listing", ["private", "guests"])
def test_a_private_or_guests_only_screening_gives_away_no_street_nor_organization(
    listing, book, db, smtp
):
    _approved_then_reviewed(db, visibility=listing)
    smtp.clear()
    page = book(start_date=future_date(30).isoformat(), **OTHER_HOST, start_time="20:00")
    page = page.get_data(as_text=True)
    text = smtp.wait_for(1)[0].get_body(preferencelist=("plain",)).get_content()
    for shown in (page, text):
        assert "Beth Tzedec" not in shown
        assert "1700 Bathurst" not in shown
        if listing == "private":  # not even its existence, its city or its evening
            assert "Another screening" not in shown
            assert "Main Sanctuary Hall" not in shown
        else:
            assert "Another screening is planned in Toronto that evening" in shown
            assert "at Main Sanctuary Hall" in shown


def test_a_guests_only_street_is_not_confirmed_by_guessing_it(book, db, smtp):
    """Typing a guests-only screening's venue and street is told as the city's clash only."""
    _approved_then_reviewed(db, visibility="guests")
    page = book(start_date=future_date(30).isoformat(), **CASES["venue"][0])
    shown = page.get_data(as_text=True)
    assert "Your venue seems to be booked" not in shown
    assert "Another screening is planned in Toronto that evening" in shown


@pytest.mark.parametrize(
    ("entries", "hidden", "badge"),
    [
        (SAME_ORGANIZER, "You have another booking on the same day", "Same organizer that day"),
        (
            {**OTHER_HOST, "start_time": "21:30"},
            "Another screening is planned",
            "Same city within 3 hours",
        ),
    ],
    ids=["same e-mail address", "pending screening"],
)
def test_a_booker_learns_nothing_of_an_address_or_an_unapproved_screening(
    entries, hidden, badge, client, producer, book, db, smtp
):
    """Anyone may type any e-mail address: whether it has other bookings, and what is still
    waiting for approval, is the producer's to see (in the queue), never the booker's."""
    film = db.session.get(Film, 1)
    film.requires_approval = True
    db.session.commit()
    make_screening(start_date=future_date(30))  # pending, like the booking below
    smtp.clear()
    shown = book(start_date=future_date(30).isoformat(), **entries).get_data(as_text=True)
    assert hidden not in shown
    assert "Beth Tzedec Congregation" not in shown
    text = smtp.wait_for(1)[0].get_body(preferencelist=("plain",)).get_content()
    assert hidden not in text
    queue = client.get("/producer/approvals").get_data(as_text=True)
    assert badge in queue


def test_the_queue_shows_a_badge_and_links_the_other_screening(client, producer, db, smtp):
    film = db.session.get(Film, 1)
    film.requires_approval = True
    db.session.commit()
    first = make_screening(start_date=future_date(30), visibility="private")
    second = make_screening(start_date=future_date(30), **OTHER_HOST)
    make_screening(start_date=future_date(60), city="Ottawa", contact_email="o@ottawa.example")
    page = client.get("/producer/approvals").get_data(as_text=True)
    assert page.count("Same city within 3 hours") == 2  # each of the pair, not the third
    badge = 'Same city within 3 hours</span> <a href="/producer/screenings/{}"'
    assert badge.format(first.id) in page  # on the second's card: the private one, linked
    assert badge.format(second.id) in page
