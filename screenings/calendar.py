"""Every iCalendar object Screenings emits: iMIP invites and cancellations, and published feeds.

One builder, so UID, SEQUENCE, STATUS and VTIMEZONE rules live in one place (RFC 5545, 5546,
6047). Functions take plain objects with a screening's attributes, so they need no database.
Text goes through icalendar's escaping (>= 7.3 also neutralises CR, LF and a lone CR), which is
what keeps typed text from injecting properties or components. One quirk of that escaping: a
literal backslash-N in typed text comes out as a line break.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vCalAddress, vDDDLists, vDDDTypes, vText

PRODID = "-//Screenings//Screenings//EN"
METHODS = ("REQUEST", "CANCEL")
PARTSTATS = ("NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED")

# Screening status -> VEVENT STATUS for published feeds; a REQUEST never goes out for the last two.
_EVENT_STATUS = {
    "pending": "TENTATIVE",
    "approved": "CONFIRMED",
    "cancelled": "CANCELLED",
    "rejected": "CANCELLED",
}
_BEGIN_VEVENT = b"BEGIN:VEVENT\r\n"
_END_VCALENDAR = b"END:VCALENDAR\r\n"


def event_uid(screening: Any, domain: str) -> str:
    """The VEVENT UID: fixed for the screening's life so clients update rather than duplicate."""
    return f"screening-{screening.id}@{domain}"


