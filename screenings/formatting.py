"""Words for people: dates, times, numbers, places, changes and delivery errors, as text.

Templates call these through the Jinja globals and filters views.register_template_helpers
registers; e-mails and services import them from here, never from the web layer.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache

from babel import Locale
from babel import numbers as babel_numbers
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from .extensions import db
from .labels import ORGANIZATION_TYPES, field_label
from .models import Film, Screening, ScreeningFormat, zone_named
from .places import (
    Address,
    babel_locale,
    clock_words,
    country_name,
    date_words,
    localized_date,
    place_lines,
    start_words,
    utc_offset_label,
    venue_time_to_utc,
    zone_label,
)
from .services.guests import ADDRESS_CHECK_LABELS, HOST_QUESTIONS
from .services.rules import VENUE_KINDS
from .services.visibility import LABELS

# What an SMTP failure means, in words for the producer; the raw text stays one click away.
_DELIVERY_ERRORS = (
    (
        ("suppressed:",),
        _l(
            "Not sent: this address bounced permanently before, so we no longer write to it. "
            "Lift it under “Suppressed addresses” once the person has given a working one."
        ),
    ),
    (
        ("bounced permanently",),
        _l(
            "Sent, but the recipient's mail server sent it back: the address does not accept "
            "mail. We no longer write to it."
        ),
    ),
    (
        ("bounced temporarily",),
        _l(
            "Sent, but the recipient's mail server could not deliver it for now (a full "
            "mailbox, for example). We still write to this address."
        ),
    ),
    (
        ("refused", "errno 111", "connection reset"),
        _l(
            "The mail server could not be reached: it may be down, or its address in the "
            "settings may be wrong. We will keep trying."
        ),
    ),
    (
        ("timed out", "timeout"),
        _l("The mail server did not answer in time. We will keep trying."),
    ),
    (
        ("authentication", "535", "534"),
        _l("The mail server did not accept our user name or password. Check the mail settings."),
    ),
    (
        ("recipient", "550", "553", "mailbox"),
        _l("The recipient's mail server refused this address. Check it with the person."),
    ),
    (
        ("name or service not known", "nodename", "getaddrinfo"),
        _l("The mail server's name could not be found. Check the mail settings."),
    ),
    (
        ("451", "421", "try again"),
        _l("The mail server asked us to try again later. We will."),
    ),
)


def plain_delivery_error(raw: str | None) -> str:
    """An outbox message's last error as a sentence for people (producer/outbox.html)."""
    if not raw:
        return ""
    lowered = raw.lower()
    for needles, sentence in _DELIVERY_ERRORS:
        if any(needle in lowered for needle in needles):
            return str(sentence)
    return str(_l("Sending failed. We will keep trying."))


# ---------------------------------------------------------------- locale-aware formatting
# Each reads the current locale, so an e-mail rendered inside force_locale() follows the
# recipient's language, not the language of whoever caused it to be sent.


def _locale() -> str:
    return str(get_locale() or "en")


def format_datetime(
    value: datetime | None,
    format: str = "medium",
    zone: str | None = None,
    locale: str | None = None,
) -> str:
    """A date and 24-hour time in the locale's style; naive values are UTC, shown in `zone`.

    `format` is the CLDR date length (short, medium, long, full); seconds are never shown.
    `locale` is the current one unless given (a page of many found once).
    """
    if value is None:
        return ""
    value = _in_zone(value, zone)
    locale = locale or _locale()
    day = date_words(value, format, locale)
    return _date_time_glue(format, locale).format(clock_words(value), day)


@lru_cache(maxsize=64)
def _date_time_glue(format: str, locale: str) -> str:
    """How the locale joins a date of that length and a time ("{1} {0}"), found once."""
    return str(babel_locale(locale).datetime_formats.get(format, "{1} {0}")).replace("'", "")


def format_time(value: datetime | None, zone: str | None = None, with_zone: bool = False) -> str:
    """A 24-hour time in the locale; naive values are UTC, shown in `zone`, followed by its
    offset from UTC at that moment when asked ("01:30 (UTC−04:00)", as starts are shown)."""
    if value is None:
        return ""
    value = _in_zone(value, zone)
    time = clock_words(value)
    return f"{time} ({utc_offset_label(value)})" if with_zone else time


def _in_zone(value: datetime, zone: str | None) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone_named(zone)) if zone else value


def format_date(value: date | datetime | None, format: str = "medium") -> str:
    """A calendar date in the locale's style ("10 déc. 2026", "10 בדצמ׳ 2026")."""
    if value is None:
        return ""
    return localized_date(value, format)


def plural_samples() -> tuple[tuple[str, int], ...]:
    """One number of each CLDR plural category of the current language, smallest first
    (Hebrew: one 1, two 2, other 0): a page whose script counts (Intl.PluralRules) is given
    the ngettext form of each, and picks by the category of its own count."""
    return _plural_samples(_locale())


