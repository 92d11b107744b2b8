"""Every iCalendar object Screenings emits: iMIP invites and cancellations, and published feeds.

One builder, so UID, SEQUENCE, STATUS and VTIMEZONE rules live in one place (RFC 5545, 5546,
6047). Functions take plain objects with a screening's attributes, so they need no database.
Text goes through icalendar's escaping (>= 7.3 also neutralises CR, LF and a lone CR), which is
what keeps typed text from injecting properties or components. One quirk of that escaping: a
literal backslash-N in typed text comes out as a line break.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from flask_babel import force_locale, get_locale, gettext
from icalendar import Calendar, Event, Timezone, vCalAddress, vDuration, vText
from icalendar.parser import Contentline

from .models import film_text
from .places import place_lines

PRODID = "-//Screenings//Screenings//EN"
METHODS = ("REQUEST", "CANCEL")
# How often a subscribed calendar should fetch a feed again (RFC 7986 REFRESH-INTERVAL, and
# X-PUBLISHED-TTL for Outlook and Apple Calendar, which read that one).
FEED_REFRESH = timedelta(hours=1)
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
    about: str = "",
) -> bytes:
    """An iTIP REQUEST or CANCEL for one attendee, to attach to an iMIP e-mail (RFC 6047).

    ``place`` is what LOCATION and GEO say (services/visibility.py decides how much the
    attendee may learn); without it, the screening's own address. ``about`` is put into
    DESCRIPTION (the organizer's words about the event, for a guest who read them)."""
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
        about=about,
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
    _add_timezones(calendar, [_tzid(event)])
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
    """A subscribed feed of the screenings: a named calendar that asks to be refreshed.

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


def download(
    screening: Any,
    *,
    url: str,
    domain: str,
    stamp: datetime | None = None,
    place_of: Callable[[Any], Any] | None = None,
) -> bytes:
    """One screening as an .ics file to open: no calendar name, so Outlook for Windows adds
    the event to the open calendar instead of creating a new calendar for it (MS-OXCICAL
    reads X-WR-CALNAME as "this is a calendar of its own")."""
    event = published_event(
        screening,
        url=url,
        domain=domain,
        place=None if place_of is None else place_of(screening),
        stamp=stamp,
    )
    return download_event(event, timezone=screening.timezone)


def download_event(event: bytes, *, timezone: str) -> bytes:
    """A VEVENT made by ``published_event`` (one kept, say) as the .ics file ``download``
    makes of its screening in ``timezone``."""
    return b"".join(publish_events([event], name=None, timezones=[timezone]))


def publish_chunks(
    screenings: Iterable[Any],
    *,
    name: str | None,
    url_for: Callable[[Any], str],
    domain: str,
    stamp: datetime | None = None,
    place_of: Callable[[Any], Any] | None = None,
) -> Iterator[bytes]:
    """``publish`` in pieces (the head, then one VEVENT at a time), so a feed of tens of
    thousands of screenings can be compressed as it is written instead of held whole.

    The VTIMEZONEs come first, so the zones are read in a first pass over ``screenings``
    (a sequence, then). ``name`` None is a single download rather than a feed (see
    ``download``); a feed builder keeps each event (``published_event``) and calls
    ``publish_events``.
    """
    events = (
        published_event(
            screening,
            url=url_for(screening),
            domain=domain,
            place=None if place_of is None else place_of(screening),
            stamp=stamp,
        )
        for screening in screenings
    )
    return publish_events(
        events, name=name, timezones=(screening.timezone for screening in screenings)
    )


def published_event(
    screening: Any,
    *,
    url: str,
    domain: str,
    place: Any = None,
    language: str | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """One screening's VEVENT as a feed or a download publishes it: the same bytes for the
    same screening and film rows, place, language and link, so a feed builder may keep them
    (services/feeds.py ``EventKeys``) and compress runs of them once.

    Its DTSTAMP is ``revised_at`` (from the rows), not the time of the build: in a calendar
    without METHOD, RFC 5545 3.8.7.2 makes DTSTAMP the time the information was last revised.
    ``stamp`` overrides it (tests). ``language`` None is the one text a feed shares with all
    its readers (it is cached); a language code writes the text in that language."""
    dtstamp = b"DTSTAMP:" + _ical_utc(stamp or revised_at(screening)).encode() + b"\r\n"
    if language is not None:
        with force_locale(language):
            body = _published_event(screening, url, domain, place, localized=True)
    else:
        body = _published_event(screening, url, domain, place, localized=False)
    return _BEGIN_VEVENT + dtstamp + body[len(_BEGIN_VEVENT) :]


def revised_at(screening: Any) -> datetime:
    """When what a screening's event shows was last revised: the later of its row's and its
    film's ``updated_at`` (its ``created_at`` if it has no ``updated_at``; now for a stand-in
    with neither). Both rows' versions key a kept event, so its bytes stay its rows'."""
    film = getattr(screening, "film", None)
    times = [
        moment
        for moment in (
            getattr(screening, "updated_at", None) or getattr(screening, "created_at", None),
            getattr(film, "updated_at", None),
        )
        if moment is not None
    ]
    return max(_utc(moment) for moment in times) if times else datetime.now(UTC)


def _published_event(
    screening: Any, url: str, domain: str, place: Any, *, localized: bool
) -> bytes:
    facts = _facts(
        screening,
        url=url,
        domain=domain,
        status=_EVENT_STATUS[screening.status],
        sequence=screening.calendar_sequence,
        localized=localized,
        place=place,
    )
    return _vevent_ical(facts)[0]


def publish_events(
    events: Iterable[bytes], *, name: str | None, timezones: Iterable[str]
) -> Iterator[bytes]:
    """The published calendar of VEVENTs made by ``published_event``, in pieces: the head
    with a VTIMEZONE for each of ``timezones`` (read first), each event as it is, then the
    end (PUBLISHED_END)."""
    yield published_head(name, timezones)
    yield from events
    yield PUBLISHED_END


def published_head(name: str | None, timezones: Iterable[str]) -> bytes:
    """What a published calendar says before its events: its name (None: a download) and a
    VTIMEZONE for each zone in ``timezones`` that has one."""
    tzids = {tzid for timezone in timezones if (tzid := _zone_tzid(timezone)) is not None}
    return _publish_head(name, tuple(sorted(tzids)), _zone_window())


# What a published calendar ends with, after its last event.
PUBLISHED_END = _END_VCALENDAR


@lru_cache(maxsize=256)
def _publish_head(name: str | None, tzids: tuple[str, ...], window: tuple[int, int]) -> bytes:
    """The calendar's head and VTIMEZONEs, up to its first VEVENT: the same for every download
    of screenings in the same zones, and most of the cost of a one-event file.

    No METHOD: RFC 5545 makes it optional, and a calendar without one is plain data rather
    than an iTIP message. ``METHOD:PUBLISH`` would make RFC 5546 require an ORGANIZER on
    every event (libical reports each one that lacks it), and an ORGANIZER in a public feed
    would publish a mailbox and make clients offer to e-mail it. Invites keep their METHOD.
    """
    calendar = _calendar(None)
    if name is not None:
        # RFC 7986's NAME and the older X-WR-CALNAME that Apple, Google and Outlook read;
        # X- properties default to an unescaped value type in icalendar: say this one is TEXT.
        calendar.add("NAME", vText(name))
        calendar.add("X-WR-CALNAME", vText(name))
        calendar.add("REFRESH-INTERVAL", FEED_REFRESH, parameters={"VALUE": "DURATION"})
        calendar.add("X-PUBLISHED-TTL", vDuration(FEED_REFRESH))
    head = calendar.to_ical(sorted=False).removesuffix(_END_VCALENDAR)
    # The kept VTIMEZONEs as they are, which is what icalendar writes when _add_timezones
    # parses them into the calendar (tests/test_feeds.py): each feed of a build names its
    # own calendar, so a parse per zone and feed was most of a build's head.
    return head + b"".join(_vtimezone(tzid, *window) for tzid in tzids)


def webcal_url(url: str) -> str:
    """A feed's address for "Subscribe" links: ``webcal://`` makes Apple Calendar, Outlook
    and Thunderbird subscribe (and refresh) instead of importing a one-time copy."""
    return urlunsplit(("webcal", *urlsplit(url)[1:]))


def subscribe_links(url: str, *, name: str) -> dict[str, str]:
    """Links that subscribe to any feed (all, per film, per country, near me): ``webcal://``
    for desktop and phone apps, and the pages where Google Calendar, Outlook.com and Outlook
    for work or school accounts (Microsoft 365) add a calendar from the web. The feed's
    address travels whole, percent-encoded, in each page's query."""
    return {
        "webcal": webcal_url(url),
        "google": "https://calendar.google.com/calendar/r?"
        + _query_value({"cid": webcal_url(url)}),
        "outlook": _OUTLOOK["live"]
        + "/calendar/0/addfromweb?"
        + _query_value({"url": url, "name": name}),
        "outlook_office": _OUTLOOK["office"]
        + "/calendar/0/addfromweb?"
        + _query_value({"url": url, "name": name}),
    }


