"""Every iCalendar object Screenings emits: iMIP invites and cancellations, and published feeds.

One builder, so UID, SEQUENCE, STATUS and VTIMEZONE rules live in one place (RFC 5545, 5546,
6047). Functions take plain objects with a screening's attributes, so they need no database.
Text goes through icalendar's escaping (>= 7.3 also neutralises CR, LF and a lone CR), which is
what keeps typed text from injecting properties or components. One quirk of that escaping: a
literal backslash-N in typed text comes out as a line break.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from flask_babel import gettext
from icalendar import Calendar, Event, Timezone, vCalAddress, vDDDLists, vDDDTypes, vText
from icalendar.parser import Contentline

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
    place: Any = None,
) -> bytes:
    """An iTIP REQUEST or CANCEL for one attendee, to attach to an iMIP e-mail (RFC 6047).

    ``place`` is what LOCATION and GEO say (services/visibility.py decides how much the
    attendee may learn); without it, the screening's own address."""
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
        place=place,
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
    place_of: Callable[[Any], Any] | None = None,
) -> bytes:
    """A METHOD:PUBLISH calendar of the screenings, for .ics downloads and subscribed feeds.

    ``place_of(screening)`` gives what each LOCATION and GEO say (see ``invite``)."""
    return b"".join(
        publish_chunks(
            list(screenings),
            name=name,
            url_for=url_for,
            domain=domain,
            stamp=stamp,
            place_of=place_of,
        )
    )


def publish_chunks(
    screenings: Iterable[Any],
    *,
    name: str,
    url_for: Callable[[Any], str],
    domain: str,
    stamp: datetime | None = None,
    spans: Iterable[tuple[str, datetime, datetime]] | None = None,
    place_of: Callable[[Any], Any] | None = None,
) -> Iterator[bytes]:
    """``publish`` in pieces (the head, then one VEVENT at a time), so a feed of tens of
    thousands of screenings can be compressed as it is written instead of held whole.

    The VTIMEZONEs come first, so the zones and years are read before the events: from
    ``spans`` (timezone, start, end in UTC, one per screening) when given, so that both can be
    streamed from the database, else from a first pass over ``screenings`` (then a sequence).
    """
    # Each VEVENT is serialized without its DTSTAMP (the only per-call property), which is
    # spliced in here.
    dtstamp = b"DTSTAMP:" + vDDDTypes(_utc(stamp or datetime.now(UTC))).to_ical() + b"\r\n"
    years: dict[str | None, tuple[int, int]] = {}
    if spans is None:
        spans = ((s.timezone, s.starts_at_utc, s.ends_at_utc) for s in screenings)
    for timezone, starts_at_utc, ends_at_utc in spans:
        zone = _zone(timezone)
        first = _utc(starts_at_utc).astimezone(zone).year
        last = _utc(ends_at_utc).astimezone(zone).year
        tzid = _zone_tzid(timezone)
        seen = years.get(tzid)
        years[tzid] = (first, last) if seen is None else (min(seen[0], first), max(seen[1], last))
    yield _publish_head(name, tuple(sorted(years.items(), key=lambda item: item[0] or "")))
    for screening in screenings:
        facts = _facts(
            screening,
            url=url_for(screening),
            domain=domain,
            status=_EVENT_STATUS[screening.status],
            sequence=screening.calendar_sequence,
            localized=False,  # a feed is shared and cached: one language for all readers
            place=None if place_of is None else place_of(screening),
        )
        body, _tzid_used = _vevent_ical(facts)
        yield _BEGIN_VEVENT + dtstamp + body[len(_BEGIN_VEVENT) :]
    yield _END_VCALENDAR


@lru_cache(maxsize=256)
def _publish_head(name: str, years: tuple[tuple[str | None, tuple[int, int]], ...]) -> bytes:
    """The calendar's head and VTIMEZONEs, up to its first VEVENT: the same for every download
    of screenings in the same zones and years, and most of the cost of a one-event file."""
    calendar = _calendar("PUBLISH")
    # X- properties default to an unescaped value type in icalendar; say this one is TEXT.
    calendar.add("X-WR-CALNAME", vText(name))
    _add_timezones(calendar, dict(years))
    return calendar.to_ical(sorted=False).removesuffix(_END_VCALENDAR)


def google_calendar_link(screening: Any, *, url: str, place: Any = None) -> str:
    """A Google Calendar 'add event' link, for people who won't download an .ics file."""
    fmt = "%Y%m%dT%H%M%SZ"
    dates = f"{_utc(screening.starts_at_utc):{fmt}}/{_utc(screening.ends_at_utc):{fmt}}"
    params = {
        "action": "TEMPLATE",
        "text": _summary(screening),
        "dates": dates,
        "details": _description(screening, url),
        "location": _location(place or screening),
    }
    return "https://calendar.google.com/calendar/render?" + _query(params)


