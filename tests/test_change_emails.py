"""The organizer's change e-mails (and the producer's alert) say what changed as people read it:
the booking form's label and the old → new values in the recipient's language, through SMTP."""

from __future__ import annotations

import html
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from sqlalchemy import select

from screenings.capabilities import manage_token
from screenings.models import ChangeRequest, Film
from screenings.outbox import deliver_pending
from screenings.services.bookings import approve_booking, update_booking

from . import producer_helpers
from .conftest import booking_data, future_date, submit
from .factories import booking_details, make_screening

producer = producer_helpers.producer  # the fixture, logged in on `client`
ORGANIZER = "miriam@example.org"

# What the e-mails must say, per language: the form's labels and the values' words.
WORDS = {
    "en": {
        "start": "Date and start time (venue's local time)",
        "city": "City",
        "country": "Country of the venue",
        "countries": ("Canada", "France"),
        "zone": "Time zone of the venue",
        "zones": ("Eastern Time — Toronto", "Central European Time — Paris"),
        "listing": "Who sees the address",
        "listings": ("Public", "Guests only"),
        "rsvps": "Let attendees RSVP online",
        "yes_no": ("Yes", "No"),
        "seats": "Seats available for RSVPs",
        "type": "Type of organization",
        "types": ("Faith community", "Community group"),
        "arrow": "→",
    },
    "fr": {
        "start": "Date et heure de début (heure locale du lieu)",
        "city": "Ville",
        "country": "Pays du lieu",
        "countries": ("Canada", "France"),
        "zone": "Fuseau horaire du lieu",
        "zones": (
            "heure de l’Est nord-américain — Toronto",
            "heure d’Europe centrale — Paris",
        ),
        "arrow": "→",
    },
    "he": {
        "listing": "מי רואה את הכתובת",
        "listings": ("ציבורית", "לאורחים בלבד"),
        "rsvps": "לאפשר למשתתפים לאשר הגעה באינטרנט",
        "yes_no": ("כן", "לא"),
        "seats": "מקומות זמינים לאישורי הגעה",
        "type": "סוג הארגון",
        "types": ("קהילה דתית", "ארגון קהילתי"),
        "arrow": "←",
    },
}


def _start(day, zone: str, language: str) -> str:
    """A start at 19:00 as the e-mails show it: the locale's full date, the zone, its offset."""
    local = datetime.combine(day, time(19, 0), ZoneInfo(zone))
    offset = local.strftime("%z")
    offset = f"UTC{offset[0].replace('-', '−')}{offset[1:3]}:{offset[3:]}"
    if language == "en":
        written = f"{local:%A} {local.day} {local:%B %Y}"
    else:
        written = format_date(local, "full", locale=language)
    return f"{written}, 19:00 ({zone}, {offset})"


def _plain(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def _html(message) -> str:
    return html.unescape(message.get_body(("html",)).get_content().replace("\r\n", "\n"))


def _line(words: dict, label: str, before: str, now: str) -> str:
    return f"- {label}: {before} {words['arrow']} {now}\n"


def _item(words: dict, label: str, before: str, now: str) -> str:
    arrow = words["arrow"]
    return f"<li>{label}: <bdi>{before}</bdi> {arrow} <strong><bdi>{now}</bdi></strong></li>"


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_held_change_is_told_old_to_new_in_the_readers_words(
    client, producer, db, smtp, language
):
    db.session.get(Film, 1).requires_approval = True
    db.session.commit()
    screening = make_screening(language=language)
    approve_booking(screening, actor="producer:test")
    manage = f"/manage/{manage_token(screening)}"
    was, moved = screening.local_start.date(), future_date(37)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language  # the producer's alert follows it
    smtp.clear()
    submit(
        client,
        manage + "/edit",
        booking_data(
            city="Lyon",
            country="FR",
            timezone="Europe/Paris",
            start_date=moved.isoformat(),
            start_time="19:00",
        ),
    )
    smtp.wait_for(2)
    words = WORDS[language]
    expected = [
        (words["city"], "Toronto", "Lyon"),
        (words["country"], *words["countries"]),
        (words["zone"], *words["zones"]),
        (
            words["start"],
            _start(was, "America/Toronto", language),
            _start(moved, "Europe/Paris", language),
        ),
    ]
    (received,) = smtp.to(ORGANIZER)
    (alert,) = smtp.to(producer_helpers.PRODUCER_EMAIL)
    for message in (received, alert):
        for row in expected:
            assert _line(words, *row) in _plain(message)
            assert _item(words, *row) in _html(message)
    held = db.session.scalar(select(ChangeRequest))
    smtp.clear()
    submit(
        client,
        f"/producer/changes/{held.id}",
        {"decision": "reject", "reason": "Too far."},
        form_url="/producer/approvals",
    )
    (rejected,) = smtp.wait_for(1)
    for row in expected:
        assert _line(words, *row) in _plain(rejected)
        assert _item(words, *row) in _html(rejected)


@pytest.mark.parametrize("language", ["en", "he"])
def test_the_producers_correction_is_told_old_to_new_in_the_organizers_words(db, smtp, language):
    screening = make_screening(language=language)
    deliver_pending()
    smtp.clear()
    update_booking(
        screening,
        booking_details(
            organization_type="community_group",
            capacity=150,
            visibility="guests",
            rsvps_enabled=False,
        ),
        actor="producer:test",
        by_producer=True,
    )
    words = WORDS[language]
    expected = [
        (words["type"], *words["types"]),
        (words["seats"], "100", "150"),
        (words["listing"], *words["listings"]),
        (words["rsvps"], *words["yes_no"]),
    ]
    deliver_pending()
    messages = smtp.wait_for(2)
    (changed,) = [m for m in messages if words["seats"] in _plain(m)]
    for row in expected:
        assert _line(words, *row) in _plain(changed)
        assert _item(words, *row) in _html(changed)
