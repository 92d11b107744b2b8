"""Licence rules per film: each rule both ways through the booking form, a combination,
the producer's film page, trusted hosts and the re-check after an edit."""

from __future__ import annotations

import json

import pytest
from markupsafe import escape
from sqlalchemy import select

from screenings.models import Film, Screening, ScreeningChange, TrustedHost
from screenings.services import rules
from screenings.services.bookings import update_booking

from . import producer_helpers
from .conftest import booking_data, future_date, submit
from .factories import booking_details, make_screening

producer = producer_helpers.producer  # the fixture, logged in on `client`


def _in_words(day) -> str:
    """A date as English pages write it (the house style, day first): "25 December 2027"."""
    return f"{day.day} {day:%B} {day.year}"


def _film_with(db, settings: dict, *, auto: bool = True, approval: bool = True) -> Film:
    film = db.session.get(Film, 1)
    film.requires_approval = approval
    film.auto_approve_compliant = auto
    rules.save_settings(film, settings)
    db.session.commit()
    return film


def _last(db) -> Screening:
    return db.session.scalar(select(Screening).order_by(Screening.id.desc()))


# (rule settings, form entries that meet it, entries that break it, words of the broken rule)
CASES = {
    "max_audience": (
        {"max_audience": 100},
        {"expected_audience": "100"},
        {"expected_audience": "150"},
        "Expected audience 150 is above the film's limit of 100.",
    ),
    "countries_allowed": (
        {"countries_allowed": ["CA", "GB"]},
        {},
        {"country": "US", "timezone": "America/New_York"},
        "United States is not among the countries this film may be screened in.",
    ),
    "countries_excluded": (
        {"countries_excluded": ["US"]},
        {},
        {"country": "US", "timezone": "America/New_York"},
        "The film may not be screened in United States.",
    ),
    "organization_types": (
        {"organization_types": ["school", "faith_community"]},
        {},
        {"organization_type": "cinema", "listing": "public"},
        "The film may not be hosted by this type of organization (Cinema).",
    ),
    "venue_kinds": (
        {"venue_kinds": ["worship", "indoor_hall"]},
        {"venue_kind": "worship"},
        {"venue_kind": "outdoor"},
        "The film may not be shown in this kind of venue (Outdoor).",
    ),
    "min_notice_days": (
        {"min_notice_days": 14},
        {"start_date": future_date(14).isoformat()},
        {"start_date": future_date(5).isoformat()},
        "The film needs at least 14 days of notice; this booking gives 5.",
    ),
    "blackout_dates": (
        {"blackout_dates": [future_date(30).isoformat()]},
        {"start_date": future_date(31).isoformat()},
        {"start_date": future_date(30).isoformat()},
        f"{_in_words(future_date(30))} is a date on which the film may not be screened.",
    ),
    "per_org_month": (
        {"per_org_month": 1},
        {"organization_name": "Another Congregation", "contact_email": "other@example.net"},
        {},
        "This would be screening 2 this month for this organization; the film allows 1.",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_rule_met_is_approved_at_once(name, book, db, smtp):
    settings, good, _bad, words = CASES[name]
    _film_with(db, settings)
    if name == "per_org_month":
        make_screening(start_date=future_date(30))  # this organization's first this month
    page = book(**good).get_data(as_text=True)
    screening = _last(db)
    assert screening.status == "approved", page
    assert str(escape(words)) not in page
    assert "differs from the film" not in page


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_rule_broken_goes_to_the_queue_in_words(name, book, db, smtp):
    settings, _good, bad, words = CASES[name]
    _film_with(db, settings)
    if name == "per_org_month":
        make_screening(start_date=future_date(30))
        smtp.clear()
    page = book(**bad).get_data(as_text=True)
    screening = _last(db)
    assert screening.status == "pending"
    assert str(escape(words)) in page  # on the result page
    (message,) = smtp.wait_for(1)
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert words in text  # in the organizer's "pending" e-mail
    assert str(escape(words)) in html


def test_a_combination_lists_every_broken_rule_for_organizer_and_producer(
    client, producer, db, smtp
):
    _film_with(db, {"max_audience": 50, "venue_kinds": ["cinema"], "countries_excluded": ["US"]})
    page = submit(
        client,
        "/book",
        booking_data(expected_audience="80", venue_kind="private_home"),
        follow_redirects=True,
    ).get_data(as_text=True)
    assert _last(db).status == "pending"
    expected = (
        "Expected audience 80 is above the film's limit of 50.",
        "The film may not be shown in this kind of venue (Private home).",
    )
    for words in expected:
        assert str(escape(words)) in page
    assert "may not be screened in" not in page  # the rule it meets is not listed
    (message,) = [m for m in smtp.wait_for(2) if m["To"].addresses[0].username == "miriam"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert all(words in text for words in expected)

    queue = client.get("/producer/approvals").get_data(as_text=True)
    assert "Breaks 2 licence rules" in queue
    assert all(str(escape(words)) in queue for words in expected)


def test_without_auto_approval_a_compliant_booking_still_waits(book, db, smtp):
    _film_with(db, {"max_audience": 500}, auto=False)
    page = book().get_data(as_text=True)
    assert _last(db).status == "pending"
    assert "differs from the film" not in page


def test_film_page_edits_rules_with_errors_beside_fields(client, producer, db):
    from .test_producer_films import _film_form

    bad = submit(
        client,
        "/producer/films/1",
        _film_form(rule_countries_allowed="CA, XX", rule_blackout_dates="next tuesday"),
    )
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert 'id="rule_countries_allowed-error"' in page
    assert "Unknown country codes: XX." in page
    assert 'id="rule_blackout_dates-error"' in page
    assert 'value="CA, XX"' in page  # the entries come back

    day = future_date(40).isoformat()
    good = submit(
        client,
        "/producer/films/1",
        _film_form(
            requires_approval="y",
            auto_approve_compliant="y",
            rule_max_audience="300",
            rule_countries_allowed="ca, gb",
            rule_venue_kinds=["worship", "classroom"],
            rule_blackout_dates=day,
        ),
        follow_redirects=True,
    )
    assert good.status_code == 200
    film = db.session.get(Film, 1)
    db.session.refresh(film)
    assert film.auto_approve_compliant
    assert json.loads(film.rules_json) == {
        "blackout_dates": [day],
        "countries_allowed": ["CA", "GB"],
        "max_audience": 300,
        "venue_kinds": ["classroom", "worship"],
    }
    page = good.get_data(as_text=True)
    assert 'value="300"' in page  # shown again, pre-filled
    terms = client.get("/book").get_data(as_text=True)
    assert "The expected audience is at most 300 people." in terms
    assert "Screenings only in: Canada, United Kingdom." in terms
    assert f"No screenings on: {_in_words(future_date(40))}." in terms


def test_approve_and_trust_skips_review_until_revoked(client, producer, db, smtp):
    _film_with(db, {"max_audience": 200}, auto=False)
    first = make_screening(contact_email="Miriam@Example.org")
    assert first.status == "pending"
    queue = client.get("/producer/approvals")
    assert "Approve and trust" in queue.get_data(as_text=True)
    submit(
        client,
        f"/producer/screenings/{first.id}/approve-and-trust",
        {},
        form_url="/producer/approvals",
    )
    db.session.refresh(first)
    assert first.status == "approved"
    host = db.session.scalar(select(TrustedHost))
    assert (host.kind, host.value) == ("email", "miriam@example.org")

    assert make_screening(contact_email="miriam@example.org").status == "approved"
    # The exact e-mail, not its domain (the producer did not choose the domain).
    assert make_screening(contact_email="rabbi@example.org").status == "pending"
    # A trusted host's booking that breaks a rule still waits.
    assert make_screening(expected_audience=900).status == "pending"

    page = client.get("/producer/approvals").get_data(as_text=True)
    assert "Stop trusting miriam@example.org" in page
    submit(client, f"/producer/trusted-hosts/{host.id}/revoke", {}, form_url="/producer/approvals")
    assert db.session.scalar(select(TrustedHost)) is None
    assert make_screening(contact_email="miriam@example.org").status == "pending"


def test_trusting_the_domain_only_when_chosen(client, producer, db, smtp):
    _film_with(db, {}, auto=False)
    first = make_screening(contact_email="office@shul.example")
    submit(
        client,
        f"/producer/screenings/{first.id}/approve-and-trust",
        {"whole_domain": "y"},
        form_url="/producer/approvals",
    )
    assert db.session.scalar(select(TrustedHost.value)) == "shul.example"
    assert make_screening(contact_email="rabbi@shul.example").status == "approved"
    assert make_screening(contact_email="rabbi@shul.example.net").status == "pending"


def test_a_reviewer_cannot_trust_a_host(client, db, smtp):
    from screenings.services.producers import create_producer

    _film_with(db, {}, auto=False)
    screening = make_screening()
    create_producer("reviewer@example.org", "reviewer password 123", role="reviewer")
    producer_helpers.log_in(client, "reviewer@example.org", "reviewer password 123")
    response = submit(
        client,
        f"/producer/screenings/{screening.id}/approve-and-trust",
        {},
        form_url="/producer/approvals",
    )
    assert response.status_code == 403
    assert db.session.scalar(select(TrustedHost)) is None


def test_an_edit_is_checked_again_against_the_rules(db, smtp):
    _film_with(db, {"max_audience": 200}, approval=False)
    screening = make_screening()
    assert screening.status == "approved"
    update_booking(
        screening,
        booking_details(expected_audience=450),
        actor="organizer:miriam@example.org",
    )
    entry = db.session.scalar(
        select(ScreeningChange).where(
            ScreeningChange.screening_id == screening.id,
            ScreeningChange.action == "rules not met after a change",
        )
    )
    assert entry is not None
    assert "Expected audience 450 is above the film's limit of 200." in entry.details_json