@lru_cache(maxsize=16)
def _plural_samples(locale: str) -> tuple[tuple[str, int], ...]:
    """plural_samples for one language, found once (a thousand rule calls), not per page."""
    rule = Locale.parse(locale).plural_form
    found: dict[str, int] = {}
    for number in range(1001):
        found.setdefault(rule(number), number)
    return tuple(sorted(found.items(), key=lambda item: item[1]))


def format_number(value: float | int | None) -> str:
    """A number with the locale's digit grouping and decimal sign."""
    if value is None:
        return ""
    return babel_numbers.format_decimal(value, locale=_locale())


def localized_start_display(screening: Screening) -> str:
    """When a screening starts, at the venue, with its zone, in the current language:
    "jeudi 10 décembre 2026, 19:00 (…)" (places.start_words)."""
    return start_words(screening.local_start_aware, screening.timezone, _locale())


def _yes_no(value: bool) -> str:
    return str(_l("Yes") if value else _l("No"))


def _choice_words() -> dict:
    """The words each choice of a booking field is shown with, by field (its form's options)."""
    return {
        "organization_type": dict(ORGANIZATION_TYPES),
        "venue_kind": dict(VENUE_KINDS),
        "visibility": LABELS,
        "address_check": ADDRESS_CHECK_LABELS,
        "host_question": {"": _l("No question"), **HOST_QUESTIONS},
    }


def _value_words(name: str, value: object, zone: str) -> str:
    """One stored value of a booking field as a person reads it (``zone``: the venue's zone
    that goes with it, for a start)."""
    words = _choice_words().get(name)
    if words is not None and value in words:
        return str(words[value])
    if name == "format_id":
        fmt = db.session.get(ScreeningFormat, value) if value else None
        return fmt.name if fmt else str(_l("Not decided yet"))
    if value is None or value == "":
        return str(_l("none"))
    if isinstance(value, bool):
        return _yes_no(value)
    if name == "local_start":
        local = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        starts_at, _ambiguous = venue_time_to_utc(local.date(), local.time(), zone)
        moment = Screening(starts_at=starts_at.replace(tzinfo=None), timezone=zone)
        return localized_start_display(moment)
    if name == "timezone":
        return zone_label(value, _locale())
    if name in ("country", "organization_country"):
        return localized_country_name(str(value))  # a code, stored as text
    if name == "film_id":
        film = db.session.get(Film, value)
        return film.title if film else str(value)
    if isinstance(value, int):
        return format_number(value)
    return str(value)


def readable_changes(
    changes: dict, screening: Screening | None = None
) -> list[tuple[str, str, str]]:
    """(label, before, now) for each changed booking field ({name: [old, new]}), in the
    current language: the booking form's label, a start at the venue in the zone it had or
    will have, countries by name, choices in the form's words, yes or no."""
    zone = screening.timezone if screening is not None else "UTC"
    zones = changes.get("timezone") or (zone, zone)
    return [
        (
            field_label(name),
            _value_words(name, before, zones[0]),
            _value_words(name, now, zones[1]),
        )
        for name, (before, now) in changes.items()
    ]


def localized_address_line(place: Address) -> str:
    """A place's address on one line, laid out as its country writes it (places.address_lines),
    as much of it as `place` holds (see services/visibility.py)."""
    return ", ".join(place_lines(place, _locale()))


def localized_country_name(code: str) -> str:
    """A country's name in the current language."""
    return country_name(code, _locale())


def bdi(text: object) -> Markup:
    """Someone's own words (a name, a title, a city) isolated inside a sentence, so an English
    name in a Hebrew sentence (or the reverse) keeps its full stops and numbers where they
    belong: ``_("… %(host)s …", host=name|bdi)``. Escaped once, as the sentence is."""
    return _BDI % (text,)  # escapes `text`, like Markup.format without its Formatter


_BDI = Markup("<bdi>%s</bdi>")


# A numbered ("1." "2)") or bulleted line starts a paragraph of its own, as a blank line does.
_PARAGRAPH_START = re.compile(r"^\s*(?:\d+[.)]|[-*\u2022])\s")


def paragraphs(text: str | None) -> list[str]:
    """Text cut into its paragraphs (the numbered terms of a licence), each to be shown as
    an element of its own with dir="auto": a term then starts with its number whatever the
    page's direction. A line that continues the one before stays in its paragraph."""
    found: list[list[str]] = []
    for line in (text or "").splitlines():
        if not line.strip():
            found.append([])
        elif not found or not found[-1] or _PARAGRAPH_START.match(line):
            found.append([line])
        else:
            found[-1].append(line)
    return ["\n".join(lines) for lines in found if lines]
