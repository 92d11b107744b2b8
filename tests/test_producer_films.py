"""Films (terms versions, approval setting, formats, materials) and the outbox page."""

from __future__ import annotations

from sqlalchemy import select

from screenings.models import Film, LicenceTerms, OutboxMessage, ScreeningFormat
from screenings.outbox import deliver_pending

from . import producer_helpers
from .conftest import submit
from .factories import make_screening

producer = producer_helpers.producer  # the fixture, logged in on `client`


def _film_form(**overrides) -> dict:
    data = {
        "title": "The Killing Roads",
        "code": "TKR",
        "slug": "the-killing-roads",
        "year": "2024",
        "genre": "documentary",
        "director": "Igal Hecht",
        "production_company": "Chutzpa Productions",
        "runtime_minutes": "115",
        "synopsis": "A documentary.",
        "content_advisory": "Graphic footage.",
        "is_active": "y",
        "terms": "1. New terms.",
    }
    data.update(overrides)
    return data


def test_editing_terms_makes_a_new_version_and_issued_licences_keep_theirs(client, producer, db):
    before = make_screening()
    assert before.current_licence.terms.version == 1
    response = submit(client, "/producer/films/1", _film_form(requires_approval="y"))
    assert response.status_code == 302
    film = db.session.get(Film, 1)
    assert film.requires_approval is True
    assert [t.version for t in film.terms_versions] == [1, 2]
    assert before.current_licence.terms.version == 1
    # Saving the same text again adds no version.
    submit(client, "/producer/films/1", _film_form(requires_approval="y"))
    assert db.session.scalar(select(db.func.count(LicenceTerms.id))) == 2
    pending = make_screening(organization_name="After")
    assert pending.status == "pending"  # the approval setting applies to new bookings


def test_add_a_film_with_formats_and_materials(client, producer, db, smtp):
    response = submit(
        client,
        "/producer/films/new",
        _film_form(title="Second Film", code="sec", slug="second-film", terms="Terms v1"),
    )
    assert response.status_code == 302
    film = db.session.scalar(select(Film).where(Film.code == "SEC"))
    assert film.current_terms.text == "Terms v1"
    duplicate = submit(client, "/producer/films/new", _film_form(code="SEC", slug="x-y"))
    assert duplicate.status_code == 422

    edit = f"/producer/films/{film.id}"
    no_url = submit(client, f"{edit}/formats", {"name": "Web", "kind": "download"}, form_url=edit)
    assert no_url.status_code == 422
    submit(
        client,
        f"{edit}/formats",
        {"name": "Web", "kind": "download", "download_url": "https://files.example.org/s.mp4"},
        form_url=edit,
    )
    submit(
        client,
        f"{edit}/materials",
        {"kind": "poster", "label": "Poster", "url": "https://example.org/poster.jpg"},
        form_url=edit,
    )
    fmt = db.session.scalar(select(ScreeningFormat).where(ScreeningFormat.name == "Web"))
    assert (fmt.film_id, fmt.kind) == (film.id, "download")
    page = client.get(edit).get_data(as_text=True)
    assert "https://example.org/poster.jpg" in page

    screening = make_screening(film_id=film.id, format_id=fmt.id)
    deliver_pending()
    (message,) = smtp.wait_for(1)
    text = message.get_body(("plain",)).get_content()
    assert "Poster: https://example.org/poster.jpg" in text
    assert "/downloads/" in text
    assert screening.current_licence.number.startswith("SEC-")


def test_outbox_shows_failures_and_retries(client, producer, db, smtp, app):
    make_screening()
    smtp.refuse = True
    deliver_pending()
    row = db.session.scalar(select(OutboxMessage))
    assert row.status == "failed"
    page = client.get("/producer/outbox").get_data(as_text=True)
    assert "miriam@example.org" in page
    assert "451" in page  # the SMTP error, as the server said it
    row.status = "dead"
    db.session.commit()
    assert "Retry" in client.get("/producer/outbox?view=dead").get_data(as_text=True)

    smtp.refuse = False
    response = submit(
        client, f"/producer/outbox/{row.id}/retry", {}, form_url="/producer/outbox?view=dead"
    )
    assert response.status_code == 302
    db.session.refresh(row)
    assert row.status in ("pending", "sent")
    deliver_pending()
    db.session.refresh(row)
    assert row.status == "sent"
    assert len(smtp.wait_for(1)) == 1
