"""Counts read as sentences (ngettext), never "seat(s)": the attendee's page and e-mails, the
host's guest requests and reminder, in English and French or Hebrew."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from screenings.capabilities import manage_token
from screenings.outbox import deliver_pending
from screenings.services import reminders

from .factories import ScreeningFactory
from .rsvp_helpers import post_rsvp, reply, rsvp_link
from .test_guest_approval import mail_to, text_of

NO_HAND_PLURAL = re.compile(r"\w\(s\)")

ONE_SEAT = {
    "en": ("Confirmed: 1 seat reserved.", "1 request for 1 seat; 100 seats left."),
    "fr": ("Confirmée : 1 place réservée.", "1 demande pour 1 place ; 100 places restantes."),
    "he": ("מאושר: מקום אחד שמור.", "בקשה אחת ל־1 מקום; נותרו 100 מקומות."),
}


@pytest.mark.parametrize("language", ["en", "fr", "he"])
def test_one_seat_is_one_seat(client, db, smtp, language):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    screening = ScreeningFactory()
    post_rsvp(client, screening, party_size="1")
    (message,) = mail_to(smtp, "ann@example.org")
    page = client.get(rsvp_link(message)).get_data(as_text=True)
    confirmed, requests = ONE_SEAT[language]
    assert confirmed in page.replace("\u202f", " ").replace("\xa0", " ")
    assert not NO_HAND_PLURAL.search(page)

    asking = ScreeningFactory(approves_guests=True)
    post_rsvp(client, asking, party_size="1", email="bob@example.org")
    manage = client.get(f"/manage/{manage_token(asking)}").get_data(as_text=True)
    assert requests in manage.replace("\u202f", " ").replace("\xa0", " ")
    assert not NO_HAND_PLURAL.search(manage)


def test_the_reminders_count_in_words(db, smtp):
    screening = ScreeningFactory(start_date=(datetime.now(UTC) + timedelta(days=2)).date())
    reply(screening, party_size=1)
    reply(screening, email="bob@example.org", party_size=3)
    deliver_pending()
    smtp.clear()
    reminders.send_reminders(lead=timedelta(hours=72))
    (organizer,) = mail_to(smtp, "miriam@example.org")
    assert "2 RSVPs hold 4 seats of 100." in text_of(organizer)
    (ann,) = mail_to(smtp, "ann@example.org")
    assert "1 seat is reserved for you." in text_of(ann)
    (bob,) = mail_to(smtp, "bob@example.org")
    assert "3 seats are reserved for you." in text_of(bob)
    for message in (organizer, ann, bob):
        assert not NO_HAND_PLURAL.search(text_of(message))
