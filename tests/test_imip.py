"""Attendee invites as received by a real SMTP server, read by independent parsers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from screenings.models import Screening
from screenings.services import rsvps as rsvp_service
from screenings.services.bookings import cancel_booking, update_booking

from .factories import booking_details, make_screening
from .rsvp_helpers import ICALJS, calendar_bytes, calendar_part, parse_all, reply


def _deliver():
    from screenings.outbox import deliver_pending

    deliver_pending()


def _only_message_to(smtp, address: str):
    messages = smtp.to(address)
    assert len(messages) == 1, [m["Subject"] for m in messages]
    return messages[0]


def _agree(ics: bytes) -> dict:
    """Every parser's reading; they must all read the same thing."""
    readings = parse_all(ics)
    first, *_others = readings.values()
    for name, reading in readings.items():
        assert reading == first, (name, reading, first)
    return first


def test_ical_js_is_installed():
    if not ICALJS.exists():
        pytest.skip("ical.js not installed (npm install; or set ICALJS_PATH): 2 parsers only")
    assert (ICALJS / "package.json").exists()


def test_confirmed_invite_is_imip_with_method_request(db, smtp):
    screening = make_screening()
    smtp.clear()
    reply(screening, "ann@example.org", 2, name="Ann Attendee")
    _deliver()
    message = _only_message_to(smtp, "ann@example.org")

    # multipart/mixed: [multipart/alternative: text, related(html + the ticket's QR),
    # calendar] + the .ics attached (RFC 2387: the inline image beside the HTML it is in).
    assert message.get_content_type() == "multipart/mixed"
    alternative, *attachments = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == [
        "text/plain",
        "multipart/related",
        "text/calendar",
    ]
    related = list(alternative.iter_parts())[1]
    assert [p.get_content_type() for p in related.iter_parts()] == ["text/html", "image/png"]
    part = calendar_part(message)
    assert part.get_param("method") == "REQUEST"
    assert part.get_content_charset() == "utf-8"
    ics = calendar_bytes(message)
    assert [a.get_filename() for a in attachments] == ["invite.ics"]
    assert attachments[0].get_payload(decode=True) == ics

    reading = _agree(ics)
    assert reading["method"] == "REQUEST"
    assert reading["uid"] == f"screening-{screening.id}@screenings.test"
    assert reading["start"] == screening.starts_at_utc.isoformat()
    assert f"http://screenings.test/screenings/{screening.id}" in reading["description"]
    assert "Content advisory:" in reading["description"]
    event = Calendar.from_ical(ics).walk("VEVENT")[0]
    assert event["ORGANIZER"] == "mailto:screenings@example.org"
    assert event["ORGANIZER"].params["CN"] == "Beth Tzedec Congregation"
    assert event["ATTENDEE"] == "mailto:ann@example.org"
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert event["ATTENDEE"].params["RSVP"] == "TRUE"
    assert b"\n" not in ics.replace(b"\r\n", b"")


def test_waitlisted_reply_gets_no_invite(db, smtp):
    screening = make_screening(capacity=1)
    reply(screening, "first@example.org")
    smtp.clear()
    reply(screening, "later@example.org")
    _deliver()
    message = _only_message_to(smtp, "later@example.org")
    assert "waiting list" in message["Subject"]
    assert not [p for p in message.walk() if p.get_content_type() == "text/calendar"]


def test_organizer_change_sends_updated_request_same_uid_higher_sequence(db, smtp):
    screening = make_screening()
    reply(screening, "ann@example.org")
    reply(screening, "bob@example.org")
    _deliver()
    first = parse_all(calendar_bytes(smtp.to("ann@example.org")[0]))["icalendar"]
    smtp.clear()

    new_day = (datetime.now(UTC) + timedelta(days=40)).date()
    update_booking(
        screening, booking_details(start_date=new_day, venue_name="Small Hall"), actor="test"
    )
    _deliver()
    for address in ("ann@example.org", "bob@example.org"):
        message = _only_message_to(smtp, address)
        assert calendar_part(message).get_param("method") == "REQUEST"
        reading = _agree(calendar_bytes(message))
        assert reading["uid"] == first["uid"]
        assert reading["sequence"] > first["sequence"]
        assert reading["location"].startswith("Small Hall")
        expected = datetime.combine(new_day, time(19, 0), ZoneInfo("America/Toronto"))
        assert reading["start"] == expected.astimezone(UTC).isoformat()


def test_screening_cancelled_sends_cancel_to_confirmed_attendees(db, smtp):
    screening = make_screening(capacity=1)
    reply(screening, "ann@example.org")
    reply(screening, "wait@example.org")
    _deliver()
    before = parse_all(calendar_bytes(smtp.to("ann@example.org")[0]))["icalendar"]
    smtp.clear()
    cancel_booking(screening, actor="test")
    _deliver()
    message = _only_message_to(smtp, "ann@example.org")
    assert calendar_part(message).get_param("method") == "CANCEL"
    reading = _agree(calendar_bytes(message))
    assert (reading["method"], reading["status"]) == ("CANCEL", "CANCELLED")
    assert reading["uid"] == before["uid"]
    assert reading["sequence"] > before["sequence"]
    waiting = _only_message_to(smtp, "wait@example.org")
    assert "Cancelled" in waiting["Subject"]
    assert not [p for p in waiting.walk() if p.get_content_type() == "text/calendar"]


