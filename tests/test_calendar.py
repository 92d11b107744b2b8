"""The calendar builder: invites, cancellations and feeds, read back by two independent parsers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Calendar

from screenings import calendar

DOMAIN = "screenings.test"
URL = "https://screenings.test/s/7"
STAMP = datetime(2026, 5, 2, 9, 30, tzinfo=UTC)


def make_screening(**overrides):
    film = SimpleNamespace(
        title=overrides.pop("title", "The Long Field"),
        content_advisory=overrides.pop("content_advisory", "Brief strong language."),
        runtime_minutes=92,
    )
    start = overrides.pop("start", datetime(2026, 7, 15, 23, 0, tzinfo=UTC))
    values = {
        "id": 7,
        "film": film,
        "organization_name": "Riverside Library",
        "venue_name": "Main Hall",
        "street_address": "1 Queen St W",
        "city": "Toronto",
        "region": "ON",
        "postal_code": "M5H 2N2",
        "country": "CA",
        "timezone": "America/Toronto",
        "starts_at_utc": start,
        "ends_at_utc": start + timedelta(minutes=110),
        "status": "approved",
        "calendar_sequence": 3,
        "created_at": datetime(2026, 4, 1, 12, 0),  # noqa: DTZ001 naive UTC, as the column holds
        "updated_at": datetime(2026, 5, 1, 8, 15),  # noqa: DTZ001 naive UTC, as the column holds
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def make_invite(screening=None, **overrides) -> bytes:
    kwargs = {
        "method": "REQUEST",
        "url": URL,
        "organizer_email": "bookings@screenings.test",
        "organizer_name": "Screenings",
        "attendee_email": "ann@example.org",
        "attendee_name": "Ann Example",
        "domain": DOMAIN,
        "stamp": STAMP,
    }
    kwargs.update(overrides)
    return calendar.invite(screening or make_screening(), **kwargs)


def make_feed(screenings, **overrides) -> bytes:
    kwargs = {"name": "Screenings", "url_for": lambda s: f"{URL}?id={s.id}", "domain": DOMAIN}
    kwargs.update(overrides)
    return calendar.publish(screenings, **kwargs)


def parse(ical: bytes):
    """Both parsers' view of the output: icalendar's Calendar and vobject's component."""
    return Calendar.from_ical(ical), vobject.readOne(ical.decode("utf-8"))


def only_event(ical: bytes):
    cal, vcal = parse(ical)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    assert len(vcal.vevent_list) == 1
    return events[0], vcal.vevent


def assert_wire_format(ical: bytes) -> None:
    """CRLF after every line, no bare CR or LF, no line over 75 octets, each line valid UTF-8."""
    assert ical.endswith(b"\r\n")
    lines = ical[:-2].split(b"\r\n")
    for line in lines:
        assert b"\r" not in line
        assert b"\n" not in line
        assert len(line) <= 75, line
        line.decode("utf-8")  # a fold inside a multibyte character would fail here


# -- invites ------------------------------------------------------------------------------------


def test_request_names_organizer_and_attendee():
    ical = make_invite()
    cal, vcal = parse(ical)
    event, vevent = only_event(ical)

    assert cal["METHOD"] == "REQUEST"
    assert vcal.method.value == "REQUEST"
    assert cal["PRODID"] == "-//Screenings//Screenings//EN"
    assert cal["VERSION"] == "2.0"
    assert cal["CALSCALE"] == "GREGORIAN"
    assert event["UID"] == "screening-7@screenings.test"
    assert vevent.uid.value == "screening-7@screenings.test"
    assert event["SEQUENCE"] == 3
    assert event["STATUS"] == "CONFIRMED"
    assert event.decoded("DTSTAMP") == STAMP

    organizer = event["ORGANIZER"]
    assert organizer == "mailto:bookings@screenings.test"
    assert organizer.params["CN"] == "Screenings"
    attendee = event["ATTENDEE"]
    assert attendee == "mailto:ann@example.org"
    assert dict(attendee.params) == {
        "CN": "Ann Example",
        "ROLE": "REQ-PARTICIPANT",
        "PARTSTAT": "NEEDS-ACTION",
        "RSVP": "TRUE",
    }
    assert vevent.attendee.value == "mailto:ann@example.org"
    assert vevent.attendee.params["PARTSTAT"] == ["NEEDS-ACTION"]
    assert vevent.organizer.params["CN"] == ["Screenings"]
    assert_wire_format(ical)


