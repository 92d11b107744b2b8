"""Holiday and Shabbat warnings for a screening's date and place (never blocking).

Shabbat runs from Friday's sunset to Saturday's nightfall (the sun 8.5° below the horizon) at
the venue, computed by astral from its coordinates: the screening's own, else the city in the
offline gazetteer (places.py), else the reference point
of its time zone in the tz database's zone.tab. Jewish holidays come from the Hebrew calendar
of ``holidays`` (Israel's list: Rosh Hashanah, Yom Kippur, Sukkot, Simchat Torah, Pesach,
Shavuot), each from the evening before; public holidays from ``holidays`` for the venue's
country and, when the region names one, its subdivision; Easter and Christmas (with Christmas
Eve's evening); Ramadan evenings and both Eids from the Umm al-Qura dates ``holidays`` ships for
Saudi Arabia (where the moon is sighted locally, the day may differ by one).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from astral import Observer
from astral.sun import dusk, sunset
from dateutil.easter import easter
from flask_babel import gettext as _

from ..models import Screening
from ..places import (
    city_point,
    country_name,
    localized_date,
    venue_time_to_utc,
)

if TYPE_CHECKING:  # imported on first use (_country_holidays); named here for its type
    import holidays

NIGHTFALL_DEPRESSION = 8.5
JEWISH_HOLIDAYS = ("Rosh Hashanah", "Yom Kippur", "Sukkot", "Simchat Torah", "Pesach", "Shavuot")


# ---------------------------------------------------------------- where the venue is
def _iso6709(text: str, degree_digits: int) -> float:
    sign = -1 if text[0] == "-" else 1
    digits = text[1:]
    degrees = int(digits[:degree_digits])
    minutes = int(digits[degree_digits : degree_digits + 2])
    seconds = int(digits[degree_digits + 2 :] or 0)
    return sign * (degrees + minutes / 60 + seconds / 3600)


@cache
def _zone_points() -> dict[str, tuple[float, float]]:
    """Each IANA zone's reference point, from zone.tab (e.g. +4339-07923 for Toronto)."""
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    points = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        _code, where, zone, *_rest = line.split("\t")
        split = max(where.rfind("+"), where.rfind("-"))
        lat, lon = where[:split], where[split:]
        points[zone] = (_iso6709(lat, 2), _iso6709(lon, 3))
    return points


def zone_point(zone: str) -> tuple[float, float] | None:
    """The reference point of an IANA zone (its principal city), from zone.tab."""
    return _zone_points().get(zone)


def coordinates(screening: Screening) -> tuple[float, float] | None:
    """The venue's latitude and longitude, as well as we know them offline."""
    if screening.latitude is not None and screening.longitude is not None:
        return screening.latitude, screening.longitude
    return city_point(screening.city, screening.country) or zone_point(screening.timezone)


# ---------------------------------------------------------------- what the day is
def _shabbat(screening: Screening, observer: Observer) -> str | None:
    start = screening.local_start_aware
    end = start + timedelta(minutes=screening.duration_minutes)
    friday = start.date() - timedelta(days=(start.weekday() - 4) % 7)
    if (start.date() - friday).days > 1:
        return None
    try:
        begins = sunset(observer, friday, tzinfo=screening.zone)
        ends = dusk(
            observer,
            friday + timedelta(days=1),
            tzinfo=screening.zone,
            depression=NIGHTFALL_DEPRESSION,
        )
    except ValueError:  # no sunset that day (polar summer or night)
        return None
    if start < ends and begins < end:
        return _(
            "The screening falls during Shabbat at the venue (Friday sunset %(begins)s to "
            "Saturday nightfall %(ends)s).",
            begins=begins.strftime("%H:%M"),
            ends=ends.strftime("%H:%M"),
        )
    return None


def _evening(screening: Screening, observer: Observer | None) -> bool:
    """Whether the screening runs after sunset on its local date."""
    end = screening.local_start_aware + timedelta(minutes=screening.duration_minutes)
    if observer is None:
        return end.hour >= 18
    try:
        return end > sunset(observer, screening.local_start.date(), tzinfo=screening.zone)
    except ValueError:
        return end.hour >= 18


