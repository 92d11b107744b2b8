"""The feed's fast VEVENT writer says byte for byte what icalendar's Event says."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from screenings import calendar
from screenings.places import all_zones

START = datetime(2027, 3, 28, 1, 30)  # noqa: DTZ001 naive UTC (calendar._utc)


def facts(**overrides) -> calendar._Facts:
    values = {
        "uid": "screening-42@screenings.test",
        "sequence": 3,
        "status": "CONFIRMED",
        "timezone": "Europe/Paris",
        "starts_at_utc": calendar._utc(START),
        "ends_at_utc": calendar._utc(START + timedelta(minutes=145)),
        "utc_times": False,
        "summary": "The Killing Roads – Beth Tzedec, Congregation; Toronto",
        "location": "Main Hall, 1700 Bathurst Street, Toronto, Ontario, M5P 3K3, Canada",
        "geo": None,
        "url": "http://screenings.test/screenings/42",
        "description": "Line one\nContent advisory: "
        + "graphic footage; " * 12
        + "\n\nhttp://x/42",
        "created": calendar._utc(START - timedelta(days=40)),
        "last_modified": calendar._utc(START - timedelta(days=3)),
    }
    values.update(overrides)
    return calendar._Facts(**values)


def slow(f: calendar._Facts) -> tuple[bytes, str | None]:
    event = calendar._event(f)
    return event.to_ical(sorted=False), calendar._tzid(event)


@pytest.mark.parametrize("zone", all_zones())
def test_every_zone(zone):
    f = facts(timezone=zone)
    assert calendar._vevent_ical.__wrapped__(f) == slow(f)


@pytest.mark.parametrize(
    "changes",
    [
        {"summary": "Ünïcødé 映画 " * 9, "location": "שדרות רוטשילד 1, תל אביב, IL"},
        {"description": "back\\slash \\N new\r\nline\rlone CR, comma; semi" * 4},
        {"summary": "x" * 74},
        {"summary": "x" * 66 + "\\" + "y" * 20},
        {"summary": "x" * 64 + "," + "y" * 90},
        {"summary": "x" * 63 + "^" + "y" * 160},
        {"summary": "x" * 65 + "," + "y" * 160},
        {"summary": "x" * 65 + "^" + "y" * 160},
        {"location": "x" * 64 + ";" + "y" * 70 + ",z" * 40},
        {"description": ("ab;," * 40)},
        {"geo": (43.6532, -79.3832)},
        {"created": None, "last_modified": None, "status": "CANCELLED", "sequence": 0},
        {"utc_times": True},
        {"url": "http://screenings.test/" + "a" * 90},
    ],
)
def test_awkward_text(changes):
    f = facts(**changes)
    assert calendar._vevent_ical.__wrapped__(f) == slow(f)