def google_calendar_link(screening: Any, *, url: str, place: Any = None) -> str:
    """A Google Calendar 'add event' link, for people who won't download an .ics file."""
    return _google_link(screening, _EventWords.of(screening, url, place))


def outlook_calendar_link(
    screening: Any, *, url: str, place: Any = None, account: str = "live"
) -> str:
    """An Outlook 'add event' link, the Outlook counterpart of google_calendar_link:
    ``account`` "live" for Outlook.com, "office" for work or school accounts."""
    return _outlook_link(screening, _EventWords.of(screening, url, place), account)


def add_event_links(screening: Any, *, url: str, place: Any = None) -> dict[str, str]:
    """The Google, Outlook.com and Outlook (work or school) 'add event' links of a page, as
    google_calendar_link and outlook_calendar_link make them, their words made once."""
    words = _EventWords.of(screening, url, place)
    return {
        "google": _google_link(screening, words),
        "outlook": _outlook_link(screening, words, "live"),
        "outlook_office": _outlook_link(screening, words, "office"),
    }


def add_event_links_key(screening: Any, *, url: str, place: Hashable) -> tuple:
    """Everything add_event_links(screening, url=url, place=place) reads, the language
    aside (its caller's kept part holds that): the same key, the same links."""
    film = screening.film
    return (
        url,
        film.title,
        film.runtime_minutes,
        film.content_advisory,
        film.translations_json,
        screening.organization_name,
        screening.starts_at_utc,
        screening.ends_at_utc,
        place,
    )


