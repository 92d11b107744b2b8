"""The organizer's journey: book, receive the licence, manage, edit, cancel."""

from __future__ import annotations

import re

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from screenings.models import Film, Licence, OutboxMessage, Screening, ScreeningChange
from screenings.services.films import set_terms

from .conftest import booking_data, future_date, hidden_fields, submit

MANAGE_LINK = re.compile(r"http://screenings\.test/manage/([A-Za-z0-9_-]{20,})")


def _manage_url(response) -> str:
    return urlsplit_path(response.request.url)


def urlsplit_path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


def test_booking_form_shows_terms_and_defaults(client):
    page = client.get("/book").get_data(as_text=True)
    assert "Licence terms for The Killing Roads (version 1)" in page
    assert "Free admission." in page  # the terms' own text, in full
    assert 'value="145"' in page  # 115-minute film + 30 minutes of discussion
    assert 'type="email"' in page
    assert 'type="date"' in page
    assert 'type="time"' in page
    assert "csrf_token" in hidden_fields(page)


def test_auto_approved_booking_issues_licence_and_emails_it(book, db, smtp):
    response = book()
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    screening = db.session.scalar(select(Screening))
    licence = screening.current_licence
    assert screening.status == "approved"
    assert re.fullmatch(r"TKR-[0-9A-Z]{4}-[0-9A-Z]{4}", licence.number)
    assert f"licence {licence.number} is issued" in page
    assert urlsplit_path(response.request.url).startswith("/manage/")

    messages = smtp.wait_for(1)
    assert len(messages) == 1
    message = messages[0]
    assert message["To"].addresses[0].addr_spec == "miriam@example.org"
    assert licence.number in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert licence.number in text
    assert licence.number in html
    assert MANAGE_LINK.search(text)
    assert "graphic footage" in text  # the content advisory travels with the licence

    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    pdf_name = f"licence-{licence.number}-r1.pdf"
    assert pdf_name in attachments
    pdf_text = "".join(
        page.extract_text()
        for page in PdfReader(__import__("io").BytesIO(attachments[pdf_name].get_content())).pages
    )
    assert licence.number in pdf_text
    ics = attachments["invite.ics"].get_content()
    assert b"METHOD:REQUEST" in ics
    assert b"BEGIN:VEVENT" in ics

    calendar_parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert calendar_parts
    assert calendar_parts[0].get_param("method") == "REQUEST"
    assert db.session.scalar(select(OutboxMessage.status)) == "sent"


def test_booking_needing_approval_waits_then_licence_on_approval(app, book, db, smtp):
    film = db.session.scalar(select(Film))
    film.requires_approval = True
    db.session.commit()

    page = book().get_data(as_text=True)
    screening = db.session.scalar(select(Screening))
    assert screening.status == "pending"
    assert screening.current_licence is None
    assert "Waiting for the producer" in page
    smtp.wait_for(1)
    assert "Booking received" in smtp.messages[0]["Subject"]

    from screenings.services.bookings import approve_booking

    approve_booking(screening, actor="producer:test")
    from screenings.outbox import deliver_pending

    assert deliver_pending()["sent"] == 1
    assert screening.current_licence.number in smtp.messages[1]["Subject"]
    actions = db.session.scalars(select(ScreeningChange.action)).all()
    assert actions == ["booked", "approved"]


def test_licence_keeps_the_terms_version_it_was_issued_under(book, db):
    book()
    film = db.session.scalar(select(Film))
    set_terms(film, film.current_terms.text + "\n9. A new clause.")
    db.session.commit()
    licence = db.session.scalar(select(Licence))
    assert licence.terms.version == 1
    assert film.current_terms.version == 2
    book(organization_name="Second booking", submission_key="another-submission-key-123")
    newest = db.session.scalars(select(Licence).order_by(Licence.id.desc())).first()
    assert newest.terms.version == 2


def test_double_submission_creates_one_booking(client, db, smtp):
    page = client.get("/book").get_data(as_text=True)
    payload = {**hidden_fields(page), **booking_data()}
    first = client.post("/book", data=payload)
    second = client.post("/book", data=payload)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.scalar(select(func.count(Screening.id))) == 1
    assert db.session.scalar(select(func.count(Licence.id))) == 1
    follow = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "already received" in follow


def test_unicode_names_round_trip_and_markup_is_escaped(book, db, smtp):
    name = "בית הכנסת 🎬 Théâtre de l'Œil <script>alert(1)</script>"
    page = book(organization_name=name, contact_name="Zoë “Zed” O’Neil").get_data(as_text=True)
    screening = db.session.scalar(select(Screening))
    assert screening.organization_name == name
    assert screening.contact_name == "Zoë “Zed” O’Neil"
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "בית הכנסת 🎬 Théâtre de l&#39;Œil" in page
    message = smtp.wait_for(1)[0]
    assert message["To"].addresses[0].display_name == "Zoë “Zed” O’Neil"