def test_request_carries_event_details():
    event, vevent = only_event(make_invite(make_screening(latitude=43.6487, longitude=-79.3817)))

    assert event["SUMMARY"] == "The Long Field – Riverside Library"
    assert vevent.summary.value == "The Long Field – Riverside Library"
    assert event["LOCATION"] == "Main Hall, 1 Queen St W, Toronto ON M5H 2N2, Canada"
    assert vevent.location.value == "Main Hall, 1 Queen St W, Toronto ON M5H 2N2, Canada"
    assert event["URL"] == URL
    description = vevent.description.value
    for part in ("The Long Field", "Riverside Library", "Brief strong language.", URL):
        assert part in description
    assert event["GEO"].latitude == pytest.approx(43.6487)
    assert event["GEO"].longitude == pytest.approx(-79.3817)
    assert event.decoded("LAST-MODIFIED") == datetime(2026, 5, 1, 8, 15, tzinfo=UTC)
    assert event.decoded("DTSTART") == datetime(2026, 7, 15, 23, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 7, 16, 0, 50, tzinfo=UTC)


def test_no_geo_without_coordinates():
    event, _ = only_event(make_invite())
    assert "GEO" not in event


def test_pending_screening_is_tentative_and_partstat_passes_through():
    event, _ = only_event(make_invite(make_screening(status="pending"), partstat="ACCEPTED"))
    assert event["STATUS"] == "TENTATIVE"
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"


def test_uid_is_stable_across_messages_and_feed():
    screening = make_screening()
    request, _ = only_event(make_invite(screening))
    screening.calendar_sequence = 4
    screening.starts_at_utc += timedelta(days=1)
    moved, _ = only_event(make_invite(screening))
    screening.status = "cancelled"
    cancel, _ = only_event(make_invite(screening, method="CANCEL"))
    feed, _ = only_event(make_feed([screening]))

    assert calendar.event_uid(screening, DOMAIN) == "screening-7@screenings.test"
    assert {request["UID"], moved["UID"], cancel["UID"], feed["UID"]} == {
        "screening-7@screenings.test"
    }
    assert (request["SEQUENCE"], moved["SEQUENCE"], cancel["SEQUENCE"]) == (3, 4, 4)


def test_sequence_argument_overrides_the_screening():
    event, _ = only_event(make_invite(sequence=9))
    assert event["SEQUENCE"] == 9


def test_cancel_is_cancelled_with_the_screening_sequence():
    ical = make_invite(make_screening(status="cancelled", calendar_sequence=5), method="CANCEL")
    cal, vcal = parse(ical)
    event, vevent = only_event(ical)

    assert cal["METHOD"] == "CANCEL"
    assert vcal.method.value == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert vevent.status.value == "CANCELLED"
    assert event["SEQUENCE"] == 5
    assert event["UID"] == "screening-7@screenings.test"
    assert event["ORGANIZER"] == "mailto:bookings@screenings.test"
    assert event["ATTENDEE"].params["RSVP"] == "FALSE"


@pytest.mark.parametrize("status", ["cancelled", "rejected"])
def test_no_request_for_a_dead_screening(status):
    with pytest.raises(ValueError, match="send CANCEL"):
        make_invite(make_screening(status=status))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "request"}, "method must be"),
        ({"method": "PUBLISH"}, "method must be"),
        ({"partstat": "ACCEPTED;X=1"}, "partstat must be"),
        ({"attendee_email": "ann@example.org\r\nATTENDEE:mailto:eve@x"}, "CR or LF"),
        ({"url": URL + "\rX-EVIL:1"}, "CR or LF"),
    ],
)
def test_invite_rejects_bad_arguments(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_invite(**overrides)


# -- time zones ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "start", "offset_hours"),
    [
        ("America/Toronto", datetime(2026, 7, 15, 23, 0, tzinfo=UTC), -4),
        ("America/Toronto", datetime(2026, 1, 15, 23, 0, tzinfo=UTC), -5),
        ("Asia/Jerusalem", datetime(2026, 7, 15, 17, 0, tzinfo=UTC), 3),
        ("Asia/Jerusalem", datetime(2026, 1, 15, 17, 0, tzinfo=UTC), 2),
        ("Australia/Sydney", datetime(2026, 1, 15, 8, 0, tzinfo=UTC), 11),
        ("Australia/Sydney", datetime(2026, 7, 15, 8, 0, tzinfo=UTC), 10),
    ],
)
def test_local_time_with_matching_vtimezone(zone, start, offset_hours):
    ical = make_invite(make_screening(timezone=zone, start=start))
    cal, _vcal = parse(ical)
    event, vevent = only_event(ical)
    expected_local = start.astimezone(ZoneInfo(zone)).replace(tzinfo=None)

    assert event["DTSTART"].params["TZID"] == zone
    assert event["DTEND"].params["TZID"] == zone
    assert event["DTSTART"].to_ical().decode() == f"{expected_local:%Y%m%dT%H%M%S}"
    [vtimezone] = cal.walk("VTIMEZONE")
    assert vtimezone["TZID"] == zone
    # Read the offset from the VTIMEZONE's own rules, not from the system's zone database.
    embedded = vtimezone.to_tz(lookup_tzid=False)
    assert embedded.utcoffset(expected_local) == timedelta(hours=offset_hours)
    # vobject resolves DTSTART through the embedded VTIMEZONE too.
    assert vevent.dtstart.value.utcoffset() == timedelta(hours=offset_hours)
    assert vevent.dtstart.value == start


