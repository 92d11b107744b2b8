"""Every kind of calendar object, judged by libical, a CalDAV server (Radicale) and khal.

Zones with odd offsets and rules: Toronto's fall-back hour, St John's (-3:30), Kolkata (+5:30,
no DST), Kathmandu (+5:45), Lord Howe (a 30-minute DST), Casablanca (its Ramadan change).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from screenings import calendar
from screenings.places import all_zones

from .judges import build_libical, find_khal, run_caldav, split_events
from .rsvp_helpers import parse_all
from .test_calendar import make_feed, make_invite, make_screening

YEAR = datetime.now(UTC).year
libical_judge = pytest.fixture(scope="session", name="libical")(build_libical)
caldav_server = pytest.fixture(scope="session", name="caldav")(run_caldav)
khal_judge = pytest.fixture(scope="session", name="khal")(find_khal)


def _fall_back(zone: str, year: int) -> datetime:
    """The first UTC instant after the clocks go back in a zone that year."""
    tz = ZoneInfo(zone)
    moment = datetime(year, 7, 1, tzinfo=UTC)
    while moment.astimezone(tz).utcoffset() == datetime(year, 7, 1, tzinfo=tz).utcoffset():
        moment += timedelta(minutes=30)
    return moment


def _booked(zone: str, local: datetime, minutes: int = 110):
    start = local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    return make_screening(
        timezone=zone, starts_at_utc=start, ends_at_utc=start + timedelta(minutes=minutes)
    )


def _cases():
    """(label, screening) for bookings next year in zones with odd offsets and rules."""
    next_year = YEAR + 1
    toronto_back = _fall_back("America/Toronto", next_year).astimezone(ZoneInfo("America/Toronto"))
    yield "toronto-summer", _booked("America/Toronto", datetime(next_year, 7, 15, 19))  # noqa: DTZ001 wall time; _booked sets the zone
    # 01:30 on the night the clocks go back (first occurrence), ending inside the repeated hour.
    first_130 = toronto_back.replace(minute=30, tzinfo=None)
    yield "toronto-fall-back", _booked("America/Toronto", first_130, minutes=20)
    yield "st-johns", _booked("America/St_Johns", datetime(next_year, 3, 14, 20, 15))  # noqa: DTZ001 wall time; _booked sets the zone
    yield "kolkata", _booked("Asia/Kolkata", datetime(next_year, 1, 20, 18, 30))  # noqa: DTZ001 wall time; _booked sets the zone
    yield "kathmandu", _booked("Asia/Kathmandu", datetime(next_year, 5, 2, 18, 45))  # noqa: DTZ001 wall time; _booked sets the zone
    yield "lord-howe", _booked("Australia/Lord_Howe", datetime(next_year, 1, 10, 19))  # noqa: DTZ001 wall time; _booked sets the zone
    # Inside Morocco's Ramadan change of 2029 (icalendar's own VTIMEZONE missed it).
    yield "casablanca-ramadan", _booked("Africa/Casablanca", datetime(2029, 1, 20, 20))  # noqa: DTZ001 wall time; _booked sets the zone


CASES = list(_cases())


def _objects(screening) -> dict[str, bytes]:
    """Every kind of object Screenings emits for one screening."""
    moved = make_screening(**{**vars(screening), "calendar_sequence": 4})
    cancelled = make_screening(**{**vars(screening), "status": "cancelled"})
    return {
        "download": calendar.download(screening, url="https://s.test/7", domain="screenings.test"),
        "feed": make_feed([screening, make_screening(id=8, timezone="UTC")]),
        "invite": make_invite(screening, partstat="ACCEPTED"),
        "update": make_invite(moved, partstat="ACCEPTED"),
        "cancel": make_invite(cancelled, method="CANCEL"),
        "organizer invite": make_invite(
            screening, attendee_email="organizer@example.org", organizer_name="Producer"
        ),
    }


@pytest.mark.parametrize(("label", "screening"), CASES, ids=[label for label, _ in CASES])
def test_every_object_passes_libical_at_the_booked_instant(libical, label, screening):
    for kind, ics in _objects(screening).items():
        errors, events = libical.check(ics)
        assert errors == [], (kind, errors)
        start, end = events[calendar.event_uid(screening, "screenings.test")]
        assert start == int(screening.starts_at_utc.timestamp()), (kind, ics.decode())
        assert end == int(screening.ends_at_utc.timestamp()), kind
        assert end > start


@pytest.mark.parametrize(("label", "screening"), CASES, ids=[label for label, _ in CASES])
def test_caldav_server_stores_each_object_and_finds_it_at_its_instant(caldav, label, screening):
    for kind, ics in _objects(screening).items():
        if kind == "cancel":
            continue  # a CANCEL removes an entry: a server stores what it cancels, not it
        for uid, one in split_events(ics).items():
            name = f"{label}-{kind.replace(' ', '-')}-{uid.split('@')[0]}"
            assert caldav.put(name, one) in (201, 204), (kind, one.decode())
            assert Calendar.from_ical(caldav.get(name)).walk("VEVENT")[0]["UID"] == uid
            caldav.delete(name)
    one = split_events(_objects(screening)["feed"])[
        calendar.event_uid(screening, "screenings.test")
    ]
    name = f"{label}-found"
    assert caldav.put(name, one) in (201, 204)
    start, end = screening.starts_at_utc, screening.ends_at_utc
    second = timedelta(seconds=1)
    assert name in caldav.found_between(start, start + second)
    assert name in caldav.found_between(end - second, end)
    assert name not in caldav.found_between(start - timedelta(hours=2), start)
    assert name not in caldav.found_between(end, end + timedelta(hours=2))
    caldav.delete(name)


@pytest.mark.parametrize(("label", "screening"), CASES, ids=[label for label, _ in CASES])
def test_khal_imports_every_object_and_lists_it_at_the_booked_instant(
    khal, tmp_path, label, screening
):
    objects = _objects(screening)
    found = khal.read_back(tmp_path, objects, screening.starts_at_utc, screening.ends_at_utc)
    uid = calendar.event_uid(screening, "screenings.test")
    for kind in objects:
        status = "CANCELLED" if kind == "cancel" else "CONFIRMED"
        assert found[kind].get(uid) == (
            screening.starts_at_utc,
            screening.ends_at_utc,
            status,
        ), (kind, found[kind], objects[kind].decode())


def test_fall_back_hour_is_written_in_utc_and_every_reader_agrees():
    _label, screening = next(case for case in CASES if case[0] == "toronto-fall-back")
    ics = make_invite(screening)
    assert b"DTSTART:" + f"{screening.starts_at_utc:%Y%m%dT%H%M%SZ}".encode() in ics
    assert b"DTEND:" + f"{screening.ends_at_utc:%Y%m%dT%H%M%SZ}".encode() in ics
    readings = parse_all(ics)
    assert {reading["start"] for reading in readings.values()} == {
        screening.starts_at_utc.isoformat()
    }, readings
    # The same screening an hour later (second occurrence gone, a plain time): local again.
    later = make_screening(
        **{
            **vars(screening),
            "starts_at_utc": screening.starts_at_utc + timedelta(hours=3),
            "ends_at_utc": screening.ends_at_utc + timedelta(hours=3),
        }
    )
    assert b"DTSTART;TZID=America/Toronto:" in make_invite(later)


def _vtimezones(ics: bytes) -> dict[str, bytes]:
    cal = Calendar.from_ical(ics)
    return {str(tz["TZID"]): tz.to_ical() for tz in cal.walk("VTIMEZONE")}


def test_one_tzid_has_one_vtimezone_in_every_object():
    this_year = _booked("America/Toronto", datetime(YEAR, 12, 30, 19))  # noqa: DTZ001 wall time; _booked sets the zone
    far = _booked("America/Toronto", datetime(YEAR + 3, 6, 1, 19))  # noqa: DTZ001 wall time; _booked sets the zone
    definitions = set()
    for screening in (this_year, far):
        for ics in _objects(screening).values():
            definitions.add(_vtimezones(ics)["America/Toronto"])
    definitions.add(_vtimezones(make_feed([this_year, far]))["America/Toronto"])
    assert len(definitions) == 1


def _instants(first: datetime, last: datetime, zone: ZoneInfo):
    """Every 31 h 13 min over the span, and a second either side of every offset change."""
    moment, previous = first, first.astimezone(zone).utcoffset()
    step = timedelta(hours=31, minutes=13)
    while moment < last:
        offset = moment.astimezone(zone).utcoffset()
        if offset != previous:
            low = moment - step  # find the change to the second
            while moment - low > timedelta(seconds=1):
                middle = low + (moment - low) / 2
                if middle.astimezone(zone).utcoffset() == previous:
                    low = middle
                else:
                    moment = middle
            yield low.replace(microsecond=0)
            yield (moment + timedelta(seconds=1)).replace(microsecond=0)
            previous = offset
        yield moment
        moment += step


def test_vtimezone_of_every_offered_zone_matches_zoneinfo_for_three_years(libical):
    """Every zone the booking form offers, read back by libical from our VTIMEZONE alone."""
    first, last = datetime(YEAR, 1, 1, tzinfo=UTC), datetime(YEAR + 4, 1, 1, tzinfo=UTC)
    window = calendar._zone_window()
    wrong = {}
    for zone_name in all_zones():
        tzid = calendar._zone_tzid(zone_name)
        if tzid is None:
            continue  # written as UTC times, no VTIMEZONE
        zone = ZoneInfo(zone_name)
        instants = list(_instants(first, last, zone))
        got = libical.offsets(calendar._vtimezone(tzid, *window), tzid, instants)
        expected = [int(i.astimezone(zone).utcoffset().total_seconds()) for i in instants]
        misses = [
            (i.isoformat(), g, e) for i, g, e in zip(instants, got, expected, strict=True) if g != e
        ]
        if misses:
            wrong[zone_name] = misses[:3]
    assert wrong == {}


def test_download_has_no_calendar_name_and_no_method(libical):
    ics = calendar.download(make_screening(), url="https://s.test/7", domain="s.test")
    assert b"X-WR-CALNAME" not in ics
    assert b"\r\nNAME" not in ics
    assert b"METHOD" not in ics
    assert libical.check(ics)[0] == []


def test_location_ends_in_the_country_name_in_the_readers_language(app):
    screening = make_screening(country="IL", region="", city="Haifa")
    assert str(Calendar.from_ical(make_feed([screening])).walk("VEVENT")[0]["LOCATION"]).endswith(
        ", Israel"
    )
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("fr"):
        ics = make_invite(screening)
    assert str(Calendar.from_ical(ics).walk("VEVENT")[0]["LOCATION"]).endswith(", Israël")


def test_webcal_url_keeps_the_address():
    assert calendar.webcal_url("https://s.test/films/x/calendar.ics?a=1") == (
        "webcal://s.test/films/x/calendar.ics?a=1"
    )


def test_the_computed_changes_are_where_the_vtimezone_puts_them():
    """The dates these tests book around are computed (never fixed years that go stale), and
    each is an onset of the VTIMEZONE Screenings writes, in every year of its window."""
    assert _fall_back("America/Toronto", 2026).date() == date(2026, 11, 1)
    first, last = calendar._zone_window()
    for zone in ("America/Toronto", "Europe/Berlin", "Australia/Lord_Howe"):
        text = calendar._vtimezone(zone, first, last).decode()
        for year in range(first, last + 1):
            instant = _fall_back(zone, year)
            before = (instant - timedelta(seconds=1)).astimezone(ZoneInfo(zone)).utcoffset()
            onset = instant.replace(tzinfo=None) + before
            assert f"{onset:%Y%m%dT%H%M%S}" in text, (zone, year)  # a DTSTART or an RDATE


def test_feeds_vary_by_language(client, db):
    """The subscribe links themselves: tests/test_subscribe_links.py."""
    response = client.get("/calendar.ics")
    assert "Accept-Language" in response.headers["Vary"]
    repeat = client.get("/calendar.ics", headers={"If-None-Match": response.headers["ETag"]})
    assert repeat.status_code == 304
    assert "Accept-Language" in repeat.headers["Vary"]