def test_manage_link_shows_status_and_wrong_token_is_404(book, client, db):
    response = book()
    path = urlsplit_path(response.request.url)
    manage = client.get(path)
    assert manage.status_code == 200
    assert manage.headers["Cache-Control"] == "no-store"
    assert manage.headers["Referrer-Policy"] == "no-referrer"
    assert client.get(path[:-1] + ("A" if path[-1] != "A" else "B")).status_code == 404
    assert client.get("/manage/" + "x" * 500).status_code == 404
    assert client.get("/manage/%00").status_code == 404
    # The token is stored only as a digest.
    token = path.rsplit("/", 1)[1]
    assert token not in str(db.session.scalar(select(Screening)).manage_token_hash)


def test_licence_pdf_download_contains_number(book, client, db):
    path = urlsplit_path(book().request.url)
    pdf = client.get(path + "/licence.pdf")
    assert pdf.headers["Content-Type"] == "application/pdf"
    number = db.session.scalar(select(Licence.number))
    text = "".join(p.extract_text() for p in PdfReader(__import__("io").BytesIO(pdf.data)).pages)
    assert number in text


def test_public_verification_page_has_no_contact_data(book, client, db):
    book()
    licence = db.session.scalar(select(Licence))
    page = client.get(f"/licences/{licence.number}").get_data(as_text=True)
    assert "Valid" in page
    assert licence.number in page
    assert "Beth Tzedec Congregation" in page
    assert "miriam@example.org" not in page
    assert "Miriam" not in page
    assert "555" not in page
    assert "<svg" in page  # the QR code pointing back here
    assert client.get("/licences/TKR-2020-99999").status_code == 404
    assert client.get("/licences/not a number").status_code == 404


def test_material_edit_issues_revision_and_emails_it(book, client, db, smtp):
    path = urlsplit_path(book().request.url)
    smtp.wait_for(1)
    edited = booking_data(venue_name="Community Hall B", start_time="20:00")
    response = submit(client, path + "/edit", edited, follow_redirects=True)
    assert response.status_code == 200
    assert "revised licence" in response.get_data(as_text=True)
    screening = db.session.scalar(select(Screening))
    assert [lic.revision for lic in screening.licences] == [1, 2]
    assert screening.licences[0].particulars["venue_name"] == "Main Sanctuary Hall"
    assert screening.licences[1].particulars["venue_name"] == "Community Hall B"
    assert screening.calendar_sequence == 1
    messages = smtp.wait_for(2)
    assert "Revised licence" in messages[1]["Subject"]
    change = db.session.scalars(
        select(ScreeningChange).where(ScreeningChange.action == "edited")
    ).one()
    assert change.details["changes"]["venue_name"] == ["Main Sanctuary Hall", "Community Hall B"]
    old = client.get(f"/licences/{screening.licences[0].number}").get_data(as_text=True)
    assert "Revision</dt><dd>2" in old.replace("\n", "").replace("  ", "")


def test_non_material_edit_keeps_licence(book, client, db):
    path = urlsplit_path(book().request.url)
    submit(client, path + "/edit", booking_data(contact_phone="+1 416 555 0199"))
    screening = db.session.scalar(select(Screening))
    assert len(screening.licences) == 1
    assert screening.contact_phone == "+1 416 555 0199"


def test_cancel_needs_confirmation_then_invalidates_licence(book, client, db, smtp):
    path = urlsplit_path(book().request.url)
    smtp.wait_for(1)
    refused = submit(client, path + "/cancel", {}, form_url=path)
    assert refused.status_code == 422
    assert "Tick the box" in refused.get_data(as_text=True)
    done = submit(client, path + "/cancel", {"confirm": "y"}, form_url=path, follow_redirects=True)
    assert "cancelled" in done.get_data(as_text=True)
    screening = db.session.scalar(select(Screening))
    assert screening.status == "cancelled"
    page = client.get(f"/licences/{screening.current_licence.number}").get_data(as_text=True)
    assert "Cancelled" in page
    message = smtp.wait_for(2)[1]
    assert "cancelled" in message["Subject"].lower()
    calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "CANCEL"
    assert b"STATUS:CANCELLED" in calendar.get_payload(decode=True)