@pytest.mark.parametrize(
    "zone", ["America/Toronto", "Asia/Jerusalem", "Australia/Sydney", "Europe/London"]
)
def test_vtimezone_onsets_are_real_transitions(zone):
    """RFC 5545 3.6.5: DTSTART read with TZOFFSETFROM is the instant the offset changes."""
    ical = calendar._vtimezone(zone, 2025, 2027)
    [vtimezone] = Calendar.from_ical(b"BEGIN:VCALENDAR\r\n" + ical + b"END:VCALENDAR\r\n").walk(
        "VTIMEZONE"
    )
    tz = ZoneInfo(zone)
    onsets = 0
    for observance in vtimezone.subcomponents:
        offset_from = observance["TZOFFSETFROM"].td
        offset_to = observance["TZOFFSETTO"].td
        if offset_from == offset_to:
            continue  # the opening observance: no change
        locals_ = [observance.decoded("DTSTART")]
        if "RDATE" in observance:
            rdates = observance["RDATE"]
            for rdate in rdates if isinstance(rdates, list) else [rdates]:
                locals_ += [moment.dt for moment in rdate.dts]
        for local in locals_:
            instant = (local - offset_from).replace(tzinfo=UTC)
            assert (instant - timedelta(seconds=1)).astimezone(tz).utcoffset() == offset_from
            assert instant.astimezone(tz).utcoffset() == offset_to
            onsets += 1
    assert onsets == 6  # two changes a year for three years


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC"])
def test_utc_zone_uses_z_times_and_no_vtimezone(zone):
    ical = make_invite(make_screening(timezone=zone))
    cal, _ = parse(ical)
    event, vevent = only_event(ical)

    assert b"DTSTART:20260715T230000Z\r\n" in ical
    assert b"DTEND:20260716T005000Z\r\n" in ical
    assert "TZID" not in event["DTSTART"].params
    assert cal.walk("VTIMEZONE") == []
    assert b"TZID" not in ical
    assert vevent.dtstart.value == datetime(2026, 7, 15, 23, 0, tzinfo=UTC)


def test_vtimezone_cache_returns_bytes_and_hits():
    calendar._vtimezone.cache_clear()
    calendar._publish_head.cache_clear()  # a cached head would not ask for the VTIMEZONE
    make_feed([make_screening(id=n) for n in range(5)])
    make_invite()
    info = calendar._vtimezone.cache_info()
    assert info.misses == 1
    assert info.hits == 1
    assert isinstance(calendar._vtimezone("America/Toronto", 2026, 2026), bytes)


# -- feeds --------------------------------------------------------------------------------------