class _EventWords(NamedTuple):
    """What every 'add event' link says of a screening: its title, text and place."""

    summary: str
    description: str
    location: str

    @classmethod
    def of(cls, screening: Any, url: str, place: Any) -> _EventWords:
        return cls(
            _summary(screening), _description(screening, url), location_text(place or screening)
        )


def _google_link(screening: Any, words: _EventWords) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    dates = f"{_utc(screening.starts_at_utc):{fmt}}/{_utc(screening.ends_at_utc):{fmt}}"
    params = {
        "action": "TEMPLATE",
        "text": words.summary,
        "dates": dates,
        "details": words.description,
        "location": words.location,
    }
    return "https://calendar.google.com/calendar/render?" + _query(params)


# Outlook on the web: personal (Outlook.com) and work or school (Microsoft 365) accounts.
_OUTLOOK = {"live": "https://outlook.live.com", "office": "https://outlook.office.com"}


def _outlook_link(screening: Any, words: _EventWords, account: str) -> str:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    params = {
        "subject": words.summary,
        "startdt": f"{_utc(screening.starts_at_utc):{fmt}}",
        "enddt": f"{_utc(screening.ends_at_utc):{fmt}}",
        "body": words.description,
        "location": words.location,
        "path": "/calendar/action/compose",
        "rru": "addevent",
    }
    return _OUTLOOK[account] + "/calendar/0/deeplink/compose?" + _query(params)


# -- building blocks ----------------------------------------------------------------------------