def test_attendee_cancel_gets_their_own_cancel(db, smtp):
    screening = make_screening()
    rsvp = reply(screening, "ann@example.org")
    _deliver()
    smtp.clear()
    rsvp_service.cancel_rsvp(rsvp)
    _deliver()
    message = _only_message_to(smtp, "ann@example.org")
    reading = _agree(calendar_bytes(message))
    assert (reading["method"], reading["status"]) == ("CANCEL", "CANCELLED")
    assert "mailto:ann@example.org" in calendar_bytes(message).decode()


def _clock_change(zone: str, year: int, *, forward: bool) -> date:
    """The local date a zone's clocks go forward (or back) in a year, from zoneinfo."""
    tz = ZoneInfo(zone)
    moment = datetime(year, 1, 1, tzinfo=UTC)
    offset = moment.astimezone(tz).utcoffset()
    while moment.year == year:
        moment += timedelta(hours=1)
        new = moment.astimezone(tz).utcoffset()
        if new != offset:
            if (new > offset) == forward:
                return moment.astimezone(tz).date()
            offset = new
    raise AssertionError(f"{zone} changes no clocks in {year}")


def _next_year() -> int:
    return datetime.now(UTC).year + 1


def _dst_cases():
    year = _next_year()
    return [
        # The nights the clocks go forward / back in Toronto, computed for next year.
        ("America/Toronto", "CA", _clock_change("America/Toronto", year, forward=True), time(19)),
        (
            "America/Toronto",
            "CA",
            _clock_change("America/Toronto", year, forward=False),
            time(1, 30),
        ),
        ("Asia/Kolkata", "IN", date(year, 1, 20), time(18, 30)),
        (
            "America/St_Johns",
            "CA",
            _clock_change("America/St_Johns", year, forward=True),
            time(20, 15),
        ),
        ("Europe/London", "GB", _clock_change("Europe/London", year, forward=True), time(10, 0)),
    ]


@pytest.mark.parametrize(("zone", "country", "day", "clock"), _dst_cases())
def test_invite_start_is_the_booked_instant(db, smtp, zone, country, day, clock):
    screening = make_screening(timezone=zone, country=country, start_date=day, start_time=clock)
    smtp.clear()
    reply(screening, "ann@example.org")
    _deliver()
    readings = parse_all(calendar_bytes(_only_message_to(smtp, "ann@example.org")))
    # An ambiguous time (clocks go back) is booked as its first occurrence and written in UTC,
    # so every reader (icalendar, vobject, ical.js) finds the same instant.
    expected = datetime.combine(day, clock, ZoneInfo(zone)).astimezone(UTC).isoformat()
    assert {name: reading["start"] for name, reading in readings.items()} == dict.fromkeys(
        readings, expected
    )


def test_typed_text_round_trips_exactly(db, smtp):
    organization = 'Ciné-club "Le Nord"; Haifa, בית הקולנוע 🎬'
    venue = "Hall A, Floor 2; ‏אולם 🎞️"
    screening = make_screening(organization_name=organization, venue_name=venue)
    smtp.clear()
    reply(screening, "ann@example.org", name="Anne-Marie; O'Brien, Jr. 😀")
    _deliver()
    ics = calendar_bytes(_only_message_to(smtp, "ann@example.org"))
    reading = _agree(ics)
    assert reading["summary"].endswith(organization)
    assert reading["location"].startswith(venue + ", ")
    assert f"Hosted by {organization}\n" in reading["description"]
    assert all(len(line) <= 75 for line in ics.split(b"\r\n"))


def test_downloaded_ics_is_publish_without_attendees(client, db):
    screening = make_screening()
    response = client.get(f"/screenings/{screening.id}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    ics = response.get_data()
    reading = _agree(ics)
    assert reading["method"] == ""  # plain data, not an iTIP message (calendar._publish_head)
    assert b"X-WR-CALNAME" not in ics  # Outlook would open a new calendar for it
    assert b"ATTENDEE" not in ics
    assert b"ORGANIZER" not in ics
    assert reading["start"] == db.session.get(Screening, screening.id).starts_at_utc.isoformat()


def test_every_object_an_attendee_receives_has_a_higher_sequence(db, smtp):
    """REQUEST, their own CANCEL, a new REQUEST after replying again: always rising."""
    screening = make_screening()
    sequences = []

    def last_sequence() -> int:
        _deliver()
        message = smtp.to("ann@example.org")[-1]
        return parse_all(calendar_bytes(message))["icalendar"]["sequence"]

    rsvp = reply(screening, "ann@example.org")
    sequences.append(last_sequence())
    rsvp_service.cancel_rsvp(rsvp)
    sequences.append(last_sequence())
    reply(screening, "ann@example.org")
    sequences.append(last_sequence())
    assert sequences == sorted(set(sequences)), sequences


def test_renaming_the_organization_updates_guests_calendars(db, smtp):
    screening = make_screening()
    reply(screening, "ann@example.org")
    _deliver()
    before = parse_all(calendar_bytes(smtp.to("ann@example.org")[0]))["icalendar"]
    smtp.clear()
    update_booking(
        screening,
        booking_details(organization_name="Beth Tzedec Film Club"),  # nothing else changes
        actor="test",
    )
    _deliver()
    message = _only_message_to(smtp, "ann@example.org")
    reading = _agree(calendar_bytes(message))
    assert reading["summary"].endswith("Beth Tzedec Film Club")
    assert reading["sequence"] > before["sequence"]