def test_publish_lists_every_screening_with_one_vtimezone_per_zone():
    screenings = [
        make_screening(id=1),
        make_screening(id=2, timezone="Asia/Jerusalem", status="pending"),
        make_screening(id=3, start=datetime(2028, 1, 10, 18, tzinfo=UTC), status="cancelled"),
        make_screening(id=4, timezone="UTC"),
    ]
    ical = make_feed(screenings, name="Riverside, all screenings", stamp=STAMP)
    cal, vcal = parse(ical)

    assert "METHOD" not in cal  # plain data, not an iTIP message (see calendar._publish_head)
    assert vcal.x_wr_calname.value == "Riverside, all screenings"
    assert b"\r\nNAME:Riverside\\, all screenings\r\n" in ical
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in ical
    assert b"\r\nX-PUBLISHED-TTL:PT1H\r\n" in ical
    events = {int(event["UID"].split("-")[1].split("@")[0]): event for event in cal.walk("VEVENT")}
    assert sorted(events) == [1, 2, 3, 4]
    assert len(vcal.vevent_list) == 4
    assert {event["URL"] for event in events.values()} == {f"{URL}?id={n}" for n in range(1, 5)}
    assert [events[n]["STATUS"] for n in (1, 2, 3, 4)] == [
        "CONFIRMED",
        "TENTATIVE",
        "CANCELLED",
        "CONFIRMED",
    ]
    assert all(event.decoded("DTSTAMP") == STAMP for event in events.values())
    assert all("ATTENDEE" not in event and "ORGANIZER" not in event for event in events.values())
    assert sorted(tz["TZID"] for tz in cal.walk("VTIMEZONE")) == [
        "America/Toronto",
        "Asia/Jerusalem",
    ]
    # One Toronto VTIMEZONE serves both 2026 (summer) and 2028 (winter).
    toronto = next(tz for tz in cal.walk("VTIMEZONE") if tz["TZID"] == "America/Toronto")
    rules = toronto.to_tz(lookup_tzid=False)
    assert rules.utcoffset(datetime(2026, 7, 15, 19)) == timedelta(hours=-4)  # noqa: DTZ001 a wall time the VTIMEZONE's rules place
    assert rules.utcoffset(datetime(2028, 1, 10, 13)) == timedelta(hours=-5)  # noqa: DTZ001 a wall time the VTIMEZONE's rules place
    vstarts = {v.uid.value: v.dtstart.value for v in vcal.vevent_list}
    assert vstarts["screening-3@screenings.test"] == datetime(2028, 1, 10, 18, tzinfo=UTC)
    assert_wire_format(ical)


def test_publish_of_nothing_is_a_valid_empty_calendar():
    cal, vcal = parse(make_feed([]))
    assert "METHOD" not in cal
    assert cal.walk("VEVENT") == []
    assert cal.walk("VTIMEZONE") == []
    assert vcal.name == "VCALENDAR"


def test_publish_stamps_each_call_and_reflects_changes():
    screening = make_screening()
    first, _ = only_event(make_feed([screening], stamp=STAMP))
    screening.organization_name = "Riverside Public Library"
    later = STAMP + timedelta(hours=1)
    second, _ = only_event(make_feed([screening], stamp=later))

    assert first.decoded("DTSTAMP") == STAMP
    assert second.decoded("DTSTAMP") == later
    assert first["SUMMARY"] == "The Long Field – Riverside Library"
    assert second["SUMMARY"] == "The Long Field – Riverside Public Library"


# -- wire format and hostile text ---------------------------------------------------------------


def test_long_multibyte_description_folds_on_character_boundaries():
    advisory = "סרט תיעודי על אהבה ואובדן 🎬🍿❤️ " * 12
    ical = make_invite(make_screening(content_advisory=advisory, title="שדה ארוך 🎞️"))
    assert_wire_format(ical)
    assert max(len(line) for line in ical.split(b"\r\n")) > 60  # folding actually happened
    assert any(line.startswith(b" ") for line in ical.split(b"\r\n"))
    event, vevent = only_event(ical)
    assert advisory in str(event["DESCRIPTION"])
    assert advisory in vevent.description.value
    assert vevent.summary.value == "שדה ארוך 🎞️ – Riverside Library"


INJECTIONS = [
    "Evil\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil@x\r\nSUMMARY:Injected",
    "Evil\nX-INJECTED:1",
    "Evil\rX-INJECTED:1",
    "Evil\r\n X-INJECTED:folded",
    "Semi;colon, comma\\ backslash \\n \\N not-a-newline",
    'Quote " and ^ caret: colon',
    "END:VCALENDAR",
]


def _after_roundtrip(text: str) -> str:
    """What icalendar promises back: each CRLF, LF or lone CR becomes one newline.

    icalendar also reads a literal backslash-N in text as a line break (RFC 5545's escaped N).
    """
    return text.replace("\\N", "\n").replace("\r\n", "\n").replace("\r", "\n")


def _lines(ical: bytes) -> list[bytes]:
    return ical.split(b"\r\n")


