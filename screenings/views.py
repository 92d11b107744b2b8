"""What every blueprint's views share: form errors, private pages, headers, error pages."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from functools import wraps
from zoneinfo import ZoneInfo

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import Flask, current_app, g, render_template, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import BadRequest, HTTPException

from .calendar import subscribe_links, webcal_url
from .extensions import db
from .identity import producer_identity
from .labels import ORGANIZATION_TYPES, field_label
from .models import Film, Screening, ScreeningFormat
from .places import (
    country_name,
    country_zones,
    main_zones,
    place_lines,
    start_words,
    utc_offset_label,
    venue_time_to_utc,
    zone_aliases,
    zone_label,
)
from .services import DomainError
from .services.guests import ADDRESS_CHECK_LABELS, HOST_QUESTIONS
from .services.rules import VENUE_KINDS
from .services.visibility import LABELS
from .services.visibility import label as visibility_label
from .urls import external_url


def form_error(form, error: DomainError) -> None:
    """Put a service's refusal beside the field it concerns (or on the form)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def rate_limit_forms() -> str:
    return current_app.config["RATELIMIT_FORMS"]


def rate_limit_login() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def private_page(view):
    """A capability-link page: never cached, never leaks its URL through Referer."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = current_app.make_response(view(*args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return wrapper


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """WSGI middleware: the security headers every response carries, unless a view set its own.

    X-Frame-Options is the old browsers' form of the policy's frame-ancestors, so it is sent
    only when the policy actually sent forbids framing (the embed page's allows it). Done on
    the raw header list, this costs a fraction of werkzeug's header methods on every request.
    """

    def __init__(self, wsgi_app, *, https: bool) -> None:
        self.wsgi_app = wsgi_app
        self.headers = [
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
        ]
        if https:
            self.headers.append(
                ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
            )

    def __call__(self, environ, start_response):
        def add_headers(status, headers, exc_info=None):
            present = {name.lower(): value for name, value in headers}
            policy = present.get("content-security-policy")
            if policy is None:
                headers.append(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
                policy = CONTENT_SECURITY_POLICY
            headers.extend(header for header in self.headers if header[0].lower() not in present)
            if "frame-ancestors 'none'" in policy and "x-frame-options" not in present:
                headers.append(("X-Frame-Options", "DENY"))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, add_headers)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.response is not None:  # the view or its limit made its own answer
            return error.response
        if request.path.startswith("/api/"):
            return {"error": error.name, "description": error.description}, error.code
        return render_template("error.html", error=error), error.code

    @app.errorhandler(DataError)
    def value_out_of_range(error):
        """A value the database refuses (e.g. a number past its column's range): bad input."""
        db.session.rollback()
        app.logger.info("database refused a value: %s", error.orig)
        return render_template("error.html", error=BadRequest()), 400

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(error):
        db.session.rollback()
        app.logger.warning("database unavailable: %s", error)
        # The page must not need the database: the header would look the producer up (or
        # reload the one the rollback just expired), so it is drawn for nobody logged in.
        g._login_user = current_app.login_manager.anonymous_user()
        response = current_app.make_response(
            (render_template("error.html", error=None, unavailable=True), 503)
        )
        response.headers["Retry-After"] = "5"
        return response


def register_template_helpers(app: Flask) -> None:
    """Presentation helpers every template may call."""
    zones_json = json.dumps(country_zones(), separators=(",", ":"))
    zone_defaults_json = json.dumps(
        {"main": main_zones(), "aliases": zone_aliases()}, separators=(",", ":")
    )

    def field_attributes(attrs: dict, described: list[str], errors) -> dict:
        """HTML attributes of an input: its own, plus the ARIA links to hint and error."""
        merged = dict(attrs)
        if described:
            merged["aria-describedby"] = " ".join(described)
        if errors:
            merged["aria-invalid"] = "true"
        return merged

    # Globals rather than a context processor, so imported macros see them too.
    app.jinja_env.globals.update(
        get_locale=get_locale,
        field_attributes=field_attributes,
        country_name=localized_country_name,
        address_line=localized_address_line,
        local_start_display=localized_start_display,
        country_zones_json=lambda: zones_json,
        zone_defaults_json=lambda: zone_defaults_json,
        producer_identity=producer_identity,
        webcal_url=webcal_url,
        subscribe_links=subscribe_links,
        # Absolute links from PUBLIC_BASE_URL, never the request's Host: cached pages hold them.
        external_url=external_url,
        visibility_label=visibility_label,
        readable_changes=readable_changes,
        # A film's synopsis or advisory in the page's (or e-mail's) language, else English.
        film_text=lambda film, name: film.text_in(name, str(get_locale() or "en")),
    )
    app.add_template_filter(plain_delivery_error, "plain_delivery_error")
    app.add_template_filter(format_datetime, "format_datetime")
    app.add_template_filter(format_date, "format_date")
    app.add_template_filter(format_time, "format_time")
    app.add_template_filter(format_number, "format_number")


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


def format_datetime(value: datetime | None, format: str = "medium", zone: str | None = None) -> str:
    """A date and 24-hour time in the locale's style; naive values are UTC, shown in `zone`.

    `format` is the CLDR date length (short, medium, long, full); seconds are never shown.
    """
    if value is None:
        return ""
    value = _in_zone(value, zone)
    locale = Locale.parse(_locale())
    day = babel_dates.format_date(value, format, locale=locale)
    time = babel_dates.format_time(value, "HH:mm", locale=locale)
    glue = str(locale.datetime_formats.get(format, "{1} {0}"))
    return glue.replace("'", "").format(time, day)


def format_time(value: datetime | None, zone: str | None = None, with_zone: bool = False) -> str:
    """A 24-hour time in the locale; naive values are UTC, shown in `zone`, followed by its
    offset from UTC at that moment when asked ("01:30 (UTC−04:00)", as starts are shown)."""
    if value is None:
        return ""
    value = _in_zone(value, zone)
    time = babel_dates.format_time(value, "HH:mm", locale=_locale())
    return f"{time} ({utc_offset_label(value)})" if with_zone else time


def _in_zone(value: datetime, zone: str | None) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(zone)) if zone else value


def format_date(value: date | datetime | None, format: str = "medium") -> str:
    """A calendar date in the locale's style ("10 déc. 2026", "10 בדצמ׳ 2026")."""
    if value is None:
        return ""
    return babel_dates.format_date(value, format, locale=_locale())


def format_number(value: float | int | None) -> str:
    """A number with the locale's digit grouping and decimal sign."""
    if value is None:
        return ""
    return babel_numbers.format_decimal(value, locale=_locale())


def localized_start_display(screening) -> str:
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


def _value_words(name: str, value, zone: str) -> str:
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
        return localized_country_name(value)
    if name == "film_id":
        film = db.session.get(Film, value)
        return film.title if film else str(value)
    if isinstance(value, int):
        return format_number(value)
    return str(value)


def readable_changes(changes: dict, screening=None) -> list[tuple[str, str, str]]:
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


def localized_address_line(place) -> str:
    """A place's address on one line, laid out as its country writes it (places.address_lines),
    as much of it as `place` holds (see services/visibility.py)."""
    return ", ".join(place_lines(place, _locale()))


def localized_country_name(code: str) -> str:
    """A country's name in the current language."""
    return country_name(code, _locale())
