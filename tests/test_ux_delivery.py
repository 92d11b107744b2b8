"""How the host gets the film: a seeded default format, the producer warned when a film has
none, and the section on the manage page (the booking's confirmation) and licence e-mail."""

from __future__ import annotations

import html as html_lib

from sqlalchemy import func, select

from screenings.models import Film, ScreeningFormat
from screenings.services.films import seed_catalogue

from .producer_helpers import producer  # noqa: F401  (fixture)


def _formats() -> int:
    from screenings.extensions import db

    return db.session.scalar(select(func.count(ScreeningFormat.id)))


def test_the_catalogue_is_seeded_with_one_default_format_once(db):
    assert _formats() == 1
    seed_catalogue()
    seed_catalogue()
    assert _formats() == 1
    fmt = db.session.scalar(select(ScreeningFormat))
    assert (fmt.name, fmt.kind, fmt.is_active) == ("Blu-ray disc", "physical", True)
    # Switched off by the producer: their choice stands, nothing is added back.
    fmt.is_active = False
    db.session.commit()
    seed_catalogue()
    assert _formats() == 1


def test_confirmation_says_how_the_film_comes(book, smtp):
    response = book()
    page = html_lib.unescape(response.get_data(as_text=True))
    assert "/manage/" in response.request.path
    assert "How you'll get the film" in page
    assert "This film comes as: Blu-ray disc." in page
    chosen = book(submission_key=None, venue_name="Other Hall", format_id="1")
    # Licensed at once: the disc is in the fulfilment queue, with its dates.
    assert "Your copy (<bdi>Blu-ray disc</bdi>) will be shipped by" in html_lib.unescape(
        chosen.get_data(as_text=True)
    )
    licence_mails = [m for m in smtp.wait_for(3) if "licence" in str(m["Subject"]).lower()]
    assert licence_mails
    for mail in licence_mails:
        assert "How you'll get the film" in mail.get_body(preferencelist=("html",)).get_content()
        assert "How you'll get the film" in mail.get_body(preferencelist=("plain",)).get_content()


def test_producer_is_warned_of_a_film_without_a_format(client, db, producer):  # noqa: F811
    assert "it has no screening format" not in client.get("/producer/films").get_data(as_text=True)
    for fmt in db.session.scalars(select(ScreeningFormat)):
        fmt.is_active = False
    db.session.commit()
    page = html_lib.unescape(client.get("/producer/films").get_data(as_text=True))
    title = db.session.scalar(select(Film.title))
    assert f"Hosts who book <bdi>{title}</bdi> are not told how they will get the film" in page