def _calendar(method: str | None) -> Calendar:
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    if method is not None:
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
    # Written as UTC times rather than local ones: see _needs_utc_times.
    utc_times: bool
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
    about: str = "",
) -> _Facts:
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
        utc_times=_needs_utc_times(
            screening.timezone, _utc(screening.starts_at_utc), _utc(screening.ends_at_utc)
        ),
        summary=_summary(screening),
        location=location_text(place, localized=localized),
        geo=(
            None if latitude is None or longitude is None else (float(latitude), float(longitude))
        ),
        url=url,
        description=_description(screening, url, localized=localized, about=about),
        created=None if created_at is None else _utc(created_at),
        last_modified=None if updated_at is None else _utc(updated_at),
    )


def _event(facts: _Facts) -> Event:
    """The VEVENT for facts, without DTSTAMP, ORGANIZER or ATTENDEE."""
    zone = UTC if facts.utc_times else _zone(facts.timezone)
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
    tzid = None if facts.utc_times else _zone_tzid(facts.timezone)
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


def location_text(place: Any, *, localized: bool = True) -> str:
    """A place on one line, as LOCATION says it (and guests' change e-mails)."""
    # The country by name: an ISO code at the end reads as a US state (IL, CA, IN).
    locale = str(get_locale() or "en") if localized else "en"
    return ", ".join(place_lines(place, locale))


def _untranslated(message: str, **variables: Any) -> str:
    return message % variables


def _description(screening: Any, url: str, *, localized: bool = True, about: str = "") -> str:
    """The event's text: in the current language for one person (an invite, a link),
    in English for a published feed; ``about`` (the organizer's words) after the film's."""
    _ = gettext if localized else _untranslated
    film = screening.film
    lines = [film.title, _("Hosted by %(name)s", name=screening.organization_name)]
    if getattr(film, "runtime_minutes", None):
        lines.append(_("Runtime: %(n)s minutes", n=film.runtime_minutes))
    if film.content_advisory:
        # Film, a feed's row of film columns, or a stand-in without translations.
        translations = getattr(film, "translations_json", "") if localized else ""
        locale = str(get_locale() or "en")
        advisory = film_text(film.content_advisory, translations, "content_advisory", locale)
        lines.append(_("Content advisory: %(text)s", text=advisory))
    if about:
        lines += ["", about]
    lines += ["", url]
    return "\n".join(lines)


