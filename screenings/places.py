"""Countries, their time zones, and turning a venue's wall-clock time into UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import cache, lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale


class NonexistentLocalTime(ValueError):
    """The wall-clock time is skipped by a daylight-saving change in that zone."""


@cache
def country_zones() -> dict[str, tuple[str, ...]]:
    """ISO 3166 country code → its IANA zones, from the tz database's zone.tab."""
    zones: dict[str, list[str]] = {}
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        code, _coordinates, zone, *_ = line.split("\t")
        zones.setdefault(code, []).append(zone)
    return {code: tuple(sorted(names)) for code, names in zones.items()}


@cache
def all_zones() -> tuple[str, ...]:
    return tuple(sorted({zone for zones in country_zones().values() for zone in zones} | {"UTC"}))


def zones_for_country(country: str) -> tuple[str, ...]:
    return country_zones().get(country.upper(), ())


@cache
def countries(locale: str = "en") -> tuple[tuple[str, str], ...]:
    """(code, name) for every country that has a time zone, sorted by name in the locale."""
    names = Locale.parse(locale).territories
    codes = [code for code in country_zones() if code in names]
    return tuple(sorted(((code, names[code]) for code in codes), key=lambda item: item[1]))


@lru_cache(maxsize=4096)
def country_name(code: str, locale: str = "en") -> str:
    """A country's name in the locale (e.g. calendar LOCATIONs); the code if it has none."""
    return Locale.parse(locale).territories.get(code.upper(), code)


def is_zone(name: str) -> bool:
    if name not in all_zones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def venue_time_to_utc(day: date, clock: time, zone_name: str) -> tuple[datetime, bool]:
    """The UTC instant of a local date and time in a zone, and whether it was ambiguous.

    A time skipped by a spring-forward change raises NonexistentLocalTime. A time that
    occurs twice (autumn fall-back) resolves to the first occurrence.
    """
    zone = ZoneInfo(zone_name)
    naive = datetime.combine(day, clock)
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    as_utc = first.astimezone(UTC)
    if as_utc.astimezone(zone).replace(tzinfo=None) != naive:
        raise NonexistentLocalTime(naive.isoformat())
    ambiguous = first.utcoffset() != second.utcoffset()
    return as_utc.replace(tzinfo=None), ambiguous


def utc_offset_label(moment: datetime) -> str:
    """ "UTC+02:00" style label for an aware datetime (uses a real minus sign)."""
    offset = moment.utcoffset()
    if offset is None:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "\u2212"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"
