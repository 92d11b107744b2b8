"""Distribution: formats chosen at booking, personal download links, the fulfilment queue."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from screenings.models import DownloadLink, Film, Screening, ScreeningFormat, Shipment, utcnow
from screenings.services.distribution import add_format, add_material

from . import producer_helpers
from .conftest import booking_data, submit
from .factories import make_screening

DOWNLOAD_LINK = re.compile(r"http://screenings\.test/downloads/([A-Za-z0-9_-]{20,})")
FILE_URL = "https://files.example.org/tkr-1080p.mp4"

producer = producer_helpers.producer  # the fixture, logged in on `client`


def _formats(db):
    film = db.session.get(Film, 1)
    online = add_format(film, name="Online file (1080p)", kind="download", download_url=FILE_URL)
    dcp = add_format(film, name="DCP", kind="physical")
    return online, dcp


def test_booking_form_offers_the_films_formats(client, db):
    _formats(db)
    page = client.get("/book").get_data(as_text=True)
    assert "Online file (1080p) (download)" in page
    assert "DCP (shipped)" in page


def test_download_format_puts_a_personal_link_in_the_licence_email(client, db, smtp):
    online, _dcp = _formats(db)
    add_material(
        db.session.get(Film, 1),
        kind="discussion_guide",
        label="Discussion guide (PDF)",
        url="https://example.org/guide.pdf",
    )
    response = submit(client, "/book", booking_data(format_id=str(online.id)))
    assert response.status_code == 302
    (message,) = smtp.wait_for(1)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    token = DOWNLOAD_LINK.search(text).group(1)
    assert token in html
    assert FILE_URL not in text  # the file's real location stays private
    assert "Discussion guide (PDF): https://example.org/guide.pdf" in text
    link = db.session.scalar(select(DownloadLink))
    assert link.token_hash != token  # only the digest is stored

    for expected in (1, 2):
        hit = client.get(f"/downloads/{token}")
        assert hit.status_code == 303
        assert hit.headers["Location"] == FILE_URL
        assert hit.headers["Referrer-Policy"] == "no-referrer"
        db.session.refresh(link)
        assert link.download_count == expected

    assert client.get("/downloads/" + "x" * 43).status_code == 404
    db.session.execute(update(DownloadLink).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert client.get(f"/downloads/{token}").status_code == 410
    db.session.refresh(link)
    assert link.download_count == 2


def test_format_of_another_film_is_refused(client, db):
    from screenings.services.films import create_film

    other = create_film(
        {
            "code": "OTH",
            "slug": "other",
            "title": "Other",
            "year": 2020,
            "genre": "documentary",
            "director": "D",
            "production_company": "P",
            "synopsis": "S",
            "runtime_minutes": 90,
            "content_advisory": "",
            "requires_approval": False,
            "is_active": True,
        },
        "Terms.",
    )
    foreign = add_format(other, name="Other DCP", kind="physical")
    response = submit(client, "/book", booking_data(film_id="1", format_id=str(foreign.id)))
    assert response.status_code == 422
    assert "Choose a screening format offered for this film." in response.get_data(as_text=True)
    assert db.session.scalar(select(Screening)) is None
    assert db.session.get(Film, 1).title == "The Killing Roads"


def test_physical_format_goes_to_the_fulfilment_queue(client, producer, db, smtp):
    _online, dcp = _formats(db)
    screening = make_screening(format_id=dcp.id)
    shipment = db.session.scalar(select(Shipment))
    assert shipment.status == "to_ship"
    assert shipment.ship_by == screening.local_start.date() - timedelta(days=10)
    assert "1700 Bathurst Street" in shipment.shipping_address

    page = client.get("/producer/distribution").get_data(as_text=True)
    assert "Beth Tzedec Congregation" in page
    assert "DCP" in page
    ship_by = shipment.ship_by
    assert f"{ship_by.day} {ship_by:%b} {ship_by.year}" in page  # English dates, day first

    refused = submit(
        client,
        f"/producer/shipments/{shipment.id}/shipped",
        {"tracking_number": ""},
        form_url="/producer/distribution",
    )
    assert refused.status_code == 302
    db.session.refresh(shipment)
    assert shipment.status == "to_ship"

    submit(
        client,
        f"/producer/shipments/{shipment.id}/shipped",
        {"tracking_number": "1Z999AA10123456784"},
        form_url="/producer/distribution",
    )
    db.session.refresh(shipment)
    assert shipment.status == "shipped"
    assert shipment.tracking_number == "1Z999AA10123456784"
    assert "Beth Tzedec" not in client.get("/producer/distribution").get_data(as_text=True)
    shipped = client.get("/producer/distribution?view=shipped").get_data(as_text=True)
    assert "1Z999AA10123456784" in shipped
    assert "overdue" not in shipped.split("<tbody>")[1]

    # The return date passes: the row is highlighted and listed as overdue.
    db.session.execute(update(Shipment).values(return_due=utcnow().date() - timedelta(days=1)))
    db.session.commit()
    overdue = client.get("/producer/distribution?view=overdue").get_data(as_text=True)
    assert 'class="overdue"' in overdue
    assert "Beth Tzedec Congregation" in overdue

    submit(
        client,
        f"/producer/shipments/{shipment.id}/returned",
        {},
        form_url="/producer/distribution?view=shipped",
    )
    db.session.refresh(shipment)
    assert shipment.status == "returned"
    assert shipment.returned_at is not None
    history = client.get(f"/producer/screenings/{screening.id}").get_data(as_text=True)
    assert "shipped" in history
    assert "returned" in history


def test_changing_to_a_download_withdraws_the_shipment(client, db, smtp):
    online, dcp = _formats(db)
    screening = make_screening(format_id=dcp.id)
    from dataclasses import replace

    from screenings.services.bookings import update_booking

    from .factories import booking_details

    details = replace(booking_details(start_date=screening.local_start.date()), format_id=online.id)
    update_booking(screening, details, actor="organizer:test")
    assert db.session.scalar(select(Shipment.status)) == "cancelled"
    assert db.session.scalar(select(DownloadLink.format_id)) == online.id
    assert db.session.get(ScreeningFormat, online.id).is_download
