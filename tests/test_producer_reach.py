"""Reach: report requests (CLI), the organizer's report, charts as SVG, CSV exports."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET

from sqlalchemy import select

from screenings.models import Screening, ScreeningReport

from . import producer_helpers
from .conftest import submit
from .factories import make_screening
from .producer_helpers import bulk_screenings, make_past

REPORT_LINK = re.compile(r"http://screenings\.test(/manage/[A-Za-z0-9_-]{20,}/report)")
SVG = "{http://www.w3.org/2000/svg}"

producer = producer_helpers.producer  # the fixture, logged in on `client`


def test_report_request_is_emailed_once_after_the_screening(runner, db, smtp):
    past = make_screening(contact_email="past@example.org")
    make_past(past)
    make_screening(contact_email="future@example.org")
    smtp.clear()

    first = runner.invoke(args=["reports", "request"])
    assert first.exit_code == 0, first.output
    assert "requested 1 report(s)" in first.output
    # The command also flushes the outbox: the two licences queued above go out too.
    messages = _report_requests(smtp.wait_for(3))
    assert [m["To"].addresses[0].addr_spec for m in messages] == ["past@example.org"]
    assert REPORT_LINK.search(messages[0].get_body(("plain",)).get_content())
    assert db.session.get(Screening, past.id).report_requested_at is not None

    again = runner.invoke(args=["reports", "request"])
    assert "requested 0 report(s)" in again.output
    assert len(_report_requests(smtp.messages)) == 1


def _report_requests(messages) -> list:
    return [m for m in messages if m["Subject"].startswith("How did your screening")]


def test_organizer_reports_through_the_link(client, runner, db, smtp):
    screening = make_screening()
    make_past(screening)
    runner.invoke(args=["reports", "request"])
    (message,) = _report_requests(smtp.wait_for(2))
    path = REPORT_LINK.search(message.get_body(("plain",)).get_content()).group(1)

    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    bad = submit(client, path, {"actual_attendance": "-3", "feedback": "x"})
    assert bad.status_code == 422
    response = submit(
        client,
        path,
        {
            "actual_attendance": "87",
            "feedback": "A long, moving discussion afterwards.",
            "quote": "Nobody left before the end.",
        },
    )
    assert response.status_code == 302
    report = db.session.scalar(select(ScreeningReport))
    assert (report.actual_attendance, report.quote) == (87, "Nobody left before the end.")
    submit(client, path, {"actual_attendance": "90", "feedback": "", "quote": ""})
    db.session.refresh(report)
    assert report.actual_attendance == 90
    assert db.session.scalar(select(db.func.count(ScreeningReport.id))) == 1


def test_report_form_waits_for_the_screening(client, db):
    from screenings.capabilities import manage_token

    screening = make_screening()
    response = client.get(f"/manage/{manage_token(screening)}/report")
    assert response.status_code == 302
    assert client.get("/manage/not-a-real-token/report").status_code == 404


def _svgs(html: str) -> list[ET.Element]:
    """The charts (the world map is tests/test_map.py's)."""
    return [ET.fromstring(svg) for svg in re.findall(r"<svg [^>]*chart-svg.*?</svg>", html, re.S)]


def test_reach_charts_are_svg_with_the_numbers(client, producer, db):
    bulk_screenings(25)
    reported = make_screening(organization_type="university", expected_audience=80)
    make_past(reported, days_ago=1)
    db.session.add(ScreeningReport(screening_id=reported.id, actual_attendance=64))
    db.session.commit()

    response = client.get("/producer/reach")
    html = response.get_data(as_text=True)
    assert "style=" not in html
    assert "<script>" not in html
    charts = _svgs(html)
    assert len(charts) == 4
    titles = [chart.find(f"{SVG}title").text for chart in charts]
    assert titles[0] == "Licensed screenings per month"
    per_month = charts[0]
    bar_titles = [rect.find(f"{SVG}title").text for rect in per_month.iter(f"{SVG}rect")]
    assert sum(int(t.rsplit(" ", 1)[1]) for t in bar_titles) == 26
    audience = [rect.find(f"{SVG}title").text for rect in charts[1].iter(f"{SVG}rect")]
    assert any(t.endswith("Expected 80") for t in audience)
    assert any(t.endswith("Actual 64") for t in audience)
    countries = {rect.find(f"{SVG}title").text for rect in charts[2].iter(f"{SVG}rect")}
    assert "Canada: 6" in countries  # 5 of the 25 bulk rows, plus the reported one
    assert "University: 1" in {r.find(f"{SVG}title").text for r in charts[3].iter(f"{SVG}rect")}
    for chart in charts:
        for rect in chart.iter(f"{SVG}rect"):
            assert float(rect.get("height")) >= 0
            assert float(rect.get("width")) >= 0


def _csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    response.close()
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_screenings_csv_follows_the_filters_and_defuses_formulas(client, producer, db):
    make_screening(organization_name='=HYPERLINK("http://evil","x")', city="Toronto")
    make_screening(
        organization_name="Lycée Lumière", city="Lyon", country="FR", timezone="Europe/Paris"
    )
    make_screening(
        organization_name="@SUM(A1)",
        contact_name="-2+3",
        city="Paris",
        country="FR",
        timezone="Europe/Paris",
    )

    rows = _csv(client.get("/producer/screenings.csv"))
    assert len(rows) == 3
    by_city = {row["city"]: row for row in rows}
    assert by_city["Toronto"]["organization"] == '\'=HYPERLINK("http://evil","x")'
    assert by_city["Paris"]["organization"] == "'@SUM(A1)"
    assert by_city["Paris"]["contact_name"] == "'-2+3"
    assert by_city["Lyon"]["organization"] == "Lycée Lumière"
    assert by_city["Lyon"]["licence_number"].startswith("TKR-")

    french = _csv(client.get("/producer/screenings.csv?country=FR&sort=city"))
    assert [row["city"] for row in french] == ["Lyon", "Paris"]


def test_reports_csv(client, producer, db):
    screening = make_screening()
    make_past(screening)
    db.session.add(
        ScreeningReport(
            screening_id=screening.id,
            actual_attendance=40,
            feedback="Great, thanks",
            quote="+1 would screen again",
        )
    )
    db.session.commit()
    (row,) = _csv(client.get("/producer/reports.csv"))
    assert row["actual_attendance"] == "40"
    assert row["expected_audience"] == "120"
    assert row["feedback"] == "Great, thanks"
    assert row["quote"] == "'+1 would screen again"
    assert row["licence_number"] == screening.current_licence.number