@pytest.mark.parametrize("text", INJECTIONS)
def test_typed_text_cannot_inject_into_an_invite(text):
    screening = make_screening(organization_name=text, venue_name=text, city=text)
    ical = make_invite(screening, attendee_name=text, organizer_name=text)
    assert_wire_format(ical)
    _cal, _vcal = parse(ical)
    event, vevent = only_event(ical)

    assert _lines(ical).count(b"BEGIN:VEVENT") == 1
    assert _lines(ical).count(b"END:VEVENT") == 1
    assert _lines(ical).count(b"END:VCALENDAR") == 1
    for line in _lines(ical):
        assert not line.startswith((b"X-INJECTED", b"UID:evil"))
    assert "X-INJECTED" not in event
    assert event["UID"] == "screening-7@screenings.test"
    assert vevent.uid.value == "screening-7@screenings.test"
    expected = _after_roundtrip(text)
    assert event["SUMMARY"] == f"The Long Field – {expected}"
    assert vevent.summary.value == f"The Long Field – {expected}"
    assert vevent.location.value.startswith(f"{expected}, 1 Queen St W, {expected} ON")
    # Parameters use RFC 6868 escaping, where a backslash is just a backslash.
    expected_cn = text.replace("\r\n", "\n").replace("\r", "\n")
    assert event["ATTENDEE"].params["CN"] == expected_cn
    assert event["ORGANIZER"].params["CN"] == expected_cn
    assert event["ATTENDEE"] == "mailto:ann@example.org"
    assert len(vevent.attendee_list) == 1


@pytest.mark.parametrize("text", INJECTIONS)
def test_typed_text_cannot_inject_into_a_feed(text):
    screenings = [make_screening(id=1, title=text), make_screening(id=2, organization_name=text)]
    ical = make_feed(screenings, name=text)
    assert_wire_format(ical)
    cal, vcal = parse(ical)

    assert len(cal.walk("VEVENT")) == 2
    assert len(vcal.vevent_list) == 2
    assert _lines(ical).count(b"BEGIN:VEVENT") == 2
    assert "X-INJECTED" not in cal
    assert vcal.x_wr_calname.value == _after_roundtrip(text)
    summaries = sorted(v.summary.value for v in vcal.vevent_list)
    expected = _after_roundtrip(text)
    assert summaries == sorted([f"{expected} – Riverside Library", f"The Long Field – {expected}"])


# -- links --------------------------------------------------------------------------------------


def _query(link: str) -> dict[str, str]:
    query = parse_qs(urlsplit(link).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in query.values())
    return {key: values[0] for key, values in query.items()}


def test_google_link_has_utc_dates_and_encoded_text():
    screening = make_screening(organization_name="Books & Films; #1?", timezone="Asia/Jerusalem")
    link = calendar.google_calendar_link(screening, url=URL + "?a=1&b=2")

    assert link.startswith("https://calendar.google.com/calendar/render?")
    assert "dates=20260715T230000Z/20260716T005000Z" in link
    query = _query(link)
    assert set(query) == {"action", "text", "dates", "details", "location"}
    assert query["action"] == "TEMPLATE"
    assert query["text"] == "The Long Field – Books & Films; #1?"
    assert query["dates"] == "20260715T230000Z/20260716T005000Z"
    assert query["details"].endswith(URL + "?a=1&b=2")
    assert "Brief strong language." in query["details"]
    assert query["location"] == "Main Hall, 1 Queen St W, Toronto ON M5H 2N2, Canada"
    assert " " not in link
    assert "\n" not in link


def test_a_pages_add_event_links_are_the_single_links():
    """add_event_links makes a page's three links with their words found once: each is the
    link google_calendar_link or outlook_calendar_link gives alone."""
    screening = make_screening(organization_name="Books & Films", timezone="Asia/Jerusalem")
    place = SimpleNamespace(**{**vars(screening), "street_address": ""})  # a guest-only street
    links = calendar.add_event_links(screening, url=URL, place=place)
    assert links == {
        "google": calendar.google_calendar_link(screening, url=URL, place=place),
        "outlook": calendar.outlook_calendar_link(screening, url=URL, place=place),
        "outlook_office": calendar.outlook_calendar_link(
            screening, url=URL, place=place, account="office"
        ),
    }
    assert links["outlook_office"].startswith("https://outlook.office.com/")


def test_outlook_link_has_utc_iso_times_and_compose_path():
    screening = make_screening(organization_name="Books & Films\r\nX", timezone="Asia/Jerusalem")
    link = calendar.outlook_calendar_link(screening, url=URL)

    assert link.startswith("https://outlook.live.com/calendar/0/deeplink/compose?")
    query = _query(link)
    assert query["startdt"] == "2026-07-15T23:00:00Z"
    assert query["enddt"] == "2026-07-16T00:50:00Z"
    assert query["subject"] == "The Long Field – Books & Films\r\nX"
    assert query["path"] == "/calendar/action/compose"
    assert query["rru"] == "addevent"
    assert query["body"].endswith(URL)
    assert query["location"] == "Main Hall, 1 Queen St W, Toronto ON M5H 2N2, Canada"
    assert "\r" not in link
    assert "\n" not in link
