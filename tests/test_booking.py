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
    assert "Licence terms for <bdi>The Killing Roads</bdi> (version 1)" in page
    assert "Free admission." in page  # the terms' own text, in full
    assert 'value="145"' in page  # 115-minute film + 30 minutes of discussion
    assert 'type="email"' in page
    assert 'type="date"' in page
    assert 'type="time"' in page
    assert "csrf_token" in hidden_fields(page)


KEPT_LISTS = ("country", "organization_country", "timezone")


@pytest.mark.parametrize(
    ("language", "args"),
    [
        ("en", {}),
        ("fr", {"country": "FR", "organization_country": "CA", "timezone": "Europe/Paris"}),
        ("he", {"country": "IL", "organization_country": "", "timezone": "Asia/Jerusalem"}),
        ("en", {"country": "ZZ", "organization_country": "", "timezone": "Not/A_Zone"}),
    ],
)
def test_booking_form_option_lists_render_what_wtforms_renders(app, language, args):
    """The countries and zones are kept with their options' markup (forms.kept_choices),
    the chosen option marked in a copy: the markup must be WTForms' own."""
    from werkzeug.datastructures import MultiDict
    from wtforms.widgets import Select

    from screenings.organizer.forms import BookingForm

    with app.test_request_context("/book", headers={"Accept-Language": language}):
        for _ in range(2):  # the second time from the kept copy
            form = BookingForm(MultiDict(args))
            for name in KEPT_LISTS:
                field = form[name]
                assert field() == Select()(field)
                assert field(class_="wide") == Select()(field, class_="wide")
        if args.get("timezone") == "Europe/Paris":
            assert '<option selected value="Europe/Paris">' in str(form.timezone())


def test_booking_form_renders_its_long_lists_without_walking_them(client, walked_selects):
    """Every booking form's page (the new booking's, each failed submission's) showed 247
    countries twice and 419 zones; kept (forms.kept_choices), a page marks the chosen option
    in the kept copy without going through their choices."""
    for language in ("en", "fr"):
        page = client.get("/book", headers={"Accept-Language": language})
        assert page.status_code == 200
    assert "film_id" in walked_selects  # short lists are walked as WTForms walks them
    assert not set(walked_selects) & set(KEPT_LISTS), walked_selects


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
        ({"organization_type": ""}, "organization_type", "Choose the type of your organization."),
        ({"organization_type": None}, "organization_type", "Choose the type of your organization."),
        ({"organization_website": "not a url"}, "organization_website", "Enter a web address"),
        ({"organization_country": "ZZ"}, "organization_country", "Not a valid choice"),
        (
            {"organization_elsewhere": "y", "organization_country": ""},
            "organization_country",
            "Choose the country your organization is based in.",
        ),
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
        ({"description": "x" * 2001}, "description", "Field cannot be longer than 2000"),
        ({"description": "Q&A\x07"}, "description", "invisible control characters"),
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


# -- the form's traps (issue 16, item 11) --------------------------------------------------------


def _select(page: str, name: str) -> str:
    match = re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.S)
    assert match, name
    return match.group(0)


def _fieldsets(page: str) -> dict[str, str]:
    """Each fieldset of the booking particulars, by its legend."""
    return {
        legend.strip(): body
        for legend, body in re.findall(
            r'<fieldset class="section-[^"]*">\s*<legend>(.*?)</legend>(.*?)</fieldset>'
            r"\s*(?=<fieldset|<p|$)",
            page,
            re.S,
        )
    }


def test_the_organization_type_is_chosen_not_preselected(client):
    page = client.get("/book").get_data(as_text=True)
    select = _select(page, "organization_type")
    options = re.findall(r"<option[^>]*>", select)
    assert options[0] == '<option selected value="">'  # the placeholder, chosen
    assert "Choose…</option>" in select
    assert not any("selected" in option for option in options[1:])  # no "School" by default
    assert re.search(r'<select[^>]*id="organization_type"[^>]*required', page)
    label = re.search(r'<label for="organization_type">.*?</label>(.*?)<select', page, re.S)
    assert 'class="required"' in label.group(1)


def test_the_organizations_country_is_the_venues_unless_the_box_says_otherwise(book, db):
    # The box left unticked: the venue's country is the organization's (nothing posted).
    book(organization_country=None, country="FR", timezone="", city="Paris", region="")
    # Ticked: the organization's own country.
    book(
        organization_elsewhere="y",
        organization_country="US",
        submission_key="second-submission-key-1234",
    )
    rows = db.session.execute(
        select(Screening.country, Screening.organization_country).order_by(Screening.id)
    ).all()
    assert [tuple(row) for row in rows] == [("FR", "FR"), ("CA", "US")]


