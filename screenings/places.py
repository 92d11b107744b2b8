"""Countries, their time zones, and turning a venue's wall-clock time into UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import cache, lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.core import get_global
from babel.dates import get_timezone_location, get_timezone_name


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


# zone.tab lists a country's zones in geographic order, and puts the most populous first
# only where geography allows; where its first is not where most people live, say so here.
MAIN_ZONES = {
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "UZ": "Asia/Tashkent",
}


def zone_tab_order(country: str) -> tuple[str, ...]:
    """A country's zones in zone.tab's own order (most populous first, where it can)."""
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    return tuple(
        line.split("\t")[2]
        for line in text.splitlines()
        if not line.startswith("#") and line.split("\t")[0] == country.upper()
    )


@cache
def main_zone(country: str) -> str | None:
    """The zone most of a country's people live in: preselected on the booking form."""
    zones = zones_for_country(country)
    if not zones:
        return None
    main = MAIN_ZONES.get(country.upper())
    return main if main in zones else zone_tab_order(country)[0]


@cache
def main_zones() -> dict[str, str]:
    """Country code → its main zone, for every country."""
    return {code: main_zone(code) for code in country_zones()}


@cache
def zone_aliases() -> dict[str, str]:
    """Old zone name → the name we list (a browser may still report Europe/Kiev)."""
    listed = set(all_zones())
    return {old: new for old, new in get_global("zone_aliases").items() if new in listed}


def is_uniform_country(country: str) -> bool:
    """Every zone of the country keeps the same clock all year (Germany: Berlin, Büsingen)."""
    year = datetime.now(UTC).year
    instants = [datetime(year, 1, 15, tzinfo=UTC), datetime(year, 7, 15, tzinfo=UTC)]
    offsets = {
        tuple(moment.astimezone(ZoneInfo(zone)).utcoffset() for moment in instants)
        for zone in zones_for_country(country)
    }
    return len(offsets) <= 1


@lru_cache(maxsize=8192)
def zone_label(zone: str, locale: str = "en") -> str:
    """A zone as people name it, from CLDR: "Eastern Time — New York", in the locale."""
    if zone == "UTC":
        return "UTC"
    generic = get_timezone_name(zone, width="long", locale=locale)
    city = get_timezone_location(zone, locale=locale, return_city=True)
    return generic if city in generic else f"{generic} — {city}"


@cache
def zone_choices(locale: str = "en") -> tuple[tuple[str, str], ...]:
    """(zone, label) for every zone, west to east, then by label."""
    moment = datetime.now(UTC).replace(month=1, day=15)

    def key(zone: str):
        return (moment.astimezone(ZoneInfo(zone)).utcoffset(), zone_label(zone, locale))

    return tuple((zone, zone_label(zone, locale)) for zone in sorted(all_zones(), key=key))


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
