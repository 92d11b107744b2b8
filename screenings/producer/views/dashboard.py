"""Upcoming screenings: the dashboard (filters, sorting, pages) and its CSV."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import cachetools
from flask import Response, abort, render_template, request
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup

from ...caching import cached_page
from ...formatting import bdi, format_datetime
from ...models import utcnow
from ...places import country_name
from ...services import DomainError, exports
from ...services import dashboard as board
from ...urls import id_links
from ...views import kept_parts, macro_of
from .. import bp
from ..forms import ScreeningFilterForm
from .base import csv_download, producer_zone, time_in_zone


def _filters(
    options: dict | None = None, today: date | None = None
) -> tuple[ScreeningFilterForm, board.ScreeningFilter, dict]:
    """The filter form from the query string; invalid entries fall back to the defaults
    (from `today`, UTC's by default; the films and countries of `options`, else read)."""
    form = ScreeningFilterForm(formdata=request.args if request.args else None)
    options = options or board.filter_choices()
    form.set_choices(options["films"], options["countries"], country_name)
    form.validate()
    default = board.ScreeningFilter.upcoming(today)
    given = "date_from" in request.args or "date_to" in request.args
    filters = board.ScreeningFilter(
        film_id=form.film.data if not form.film.errors else None,
        country=(form.country.data or "") if not form.country.errors else "",
        status=form.status.data if not form.status.errors else "active",
        date_from=form.date_from.data if given else default.date_from,
        date_to=form.date_to.data if given else default.date_to,
        q=(form.q.data or "") if not form.q.errors else "",
        sort=form.sort.data if not form.sort.errors else "starts_at",
        descending=bool(form.desc.data),
        page=form.page.data if (form.page.data and not form.page.errors) else 1,
    )
    if not given:
        form.date_from.data, form.date_to.data = filters.date_from, filters.date_to
    return form, filters, options


# The filters and the fields' markup by everything they are made of (see _kept_filters).
_FILTERED: cachetools.LRUCache = cachetools.LRUCache(maxsize=64)
_FILTERED_LOCK = threading.Lock()


def _kept_filters() -> tuple[board.ScreeningFilter, Markup]:
    """The filters the query string asks for and the form's fields showing them, worked out
    once per query string, language, day (the defaults: the next 90 days) and option lists
    (the films and countries kept per change: board.filter_choices), and kept: a form of
    eight fields built, validated and rendered was a fifth of a cold dashboard, the same on
    every visit."""
    options = board.filter_choices()
    today = utcnow().date()
    key = (
        str(get_locale() or "en"),
        tuple(request.args.items(multi=True)),
        today,
        options["films"],
        options["countries"],
    )
    with _FILTERED_LOCK:
        found = _FILTERED.get(key)
    if found is None:
        form, filters, _options = _filters(options, today)
        rendered = render_template("producer/_filters.html", form=form)
        fields = Markup(rendered)  # noqa: S704 # nosec B704: an autoescaped template output
        found = (filters, fields)
        with _FILTERED_LOCK:
            _FILTERED[key] = found
    return found


@dataclass(slots=True)
class _Line:
    """One row of the table as it is shown, worded here rather than cell by cell by the
    template's filters (each a call that looked up the language again)."""

    venue_time: str
    timezone: str
    your_time: str
    film: Markup
    link: str
    organization: Markup
    city: Markup
    country: str
    status: str
    seats_taken: int
    capacity: int
    licence_number: str


def _rows(rows: list[board.BoardRow]) -> Markup:
    """The table's rows, each rendered once per row (every column it shows, read with it),
    language and producer zone, and kept (views.kept_parts): a row is new when its screening
    changes, so after an RSVP or a decision one row is worded and rendered again, not fifty
    (their words and cells were half of a cold dashboard)."""
    zone = producer_zone()
    link: Callable[[int], str] | None = None

    def render(key: tuple[board.BoardRow, str]) -> Markup:
        nonlocal link
        link = link or id_links("producer.screening", "screening_id")
        line = _line(key[0], str(get_locale() or "en"), zone, link)
        return macro_of("producer/_row.html", "row")(line)

    return kept_parts("producer.dashboard.row", [(row, zone.key) for row in rows], render)


def _line(row: board.BoardRow, locale: str, zone: ZoneInfo, link: Callable[[int], str]) -> _Line:
    return _Line(
        format_datetime(row.local_start_aware, "medium", locale=locale),
        row.timezone,
        time_in_zone(row.starts_at, zone),
        bdi(row.film_title),
        link(row.id),
        bdi(row.organization_name),
        bdi(row.city),
        country_name(row.country, locale),
        row.status,
        row.seats_taken,
        row.capacity,
        row.licence_number or "—",
    )


def _dashboard_version() -> tuple:
    # Times are shown in the producer's zone; the navigation follows the producer's role.
    return (*board.version(), current_user.timezone, current_user.role)


@bp.route("/")
@cached_page(_dashboard_version, per_user=True)
def dashboard() -> str:
    """Upcoming screenings (next 90 days by default), filtered, sorted and paged."""
    filters, filter_fields = _kept_filters()
    page = board.screening_page(filters)
    return render_template(
        "producer/dashboard.html",
        filter_fields=filter_fields,
        page=page,
        rows=_rows(page.items),
        filters=filters,
        counts=board.board_counts(),
    )


@bp.route("/screenings.csv")
def export_screenings() -> Response:
    form, filters, _options = _filters()
    try:
        exports.check_parameters(form, filters)  # before the first byte is sent
    except DomainError as error:
        abort(400, description=error.message)
    return csv_download(exports.screenings_csv(filters), "screenings")