def test_the_country_box_reveals_the_organizations_country_after_the_venues(client):
    page = client.get("/book").get_data(as_text=True)
    venue = _fieldsets(page)["The film and the venue"]
    assert venue.index('id="country"') < venue.index('id="organization_elsewhere"')
    assert venue.index('id="organization_elsewhere"') < venue.index('id="organization_country"')
    assert re.search(r'<input[^>]*data-reveals="organization_country"[^>]*>', venue)
    assert "Our organization is based in another country" in venue
    assert 'id="organization_country-hint"' in venue
    assert "Organization&#39;s country" not in _fieldsets(page)["Your organization"]


def test_the_edit_form_ticks_the_box_only_for_another_country(book, client, db):
    path = urlsplit_path(book().request.url) + "/edit"
    page = client.get(path).get_data(as_text=True)
    assert not re.search(r'<input[^>]*checked[^>]*id="organization_elsewhere"', page)
    assert '<option selected value="">' in _select(page, "organization_country")
    # The venue moves to France without the box: the organization moves with it.
    submit(
        client,
        path,
        booking_data(
            organization_country="", country="FR", city="Paris", timezone="Europe/Paris", region=""
        ),
    )
    screening = db.session.scalar(select(Screening))
    assert (screening.country, screening.organization_country) == ("FR", "FR")
    submit(client, path, booking_data(organization_elsewhere="y", organization_country="US"))
    assert db.session.scalar(select(Screening.organization_country)) == "US"
    page = client.get(path).get_data(as_text=True)
    assert re.search(r'<input[^>]*checked[^>]*id="organization_elsewhere"', page)
    assert '<option selected value="US">' in _select(page, "organization_country")


def test_audience_and_seats_each_say_what_they_are_for(client):
    page = client.get("/book").get_data(as_text=True)
    for name, words in (
        ("expected_audience", ("with or without an RSVP", "licence", "guests never see it")),
        ("capacity", ("reserve online", "shows how many are left", "waiting list")),
    ):
        hint = re.search(rf'<p class="hint" id="{name}-hint">(.*?)</p>', page, re.S)
        assert hint, name
        for word in words:
            assert word in hint.group(1), (name, word)
        assert re.search(rf'<input[^>]*aria-describedby="{name}-hint"[^>]*id="{name}"', page)


def test_the_edit_page_is_in_sections(book, client, db):
    path = urlsplit_path(book().request.url) + "/edit"
    sections = _fieldsets(client.get(path).get_data(as_text=True))
    expected = {
        "Your organization": ("organization_name", "organization_type"),
        "Contact": ("contact_email",),
        "The film and the venue": ("venue_name", "street_address", "country"),
        "Date and time": ("timezone", "start_date", "start_time", "duration_minutes"),
        "Guests": ("expected_audience", "capacity", "listing", "approves_guests"),
        "About the event": ("description", "notes"),
    }
    assert list(sections) == list(expected)
    for legend, names in expected.items():
        for name in names:
            assert f'name="{name}"' in sections[legend], (legend, name)


DESCRIPTION = "Q&A with the director <b>live</b>\nDoors open at 18:30\nשאלות ותשובות"


def test_the_description_is_shown_on_the_page_as_plain_text_with_its_lines(book, client, db):
    path = urlsplit_path(book(description=DESCRIPTION).request.url)
    screening = db.session.scalar(select(Screening))
    assert screening.description.splitlines() == DESCRIPTION.splitlines()
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    shown = re.search(r'<p class="pre" dir="auto">(.*?)</p>', page, re.S)
    assert shown, "no description on the page"
    assert "<b>live</b>" not in page
    assert "Q&amp;A with the director &lt;b&gt;live&lt;/b&gt;" in shown.group(1)
    assert re.search(r"18:30\r?\nשאלות", shown.group(1))
    # The edit form shows it and changes it; emptied, the page has none.
    edit = client.get(path + "/edit").get_data(as_text=True)
    assert "Doors open at 18:30" in re.search(
        r"<textarea[^>]*id=\"description\".*?</textarea>", edit, re.S
    ).group(0)
    submit(client, path + "/edit", booking_data(description=""))
    assert db.session.scalar(select(Screening.description)) == ""
    assert "About this screening" not in client.get(f"/screenings/{screening.id}").get_data(
        as_text=True
    )


def test_a_new_description_waits_for_the_producer_where_the_film_needs_approval(book, client, db):
    from screenings.models import ChangeRequest
    from screenings.services.bookings import approve_booking, approve_change

    film = db.session.scalar(select(Film))
    film.requires_approval = True
    db.session.commit()
    path = urlsplit_path(book(description="Doors at 18:30").request.url)
    screening = db.session.scalar(select(Screening))
    approve_booking(screening, actor="producer:test")
    submit(client, path + "/edit", booking_data(description="Buy tickets at evil.example"))
    db.session.refresh(screening)
    assert screening.description == "Doors at 18:30"  # the public page keeps the approved words
    change = db.session.scalar(select(ChangeRequest))
    assert change.changes == {"description": ["Doors at 18:30", "Buy tickets at evil.example"]}
    approve_change(change, actor="producer:test")
    assert screening.description == "Buy tickets at evil.example"