def invite(
    screening: Any,
    *,
    method: str,
    url: str,
    organizer_email: str,
    organizer_name: str,
    attendee_email: str,
    attendee_name: str,
    domain: str,
    partstat: str = "NEEDS-ACTION",
    sequence: int | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """An iTIP REQUEST or CANCEL for one attendee, to attach to an iMIP e-mail (RFC 6047)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if partstat not in PARTSTATS:
        raise ValueError(f"partstat must be one of {PARTSTATS}, not {partstat!r}")
    if method == "REQUEST":
        if screening.status not in ("pending", "approved"):
            raise ValueError(f"no REQUEST for a {screening.status} screening; send CANCEL")
        status = "TENTATIVE" if screening.status == "pending" else "CONFIRMED"
    else:
        status = "CANCELLED"

    facts = _facts(
        screening,
        url=url,
        domain=domain,
        status=status,
        sequence=screening.calendar_sequence if sequence is None else sequence,
    )
    event = _event(facts)
    event.add("DTSTAMP", _utc(stamp or datetime.now(UTC)))
    organizer = vCalAddress(f"mailto:{organizer_email}")
    organizer.params["CN"] = organizer_name
    event.add("ORGANIZER", organizer)
    attendee = vCalAddress(f"mailto:{attendee_email}")
    attendee.params["CN"] = attendee_name
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["PARTSTAT"] = partstat
    attendee.params["RSVP"] = "TRUE" if method == "REQUEST" else "FALSE"
    event.add("ATTENDEE", attendee)

    calendar = _calendar(method)
    _add_timezones(calendar, {_tzid(event): (facts.first_year, facts.last_year)})
    calendar.add_component(event)
    return calendar.to_ical(sorted=False)


def publish(
    screenings: Iterable[Any],
    *,
    name: str,
    url_for: Callable[[Any], str],
    domain: str,
    stamp: datetime | None = None,
) -> bytes:
    """A METHOD:PUBLISH calendar of the screenings, for .ics downloads and subscribed feeds."""
    # Serializing a VEVENT is most of the cost of a big feed, so each one is cached as bytes
    # without its DTSTAMP (the only per-call property), which is spliced in here.
    dtstamp = b"DTSTAMP:" + vDDDTypes(_utc(stamp or datetime.now(UTC))).to_ical() + b"\r\n"
    events: list[bytes] = []
    years: dict[str | None, tuple[int, int]] = {}
    for screening in screenings:
        facts = _facts(
            screening,
            url=url_for(screening),
            domain=domain,
            status=_EVENT_STATUS[screening.status],
            sequence=screening.calendar_sequence,
        )
        body, tzid = _vevent_ical(facts)
        events.append(_BEGIN_VEVENT + dtstamp + body[len(_BEGIN_VEVENT) :])
        seen = years.get(tzid)
        years[tzid] = (
            (facts.first_year, facts.last_year)
            if seen is None
            else (min(seen[0], facts.first_year), max(seen[1], facts.last_year))
        )
    calendar = _calendar("PUBLISH")
    # X- properties default to an unescaped value type in icalendar; say this one is TEXT.
    calendar.add("X-WR-CALNAME", vText(name))
    _add_timezones(calendar, years)
    head = calendar.to_ical(sorted=False).removesuffix(_END_VCALENDAR)
    return b"".join([head, *events, _END_VCALENDAR])


def google_calendar_link(screening: Any, *, url: str) -> str:
    """A Google Calendar 'add event' link, for people who won't download an .ics file."""
    fmt = "%Y%m%dT%H%M%SZ"
    dates = f"{_utc(screening.starts_at_utc):{fmt}}/{_utc(screening.ends_at_utc):{fmt}}"
    params = {
        "action": "TEMPLATE",
        "text": _summary(screening),
        "dates": dates,
        "details": _description(screening, url),
        "location": _location(screening),
    }
    return "https://calendar.google.com/calendar/render?" + _query(params)


def outlook_calendar_link(screening: Any, *, url: str) -> str:
    """An Outlook.com 'add event' link, the Outlook counterpart of google_calendar_link."""
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    params = {
        "subject": _summary(screening),
        "startdt": f"{_utc(screening.starts_at_utc):{fmt}}",
        "enddt": f"{_utc(screening.ends_at_utc):{fmt}}",
        "body": _description(screening, url),
        "location": _location(screening),
        "path": "/calendar/action/compose",
        "rru": "addevent",
    }
    return "https://outlook.live.com/calendar/0/deeplink/compose?" + _query(params)


# -- building blocks ----------------------------------------------------------------------------


def _calendar(method: str) -> Calendar:
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", method)
    return calendar


class _Facts(NamedTuple):
    """Everything a VEVENT says apart from DTSTAMP and attendees: the key of its cached bytes."""

    uid: str
    sequence: int
    status: str
    timezone: str
    starts_at_utc: datetime
    ends_at_utc: datetime
    first_year: int  # local years the event touches, for the VTIMEZONE's range
    last_year: int
    summary: str
    location: str
    geo: tuple[float, float] | None
    url: str
    description: str
    created: datetime | None
    last_modified: datetime | None


def _facts(screening: Any, *, url: str, domain: str, status: str, sequence: int) -> _Facts:
    zone = ZoneInfo(screening.timezone)
    latitude = getattr(screening, "latitude", None)
    longitude = getattr(screening, "longitude", None)
    created_at = getattr(screening, "created_at", None)
    updated_at = getattr(screening, "updated_at", None) or created_at
    return _Facts(
        uid=event_uid(screening, domain),
        sequence=sequence,
        status=status,
        timezone=screening.timezone,
        starts_at_utc=_utc(screening.starts_at_utc),
        ends_at_utc=_utc(screening.ends_at_utc),
        first_year=screening.starts_at_utc.astimezone(zone).year,
        last_year=screening.ends_at_utc.astimezone(zone).year,
        summary=_summary(screening),
        location=_location(screening),
        geo=(
            None if latitude is None or longitude is None else (float(latitude), float(longitude))
        ),
        url=url,
        description=_description(screening, url),
        created=None if created_at is None else _utc(created_at),
        last_modified=None if updated_at is None else _utc(updated_at),
    )


def _event(facts: _Facts) -> Event:
    """The VEVENT for facts, without DTSTAMP, ORGANIZER or ATTENDEE."""
    zone = ZoneInfo(facts.timezone)
    event = Event()
    event.add("UID", facts.uid)
    event.add("SEQUENCE", facts.sequence)
    # icalendar writes TZID=<zone> here, or a bare UTC 'Z' time for UTC and its equivalents.
    event.add("DTSTART", facts.starts_at_utc.astimezone(zone))
    event.add("DTEND", facts.ends_at_utc.astimezone(zone))
    event.add("SUMMARY", facts.summary)
    event.add("LOCATION", facts.location)
    if facts.geo is not None:
        event.add("GEO", facts.geo)
    event.add("URL", facts.url)
    event.add("DESCRIPTION", facts.description)
    if facts.created is not None:
        event.add("CREATED", facts.created)
    if facts.last_modified is not None:
        event.add("LAST-MODIFIED", facts.last_modified)
    event.add("STATUS", facts.status)
    return event


@lru_cache(maxsize=50_000)
def _vevent_ical(facts: _Facts) -> tuple[bytes, str | None]:
    """The serialized VEVENT for facts (no DTSTAMP) and the TZID it uses; bytes can't be mutated."""
    event = _event(facts)
    return event.to_ical(sorted=False), _tzid(event)


def _summary(screening: Any) -> str:
    return f"{screening.film.title} – {screening.organization_name}"


def _location(screening: Any) -> str:
    parts = (
        screening.venue_name,
        screening.street_address,
        screening.city,
        screening.region,
        screening.postal_code,
        screening.country,
    )
    return ", ".join(part.strip() for part in parts if part and part.strip())


def _description(screening: Any, url: str) -> str:
    film = screening.film
    lines = [film.title, f"Hosted by {screening.organization_name}"]
    if getattr(film, "runtime_minutes", None):
        lines.append(f"Runtime: {film.runtime_minutes} minutes")
    if film.content_advisory:
        lines.append(f"Content advisory: {film.content_advisory}")
    lines += ["", url]
    return "\n".join(lines)


def _utc(moment: datetime) -> datetime:
    """An aware UTC datetime from an aware one or a naive UTC one (the ``*_at`` columns)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _query(params: dict[str, str]) -> str:
    return urlencode(params, quote_via=quote, safe="/:")


def _tzid(event: Event) -> str | None:
    """The TZID icalendar wrote on DTSTART; None when it chose a UTC 'Z' time."""
    return event["DTSTART"].params.get("TZID")


def _add_timezones(calendar: Calendar, years: dict[str | None, tuple[int, int]]) -> None:
    """Add one VTIMEZONE per TZID the events use, covering their years (none for UTC)."""
    for tzid in sorted(tzid for tzid in years if tzid is not None):
        first, last = years[tzid]
        calendar.add_component(Timezone.from_ical(_vtimezone(tzid, first, last)))


@lru_cache(maxsize=512)
def _vtimezone(tzid: str, first_year: int, last_year: int) -> bytes:
    """The serialized VTIMEZONE for tzid over whole years; bytes, so no caller mutates the cache.

    icalendar's ``Timezone.from_tzid`` gives the onset of an observance that starts in a gap
    (spring forward) as the first wall time *after* the gap, e.g. 03:00 for 02:00 EST -> 03:00
    EDT. RFC 5545 (3.6.5) reads DTSTART with TZOFFSETFROM, so that would put the change an hour
    late; shift those onsets back by the size of the gap.
    """
    timezone = Timezone.from_tzid(
        tzid, first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1)
    )
    for observance in timezone.subcomponents:
        gap = observance["TZOFFSETTO"].td - observance["TZOFFSETFROM"].td
        if gap <= timedelta(0):
            continue
        observance["DTSTART"] = vDDDTypes(observance.decoded("DTSTART") - gap)
        rdates = observance.get("RDATE")
        if rdates is not None:
            moments = [
                moment.dt - gap
                for rdate in (rdates if isinstance(rdates, list) else [rdates])
                for moment in rdate.dts
            ]
            observance["RDATE"] = vDDDLists(moments)
    return timezone.to_ical()