def _country_holidays(
    country: str, *, subdiv: str | None = None, years: int | None = None
) -> holidays.HolidayBase:
    """The holidays library's calendar of a country, imported on first use: 4 MB that the
    delivery worker, the jobs and the feed builder never need."""
    import holidays  # noqa: PLC0415 loaded on first use: most processes never check a date

    return holidays.country_holidays(country, subdiv=subdiv, years=years)


@cache
def _calendar(country: str, subdiv: str | None, year: int) -> dict[date, str]:
    try:
        return dict(_country_holidays(country, subdiv=subdiv, years=year))
    except (NotImplementedError, KeyError):
        return {}


def _subdivision(country: str, region: str) -> str | None:
    try:
        kind = _country_holidays(country)
    except NotImplementedError:
        return None
    region = (region or "").strip()
    if region.upper() in getattr(kind, "subdivisions", ()):
        return region.upper()
    aliases = {name.casefold(): code for name, code in kind.get_subdivision_aliases().items()}
    found = aliases.get(region.casefold())
    return found[0] if isinstance(found, list) else found


def warnings(screening: Screening) -> list[str]:
    """What the screening's date and place coincide with, in words; empty when nothing."""
    day = screening.local_start.date()
    point = coordinates(screening)
    observer = Observer(*point) if point else None
    found: list[str] = []
    if observer is not None and (message := _shabbat(screening, observer)):
        found.append(message)

    israel = {**_calendar("IL", None, day.year), **_calendar("IL", None, day.year + 1)}
    for holiday_day, name in sorted(israel.items()):
        if not any(name.startswith(jewish) for jewish in JEWISH_HOLIDAYS):
            continue
        if holiday_day == day or (
            holiday_day - day == timedelta(days=1) and _evening(screening, observer)
        ):
            found.append(
                _(
                    "%(holiday)s (a Jewish holiday, from the evening before) falls on %(date)s.",
                    holiday=name,
                    date=localized_date(holiday_day, "long"),
                )
            )
            break

    public = _calendar(
        screening.country, _subdivision(screening.country, screening.region), day.year
    )
    if day in public:
        found.append(
            _(
                "%(date)s is %(holiday)s, a public holiday in %(country)s.",
                date=localized_date(day, "long"),
                holiday=public[day],
                country=country_name(screening.country) or screening.country,
            )
        )

    if day == easter(day.year) and day not in public:
        found.append(_("%(date)s is Easter Sunday.", date=localized_date(day, "long")))
    christmas = date(day.year, 12, 25)
    if (day == christmas and day not in public) or (
        day == christmas - timedelta(days=1) and _evening(screening, observer)
    ):
        found.append(_("The screening is on Christmas Eve or Christmas Day."))

    found.extend(_islamic(screening, day, observer))
    return found


def draft(
    day: date,
    clock: time,
    *,
    country: str,
    timezone: str,
    city: str = "",
    region: str = "",
    duration_minutes: int = 120,
) -> Screening:
    """A screening not yet booked, to ask ``warnings`` about (the booking form's live hint):
    transient, never added to the session, so nobody else's booking is looked at.
    Raises places.NonexistentLocalTime for a time the clocks skip."""
    starts_at, _ambiguous = venue_time_to_utc(day, clock, timezone)
    return Screening(
        country=country,
        city=city,
        region=region,
        timezone=timezone,
        local_start=datetime.combine(day, clock),
        starts_at=starts_at,
        duration_minutes=duration_minutes,
    )


def _islamic(screening: Screening, day: date, observer: Observer | None) -> list[str]:
    saudi = {**_calendar("SA", None, day.year), **_calendar("SA", None, day.year + 1)}
    for name, label in (("Eid al-Fitr", _("Eid al-Fitr")), ("Eid al-Adha", _("Eid al-Adha"))):
        days = {d for d, n in saudi.items() if n.startswith(name) and "observed" not in n}
        starts = sorted(d for d in days if d - timedelta(days=1) not in days)
        if name == "Eid al-Fitr":
            fitr = [d for d in starts if d > day]
        if any(0 <= (day - first).days <= 2 for first in starts):
            return [
                _(
                    "%(date)s is during %(holiday)s (the date may differ by a day locally).",
                    date=localized_date(day, "long"),
                    holiday=label,
                )
            ]
    if fitr and (fitr[0] - day).days <= 30 and _evening(screening, observer):
        return [_("The screening is on a Ramadan evening, when many break their fast (iftar).")]
    return []
