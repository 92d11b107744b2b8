"""Who learns where a screening is (issue 11): public, guests only, private with a share link.

Every public surface is scanned for the street, the postal code and the coordinates of a
guests-only screening; the same scan over a public screening finds them, so it can fail.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from urllib.parse import unquote

import pytest
from icalendar import Calendar
from sqlalchemy import create_engine, inspect, select, text

from screenings.models import Screening
from screenings.outbox import deliver_pending
from screenings.services import bookings, visibility
from screenings.services import rsvps as rsvp_service

from .conftest import app_config, booking_data, dispose_app_engine, hidden_fields, submit
from .factories import booking_details, make_screening
from .rsvp_helpers import calendar_bytes, reply, rsvp_data, rsvp_link

STREET, POSTAL = "1700 Bathurst Street", "M5P 3K3"
LATITUDE, LONGITUDE = 43.712345, -79.418765
SECRETS = ("Bathurst", "M5P", "3K3", "43.71234", "79.41876")


def _located(**overrides) -> Screening:
    screening = make_screening(**overrides)
    screening.latitude, screening.longitude = LATITUDE, LONGITUDE
    from screenings.extensions import db

    db.session.commit()
    return screening


def _readable(body: bytes) -> str:
    """The body as a scan should read it: HTML entities, URL escapes and folded
    iCalendar lines undone, so an encoded street is still found."""
    text_ = body.decode("utf-8", "replace").replace("\r\n ", "").replace("\\,", ",")
    return html.unescape(unquote(text_)) + html.unescape(text_)


def _public_surfaces(client, screening) -> dict[str, str]:
    """Every public answer that mentions the screening, by URL."""
    urls = [
        "/",
        f"/screenings/{screening.id}",
        "/screenings",
        "/screenings?city=Toronto",
        "/embed",
        "/api/screenings",
        "/api/screenings?country=CA",
        "/calendar.ics",
        f"/films/{screening.film.slug}/calendar.ics",
        "/countries/CA/calendar.ics",
        f"/screenings/{screening.id}.ics",
    ]
    pages = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages[url] = _readable(response.get_data())
    page = pages[f"/screenings/{screening.id}"]
    # The Google and Outlook links are on the page; follow their text too.
    for link in re.findall(r'href="(https://(?:calendar\.google|outlook\.live)[^"]+)"', page):
        pages[link] = _readable(link.encode())
    assert any("calendar.google.com" in url for url in pages)
    assert any("outlook.live.com" in url for url in pages)
    return pages


def _leaks(pages: dict[str, str]) -> list[tuple[str, str]]:
    return [(url, needle) for url, body in pages.items() for needle in SECRETS if needle in body]


def test_a_public_screening_shows_its_street_everywhere_the_scan_looks(client, db):
    screening = _located(visibility="public")
    leaks = _leaks(_public_surfaces(client, screening))
    # The scan finds the street where it is public: on the page, the API, every feed, .ics.
    found = {url for url, _needle in leaks}
    assert f"/screenings/{screening.id}" in found
    assert "/api/screenings" in found
    assert {"/calendar.ics", f"/screenings/{screening.id}.ics"} <= found
    assert any("calendar.google.com" in url for url in found)


def test_a_guests_only_street_appears_on_no_public_surface(client, db):
    screening = _located(visibility="guests")
    pages = _public_surfaces(client, screening)
    assert _leaks(pages) == []
    # The venue and city are still said, and the page says where the address goes.
    page = pages[f"/screenings/{screening.id}"]
    assert "Main Sanctuary Hall" in page
    assert "Toronto" in page
    assert "confirmed guests only" in page
    assert "openstreetmap" not in page
    item = client.get("/api/screenings").get_json()["screenings"][0]
    assert item["venue"]["street_address"] == ""
    assert item["venue"]["postal_code"] == ""
    assert item["address_for_guests_only"] is True
    ics = Calendar.from_ical(client.get(f"/screenings/{screening.id}.ics").get_data())
    event = ics.walk("VEVENT")[0]
    assert "GEO" not in event
    assert str(event["LOCATION"]) == "Main Sanctuary Hall, Toronto Ontario, Canada"


def _street_in_message(message) -> dict[str, bool]:
    """Where in a received e-mail the street is: text body, HTML body, invite LOCATION."""
    found = {
        "text": STREET in message.get_body(preferencelist=("plain",)).get_content(),
        "html": STREET in html.unescape(message.get_body(preferencelist=("html",)).get_content()),
    }
    calendars = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    if calendars:
        event = Calendar.from_ical(calendar_bytes(message)).walk("VEVENT")[0]
        found["invite"] = STREET in str(event["LOCATION"]) and POSTAL in str(event["LOCATION"])
        found["geo"] = "GEO" in event
    return found


def test_confirmed_guests_get_the_street_waitlisted_ones_when_promoted(client, db, smtp):
    screening = _located(visibility="guests", capacity=1)
    smtp.clear()
    post_ok = submit(client, f"/screenings/{screening.id}", rsvp_data(email="ann@example.org"))
    assert post_ok.status_code == 302
    submit(client, f"/screenings/{screening.id}", rsvp_data(email="bob@example.org"))
    deliver_pending()
    (ann,) = smtp.to("ann@example.org")
    assert _street_in_message(ann) == {"text": True, "html": True, "invite": True, "geo": True}
    (bob,) = smtp.to("bob@example.org")
    assert "waiting list" in bob["Subject"].lower() or "wait" in bob["Subject"].lower()
    assert _street_in_message(bob) == {"text": False, "html": False}
    # Their RSVP pages: the confirmed guest sees the street, the waiting one does not.
    ann_page = client.get(rsvp_link(ann)).get_data(as_text=True)
    bob_page = client.get(rsvp_link(bob)).get_data(as_text=True)
    assert STREET in ann_page
    assert POSTAL in ann_page
    assert STREET not in bob_page
    assert POSTAL not in bob_page
    # Ann cancels: Bob is promoted, and now he learns the street (e-mail, invite, page).
    smtp.clear()
    rsvp_service.cancel_rsvp(rsvp_service.find_by_token(rsvp_link(ann).rsplit("/", 1)[1]))
    deliver_pending()
    (promoted,) = smtp.to("bob@example.org")
    assert _street_in_message(promoted)["invite"] is True
    assert STREET in client.get(rsvp_link(bob)).get_data(as_text=True)


def test_changing_the_setting_or_the_address_sends_confirmed_guests_an_updated_invite(db, smtp):
    screening = _located(visibility="public")
    reply(screening, "ann@example.org")
    deliver_pending()
    sequence = screening.calendar_sequence
    smtp.clear()
    bookings.update_booking(screening, booking_details(visibility="guests"), actor="organizer:test")
    deliver_pending()
    (changed,) = smtp.to("ann@example.org")
    event = Calendar.from_ical(calendar_bytes(changed)).walk("VEVENT")[0]
    assert int(event["SEQUENCE"]) == sequence + 1
    assert STREET in str(event["LOCATION"])  # a confirmed guest keeps the street
    smtp.clear()
    bookings.update_booking(
        screening,
        booking_details(visibility="guests", street_address="12 Spadina Road"),
        actor="organizer:test",
    )
    deliver_pending()
    (moved,) = smtp.to("ann@example.org")
    event = Calendar.from_ical(calendar_bytes(moved)).walk("VEVENT")[0]
    assert int(event["SEQUENCE"]) == sequence + 2
    assert "12 Spadina Road" in str(event["LOCATION"])


def _share_url(client, manage_path: str) -> str:
    page = client.get(manage_path).get_data(as_text=True)
    match = re.search(r'value="http://screenings\.test(/s/[A-Za-z0-9_-]{20,})"', page)
    assert match, "no share link on the manage page"
    return match.group(1)


def _book_private(client) -> str:
    response = submit(client, "/book", booking_data(listing="private"))
    assert response.status_code == 302
    return response.headers["Location"]


def test_a_private_screening_is_unlisted_and_its_share_link_takes_rsvps(client, db, smtp):
    manage = _book_private(client)
    screening = db.session.scalar(select(Screening))
    assert (screening.visibility, screening.is_public) == ("private", False)
    assert client.get(f"/screenings/{screening.id}").status_code == 404
    assert client.get(f"/screenings/{screening.id}.ics").status_code == 404
    for url in ("/screenings", "/embed", "/api/screenings", "/calendar.ics", "/"):
        assert "Main Sanctuary Hall" not in client.get(url).get_data(as_text=True), url
    share = _share_url(client, manage)
    page = client.get(share)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    body = page.get_data(as_text=True)
    assert "Main Sanctuary Hall" in body
    assert STREET not in body
    assert POSTAL not in body
    smtp.clear()
    response = submit(client, share, rsvp_data(email="guest@example.org"), follow_redirects=True)
    assert response.status_code == 200
    assert "on the guest list" in response.get_data(as_text=True)
    deliver_pending()
    (confirmed,) = smtp.to("guest@example.org")
    assert _street_in_message(confirmed)["invite"] is True
    # The invite links to the guest's own page: a private screening has no public one.
    event = Calendar.from_ical(calendar_bytes(confirmed)).walk("VEVENT")[0]
    assert "/rsvp/" in str(event["URL"])


def test_a_revoked_share_link_is_a_404_and_a_new_one_works(client, db):
    manage = _book_private(client)
    first = _share_url(client, manage)
    form = hidden_fields(client.get(manage).get_data(as_text=True))
    client.post(f"{manage}/share-link", data=form)
    second = _share_url(client, manage)
    assert second != first
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    client.post(f"{manage}/share-link/revoke", data=form)
    assert client.get(second).status_code == 404
    assert "/s/" not in client.get(manage).get_data(as_text=True).split("share-heading")[1][:400]
    assert client.get("/s/not-a-token").status_code == 404
    # Stored hashed: the token itself is nowhere in the database.
    screening = db.session.scalar(select(Screening))
    assert screening.share_token_hash is None


def test_a_share_link_stops_working_when_the_screening_is_made_listed(client, db):
    manage = _book_private(client)
    share = _share_url(client, manage)
    screening = db.session.scalar(select(Screening))
    bookings.update_booking(screening, booking_details(visibility="guests"), actor="test")
    assert client.get(share).status_code == 404
    assert client.get(f"/screenings/{screening.id}").status_code == 200


def test_the_form_offers_three_labelled_choices_and_preselects_by_organization_type(client, db):
    page = client.get("/book").get_data(as_text=True)
    for value in ("public", "guests", "private"):
        match = re.search(rf'<input[^>]*id="(listing-\d)"[^>]*value="{value}"', page)
        assert match, value
        assert f'<label for="{match.group(1)}">' in page
    assert "Who sees the address" in page
    assert re.search(r'<input[^>]*checked[^>]*value="public"', page)
    # No choice posted: the server takes the organization type's default.
    submit(client, "/book", booking_data(listing=None, organization_type="faith_community"))
    submit(client, "/book", booking_data(listing=None, organization_type="school"))
    rows = db.session.execute(
        select(Screening.organization_type, Screening.visibility).order_by(Screening.id)
    ).all()
    assert [tuple(row) for row in rows] == [("faith_community", "guests"), ("school", "public")]
    bad = submit(client, "/book", booking_data(listing="everyone"))
    assert bad.status_code == 422
    assert "Who sees the address" in bad.get_data(as_text=True)


def test_the_edit_form_keeps_and_changes_the_choice(client, db):
    response = submit(client, "/book", booking_data(listing="guests"))
    manage = response.headers["Location"]
    page = client.get(f"{manage}/edit").get_data(as_text=True)
    assert re.search(r'<input[^>]*checked[^>]*value="guests"', page)
    submit(client, f"{manage}/edit", booking_data(listing="private"))
    assert db.session.scalar(select(Screening.visibility)) == "private"
    assert _share_url(client, manage).startswith("/s/")


def test_the_database_refuses_a_listed_private_screening(db):
    screening = make_screening()
    screening.visibility = "private"  # is_public left True: the CHECK refuses it
    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        db.session.commit()
    db.session.rollback()
    visibility.apply(screening, "private")
    db.session.commit()
    assert screening.is_public is False


def test_the_migration_keeps_public_rows_public_and_private_rows_private(tmp_path):
    from flask_migrate import upgrade

    from screenings import create_app

    uri = f"sqlite:///{tmp_path / 'old.db'}"
    app = create_app(app_config(uri, 25))
    with app.app_context():
        upgrade(revision="45ead9a05092")
        engine = create_engine(uri)
        columns = inspect(engine).get_columns("screenings")
        with engine.begin() as connection:
            for screening_id, listed in ((1, True), (2, False)):
                values = {
                    c["name"]: _dummy(c) for c in columns if not c["nullable"] and c["name"] != "id"
                }
                values.update(
                    id=screening_id,
                    is_public=listed,
                    submission_key=f"k{screening_id}",
                    manage_token_hash=f"h{screening_id}",
                    # States a later migration holds to their enums' values.
                    status="approved",
                    organization_type="school",
                )
                names = ", ".join(values)
                marks = ", ".join(f":{name}" for name in values)
                connection.execute(
                    text(f"INSERT INTO screenings ({names}) VALUES ({marks})"), values
                )
        upgrade()
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, visibility, is_public FROM screenings ORDER BY id")
            ).all()
        engine.dispose()
        dispose_app_engine()
    assert [tuple(row) for row in rows] == [(1, "public", 1), (2, "private", 0)]


def _dummy(column):
    kind = str(column["type"]).upper()
    if "INT" in kind:
        return 1
    if "BOOL" in kind:
        return True
    if "DATE" in kind or "TIME" in kind:
        return datetime(2030, 1, 1, 19, 0)  # noqa: DTZ001 any value fits a DATE/TIME column
    if "FLOAT" in kind or "NUMERIC" in kind:
        return 0.0
    return "x"


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_FORMS="3 per minute")
def test_share_link_lookups_are_rate_limited(client, db):
    answers = [client.get(f"/s/guess-{n}-{'x' * 30}").status_code for n in range(4)]
    assert answers == [404, 404, 404, 429]


# -- the organizer's public description (issue 16, item 11) -------------------------------------

ABOUT = "Q&A with the director; doors open at 18:30"


def _says_about(client, url: str) -> bool:
    response = client.get(url)
    return ABOUT in _readable(response.get_data()) and response.status_code == 200


def test_a_private_screenings_description_is_read_only_behind_its_share_link(client, db, smtp):
    screening = make_screening(visibility="private", description=ABOUT)
    licence = screening.current_licence.number
    nowhere = [
        "/",
        "/screenings",
        "/screenings?city=Toronto",
        f"/screenings/{screening.id}",
        f"/screenings/{screening.id}.ics",
        "/embed",
        "/api/screenings",
        "/calendar.ics",
        f"/films/{screening.film.slug}/calendar.ics",
        "/countries/CA/calendar.ics",
        f"/licences/{licence}",
    ]
    assert [url for url in nowhere if _says_about(client, url)] == []
    share = f"/s/{visibility.share_token(screening)}"
    assert _says_about(client, share)
    # A guest who replied through the link finds it in their invite, under DESCRIPTION.
    smtp.clear()
    submit(client, share, rsvp_data(email="guest@example.org"))
    deliver_pending()
    (confirmed,) = smtp.to("guest@example.org")
    event = Calendar.from_ical(calendar_bytes(confirmed)).walk("VEVENT")[0]
    assert ABOUT in str(event["DESCRIPTION"])


def test_a_listed_screenings_description_is_on_its_page_and_its_guests_invites(client, db, smtp):
    screening = make_screening(visibility="guests", description=ABOUT + "\nשאלות ותשובות")
    assert _says_about(client, f"/screenings/{screening.id}")
    reply(screening, "ann@example.org")
    deliver_pending()
    (invited,) = smtp.to("ann@example.org")
    event = Calendar.from_ical(calendar_bytes(invited)).walk("VEVENT")[0]
    assert str(event["DESCRIPTION"]).count("\n") >= 3  # its own lines kept, one property
    assert ABOUT + "\nשאלות ותשובות" in str(event["DESCRIPTION"])
    # The public .ics and the feeds keep to the film (the page alone has the words).
    assert not _says_about(client, "/calendar.ics")
    assert not _says_about(client, f"/screenings/{screening.id}.ics")