def test_csrf_is_enforced(client, db):
    response = client.post("/book", data=booking_data())
    assert response.status_code == 400
    assert "form has expired" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Screening.id))) == 0


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"organization_name": ""}, "organization_name", "This field is required."),
        ({"organization_name": "x" * 201}, "organization_name", "Field cannot be longer than 200"),
        ({"organization_type": "pirate"}, "organization_type", "Not a valid choice"),
        ({"organization_website": "not a url"}, "organization_website", "Enter a web address"),
        ({"organization_country": "ZZ"}, "organization_country", "Not a valid choice"),
        ({"contact_email": "miriam@"}, "contact_email", "Enter a valid e-mail address"),
        ({"contact_phone": "call me"}, "contact_phone", "Use digits"),
        ({"country": ""}, "country", "This field is required."),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Choose a time zone from the list."),
        ({"timezone": "", "country": "US"}, "timezone", "several time zones: check the one chosen"),
        ({"start_date": "2020-01-01"}, "start_date", "must start in the future"),
        ({"start_date": "31/31/2031"}, "start_date", "Not a valid date value"),
        ({"start_date": ""}, "start_date", "Enter the date of the screening."),
        ({"start_date": "2999-01-01"}, "start_date", "up to three years ahead"),
        ({"start_time": "25:61"}, "start_time", "Not a valid time value"),
        ({"duration_minutes": "5"}, "duration_minutes", "between 30 and 600"),
        ({"expected_audience": "0"}, "expected_audience", "from 1 to 100,000"),
        ({"capacity": "0"}, "capacity", "from 1 to 100,000"),
        ({"capacity": "-5"}, "capacity", "from 1 to 100,000"),
        ({"capacity": "lots"}, "capacity", "Not a valid integer value"),
        ({"capacity": "9" * 40}, "capacity", "from 1 to 100,000"),
        ({"accept_terms": None}, "accept_terms", "must accept the licence terms"),
        ({"free_admission": None}, "free_admission", "must be free of charge"),
        ({"notes": "x" * 2001}, "notes", "Field cannot be longer than 2000"),
        ({"city": "Tor\x00onto"}, "city", "invisible control characters"),
        ({"venue_name": "Hall\r\nBcc: victim@example.org"}, "venue_name", "must be on one line"),
    ],
)
def test_every_validation_message_is_beside_its_field_and_entries_kept(
    client, db, overrides, field, message
):
    data = booking_data(**overrides)
    response = submit(client, "/book", data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
    assert error, f"no error beside {field}"
    assert message in error.group(1).replace("&#39;", "'")
    assert f'aria-describedby="{field}-error' in page or f'aria-describedby="{field}-hint' in page
    assert 'value="Beth Tzedec Congregation"' in page or field == "organization_name"
    assert db.session.scalar(select(func.count(Screening.id))) == 0


def test_time_in_dst_gap_is_refused(client, db):
    # Second Sunday of March 2027: 02:30 does not exist in Toronto.
    data = booking_data(start_date="2027-03-14", start_time="02:30")
    page = submit(client, "/book", data).get_data(as_text=True)
    assert "does not exist in the venue" in page
    assert db.session.scalar(select(func.count(Screening.id))) == 0


def test_ambiguous_time_is_resolved_and_said(book, db):
    # First Sunday of November 2027: 01:30 happens twice in Toronto.
    page = book(start_date="2027-11-07", start_time="01:30").get_data(as_text=True)
    assert "occurs twice" in page
    screening = db.session.scalar(select(Screening))
    assert screening.starts_at.hour == 5  # 01:30 EDT (UTC−4), the first occurrence


def test_single_zone_country_preselects_its_zone(book, db):
    book(country="FR", timezone="", city="Paris", region="", postal_code="75001")
    assert db.session.scalar(select(Screening.timezone)) == "Europe/Paris"


def test_hostile_input_is_stored_and_shown_safely(book, db, smtp):
    hostile = {
        "organization_name": '"><img src=x onerror=alert(1)>',
        "notes": "line one\r\nBEGIN:VEVENT\r\nSUMMARY:injected\r\nEND:VEVENT\n" + "y" * 1500,
        "contact_name": "Bob, evil@example.net",
    }
    page = book(**hostile).get_data(as_text=True)
    assert "<img src=x" not in page
    screening = db.session.scalar(select(Screening))
    assert screening.notes.startswith("line one")
    message = smtp.wait_for(1)[0]
    assert [a.addr_spec for a in message["To"].addresses] == ["miriam@example.org"]
    ics = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert ics.get_payload(decode=True).count(b"BEGIN:VEVENT") == 1


def test_ten_thousand_characters_are_refused_with_a_message(client, db):
    response = submit(client, "/book", booking_data(venue_name="v" * 10_000))
    assert response.status_code == 422
    assert "cannot be longer than 200" in response.get_data(as_text=True)


def test_booking_is_recorded_in_history(book, db):
    book()
    changes = db.session.scalars(select(ScreeningChange).order_by(ScreeningChange.id)).all()
    assert [c.action for c in changes] == ["booked", "approved"]
    assert changes[0].actor == "organizer:miriam@example.org"
    assert changes[1].details["licence"].startswith("TKR-")


def test_future_date_helper_is_in_the_future():
    from datetime import UTC, datetime

    assert future_date() > datetime.now(UTC).date()