def _utc(moment: datetime) -> datetime:
    """An aware UTC datetime from an aware one or a naive UTC one (the ``*_at`` columns)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _query(params: dict[str, str]) -> str:
    return urlencode(params, quote_via=quote, safe="/:")


def _query_value(params: dict[str, str]) -> str:
    """A query whose values are percent-encoded whole (``:`` and ``/`` too): a URL carried
    inside another URL."""
    return urlencode(params, quote_via=quote, safe="")


def _tzid(event: Event) -> str | None:
    """The TZID icalendar wrote on DTSTART; None when it chose a UTC 'Z' time."""
    return event["DTSTART"].params.get("TZID")


def _needs_utc_times(timezone: str, starts_at_utc: datetime, ends_at_utc: datetime) -> bool:
    """Whether an event's times must be written in UTC rather than as local times.

    A local time in the hour repeated when clocks go back names two instants: RFC 5545 says
    the first, libical, ical.js and khal take the second, so one booking starting there and
    ending inside it would end before it starts for some readers. A UTC time means one
    instant to every reader. So does a time outside the years the VTIMEZONEs cover, which
    keeps one TZID's definition the same in every object (see ``_zone_window``).
    """
    first, last = _zone_window()
    zone = _zone(timezone)
    for moment in (starts_at_utc, ends_at_utc):
        local = moment.astimezone(zone)
        if not first <= local.year <= last:
            return True
        if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
            return True
    return False


def _zone_window() -> tuple[int, int]:
    """The years every VTIMEZONE covers: last year to the end of the year after the furthest
    a booking may be made (three years ahead), so one TZID has one definition everywhere."""
    year = datetime.now(UTC).year
    return year - 1, year + 4


def zone_years() -> tuple[int, int]:
    """The years the VTIMEZONEs cover now: what a kept VEVENT depends on besides its data
    (an event outside them is written in UTC; see ``_needs_utc_times``)."""
    return _zone_window()


def _add_timezones(calendar: Calendar, tzids: Iterable[str | None]) -> None:
    """Add one VTIMEZONE per TZID the events use (none for UTC)."""
    first, last = _zone_window()
    for tzid in sorted({tzid for tzid in tzids if tzid is not None}):
        calendar.add_component(Timezone.from_ical(_vtimezone(tzid, first, last)))


@lru_cache(maxsize=512)
def _vtimezone(tzid: str, first_year: int, last_year: int) -> bytes:
    """The serialized VTIMEZONE for tzid over whole years, read from zoneinfo's transitions;
    bytes, so no caller mutates the cache.

    Written here rather than by icalendar's ``Timezone.from_tzid``, which drops Morocco's
    Ramadan change of 2029 (Africa/Casablanca, Africa/El_Aaiun would be an hour out for five
    weeks) and gives a spring-forward onset as the first wall time after the gap. Each onset
    is the local time just before the change, read with TZOFFSETFROM (RFC 5545 3.6.5); the
    first observance opens the window. Observances alike in kind, offsets and name share
    one component, the later onsets as RDATEs.
    """
    zone = _zone(tzid)
    start = int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(last_year + 1, 1, 1, tzinfo=UTC).timestamp())
    opening = _zone_state(zone, start)
    groups: dict[tuple, list[datetime]] = {}
    groups[(opening[1], opening[0], opening[0], opening[2])] = [
        datetime.fromtimestamp(start, UTC).replace(tzinfo=None) + opening[0]
    ]
    for moment, before, after in _transitions(zone, start, end):
        key = (after[1], before[0], after[0], after[2])
        onset = datetime.fromtimestamp(moment, UTC).replace(tzinfo=None) + before[0]
        groups.setdefault(key, []).append(onset)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tzid}"]
    for (daylight, offset_from, offset_to, name), onsets in sorted(
        groups.items(), key=lambda item: item[1][0]
    ):
        kind = "DAYLIGHT" if daylight else "STANDARD"
        lines += [f"BEGIN:{kind}", f"DTSTART:{onsets[0]:%Y%m%dT%H%M%S}"]
        lines += [f"RDATE:{onset:%Y%m%dT%H%M%S}" for onset in onsets[1:]]
        if name:
            lines.append(_ical_text("TZNAME", name))
        lines += [
            f"TZOFFSETFROM:{_ical_offset(offset_from)}",
            f"TZOFFSETTO:{_ical_offset(offset_to)}",
            f"END:{kind}",
        ]
    lines += ["END:VTIMEZONE", ""]
    return "\r\n".join(lines).encode()


def _zone_state(zone: ZoneInfo, moment: int) -> tuple[timedelta, bool, str]:
    """(UTC offset, daylight saving or not, abbreviation) in a zone at a UNIX time."""
    local = datetime.fromtimestamp(moment, zone)
    return local.utcoffset() or timedelta(0), bool(local.dst()), local.tzname() or ""


def _transitions(zone: ZoneInfo, start: int, end: int) -> Iterator[tuple[int, tuple, tuple]]:
    """Each change of a zone's state between two UNIX times: (first second of the new state,
    state before, state after). Read a week at a time, then to the second: no zone changes
    twice in a week (tests/test_calendar_judges.py checks every offered zone)."""
    week = 7 * 86400
    state = _zone_state(zone, start)
    moment = start
    while moment < end:
        following = min(moment + week, end)
        if _zone_state(zone, following) == state:
            moment = following
            continue
        low, high = moment, following  # state at low, a new one by high
        while high - low > 1:
            middle = (low + high) // 2
            if _zone_state(zone, middle) == state:
                low = middle
            else:
                high = middle
        after = _zone_state(zone, high)
        yield high, state, after
        state, moment = after, high


def _ical_offset(offset: timedelta) -> str:
    """A UTC-OFFSET value: +HHMM, or +HHMMSS when there are seconds."""
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{seconds:02d}" if seconds else "")
