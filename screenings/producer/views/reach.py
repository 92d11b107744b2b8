"""Reach: charts, the world map of past screenings, recent reports and their CSV."""

from __future__ import annotations

from flask import Response, render_template, url_for
from flask_babel import gettext as _

from ... import worldmap
from ...models import utcnow
from ...places import country_name
from ...services import door, exports, maps, reports
from .. import bp
from ..charts import bar_list_chart, column_chart
from .base import csv_download


def reach_charts(stats: reports.Reach) -> dict:
    months = [key for key, _n in stats.per_month]
    return {
        "per_month": column_chart(
            _("Licensed screenings per month"),
            months,
            [(_("Screenings"), "series-a", [n for _k, n in stats.per_month])],
        ),
        "audience": column_chart(
            _("Expected and actual audience (reported screenings)"),
            [key for key, _e, _a in stats.audience],
            [
                (_("Expected"), "series-b", [e for _k, e, _a in stats.audience]),
                (_("Actual"), "series-a", [a for _k, _e, a in stats.audience]),
            ],
        ),
        "countries": bar_list_chart(
            _("Screenings by country"),
            [(country_name(c), n) for c, n, _cities in stats.countries[:15]],
        ),
        "organization_types": bar_list_chart(
            _("Screenings by type of organization"),
            [(t.replace("_", " ").capitalize(), n) for t, n in stats.organization_types],
            css="series-b",
        ),
    }


def _past_in_city(city: maps.CityCount) -> str:
    """The dashboard listing a city's licensed screenings up to today, latest first."""
    return url_for(
        ".dashboard",
        q=city.city,
        country=city.country,
        status="approved",
        date_from="",
        date_to=utcnow().date().isoformat(),
        desc="y",
    )


@bp.route("/reach")
def reach() -> str:
    stats = reports.reach()
    cities = maps.past_by_city()
    recent = reports.recent_reports()
    return render_template(
        "producer/reach.html",
        stats=stats,
        charts=reach_charts(stats),
        recent=recent,
        door_counts=door.checked_in_by_screening([r.screening_id for r in recent]),
        drawing=worldmap.draw(cities, maps.by_country(cities), _past_in_city),
        shapes=worldmap.countries(),
        size=(worldmap.WIDTH, worldmap.HEIGHT),
        map_rows=[(city, _past_in_city(city)) for city in cities],
    )


@bp.route("/reports.csv")
def export_reports() -> Response:
    return csv_download(exports.reports_csv(), "reports")