def outlook_calendar_link(screening: Any, *, url: str, place: Any = None) -> str:
    """An Outlook.com 'add event' link, the Outlook counterpart of google_calendar_link."""
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    params = {
        "subject": _summary(screening),
        "startdt": f"{_utc(screening.starts_at_utc):{fmt}}",
        "enddt": f"{_utc(screening.ends_at_utc):{fmt}}",
        "body": _description(screening, url),
        "location": _location(place or screening),
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


def _facts(
    screening: Any,
    *,
    url: str,
    domain: str,
    status: str,
    sequence: int,
    localized: bool = True,
    place: Any = None,
) -> _Facts:
    zone = _zone(screening.timezone)
    place = place or screening  # LOCATION and GEO say only what the caller's place says
    latitude = getattr(place, "latitude", None)
    longitude = getattr(place, "longitude", None)
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
        location=_location(place),
        geo=(
            None if latitude is None or longitude is None else (float(latitude), float(longitude))
        ),
        url=url,
        description=_description(screening, url, localized=localized),
        created=None if created_at is None else _utc(created_at),
        last_modified=None if updated_at is None else _utc(updated_at),
    )


def _event(facts: _Facts) -> Event:
    """The VEVENT for facts, without DTSTAMP, ORGANIZER or ATTENDEE."""
    zone = _zone(facts.timezone)
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


@lru_cache(maxsize=2048)
def _vevent_ical(facts: _Facts) -> tuple[bytes, str | None]:
    """The serialized VEVENT for facts (no DTSTAMP) and the TZID it uses; bytes can't be mutated.

    Written line by line with icalendar's own escaping and folding, which is some thirty times
    faster than building an ``Event`` (a feed of 50,000 screenings builds in seconds, not
    minutes); tests/test_calendar_fast.py holds it byte for byte to ``_event(facts).to_ical()``.
    The cache is small: feeds are cached whole (services/feeds.py), this serves the hot .ics.
    """
    tzid = _zone_tzid(facts.timezone)
    if tzid is None:
        start = "DTSTART:" + _ical_utc(facts.starts_at_utc)
        end = "DTEND:" + _ical_utc(facts.ends_at_utc)
    else:
        zone = _zone(facts.timezone)
        param = f";TZID={tzid}:"
        start = "DTSTART" + param + f"{facts.starts_at_utc.astimezone(zone):%Y%m%dT%H%M%S}"
        end = "DTEND" + param + f"{facts.ends_at_utc.astimezone(zone):%Y%m%dT%H%M%S}"
    lines = [
        "BEGIN:VEVENT",
        _ical_text("UID", facts.uid),
        f"SEQUENCE:{facts.sequence}",
        start,
        end,
        _ical_text("SUMMARY", facts.summary),
        _ical_text("LOCATION", facts.location),
    ]
    if facts.geo is not None:
        lines.append(_ical_fold(f"GEO:{facts.geo[0]};{facts.geo[1]}"))
    lines.append(_ical_fold(f"URL:{facts.url}"))
    lines.append(_ical_text("DESCRIPTION", facts.description))
    if facts.created is not None:
        lines.append("CREATED:" + _ical_utc(facts.created))
    if facts.last_modified is not None:
        lines.append("LAST-MODIFIED:" + _ical_utc(facts.last_modified))
    lines += [f"STATUS:{facts.status}", "END:VEVENT", ""]
    return "\r\n".join(lines).encode(), tzid


def _ical_fold(line: str) -> str:
    """The line folded at 75 octets exactly as icalendar folds it, ASCII without its per-octet
    loop: 74 characters a piece, and an escape's backslash never left at the end of one."""
    if not line.isascii():
        return Contentline(line).to_ical().decode()
    pieces = []
    while len(line) >= 75:
        cut = 73 if line[73] in "\\^" else 74
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return "\r\n ".join(pieces)


def _ical_text(name: str, value: str) -> str:
    return _ical_fold(f"{name}:{vText(value).to_ical().decode()}")


def _ical_utc(moment: datetime) -> str:
    return f"{_utc(moment):%Y%m%dT%H%M%SZ}"


@lru_cache(maxsize=1024)
def _zone(zone_name: str) -> ZoneInfo:
    """ZoneInfo keeps only a few zones alive; a feed of every zone would re-read their files."""
    return ZoneInfo(zone_name)


@lru_cache(maxsize=1024)
def _zone_tzid(zone_name: str) -> str | None:
    """The TZID icalendar writes for a zone, None where it writes UTC 'Z' times instead."""
    event = Event()
    event.add("DTSTART", datetime(2000, 1, 1, 12, tzinfo=ZoneInfo(zone_name)))
    return _tzid(event)


def _summary(screening: Any) -> str:
    return f"{screening.film.title} – {screening.organization_name}"


def _location(place: Any) -> str:
    parts = (
        place.venue_name,
        place.street_address,
        place.city,
        place.region,
        place.postal_code,
        place.country,
    )
    return ", ".join(part.strip() for part in parts if part and part.strip())


def _untranslated(message: str, **variables: Any) -> str:
    return message % variables


def _description(screening: Any, url: str, *, localized: bool = True) -> str:
    """The event's text: in the current language for one person (an invite, a link),
    in English for a published feed."""
    _ = gettext if localized else _untranslated
    film = screening.film
    lines = [film.title, _("Hosted by %(name)s", name=screening.organization_name)]
    if getattr(film, "runtime_minutes", None):
        lines.append(_("Runtime: %(n)s minutes", n=film.runtime_minutes))
    if film.content_advisory:
        lines.append(_("Content advisory: %(text)s", text=film.content_advisory))
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
