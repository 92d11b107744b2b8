"""Tickets and the door: the QR in the e-mail, check-in by code and name, helper links,
and the refusals (second check-in, another screening, cancelled reply, revoked link)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from screenings.capabilities import manage_token
from screenings.models import Rsvp
from screenings.services import door
from screenings.services import rsvps as rsvp_service

from . import producer_helpers
from .conftest import hidden_fields, submit
from .factories import make_screening
from .producer_helpers import make_past
from .rsvp_helpers import post_rsvp, reply, rsvp_link

zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (dev dependency) decodes the QR")
Image = pytest.importorskip("PIL.Image")

producer = producer_helpers.producer  # the fixture, logged in on `client`
CODE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}(?:-[0-9A-HJKMNP-TV-Z]{4}){3}\b")


def decode_png(png: bytes) -> str:
    image = Image.open(io.BytesIO(png)).convert("L")
    (result,) = zxingcpp.read_barcodes(image)
    assert result.format == zxingcpp.BarcodeFormat.QRCode
    return result.text


def door_call(client, page_url: str, **body):
    """A JSON call of the door page, with the CSRF token the page carries."""
    page = client.get(page_url)
    assert page.status_code == 200
    csrf = re.search(r'data-csrf="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post(page_url + "/api", json=body, headers={"X-CSRFToken": csrf})
    return response.status_code, response.get_json()


def organizer_door(screening) -> str:
    return f"/manage/{manage_token(screening)}/door"


def test_ticket_qr_in_the_email_decodes_and_checks_in_only_through_a_door(client, db, smtp):
    screening = make_screening(capacity=10)
    smtp.clear()
    post_rsvp(client, screening, party_size="2")
    (message,) = smtp.wait_for(1)
    html_part = message.get_body(("html",))
    (image,) = [p for p in message.walk() if p.get_content_type() == "image/png"]
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_part.get_content()
    code = decode_png(image.get_payload(decode=True))
    # The text part carries the same code (mail clients that show no images).
    text = message.get_body(("plain",)).get_content()
    assert code in text
    # Nothing personal in the code: it is 16 symbols derived from a random key.
    assert CODE.fullmatch(code)
    rsvp = db.session.scalar(select(Rsvp))
    assert rsvp.ticket_hash
    assert code not in rsvp.ticket_hash
    assert "ann" not in code.lower()

    # Without a door session the code opens nothing: no page takes it as a URL.
    assert client.get(f"/door/{code}").status_code == 404
    csrf = re.search(
        r'data-csrf="([^"]+)"', client.get(organizer_door(screening)).get_data(as_text=True)
    ).group(1)
    refused = client.post(
        f"/door/{code}/api",
        json={"action": "check_in", "code": code},
        headers={"X-CSRFToken": csrf},  # a valid token: only the missing door session refuses
    )
    assert refused.status_code == 404

    status, data = door_call(client, organizer_door(screening), action="check_in", code=code)
    assert status == 200, data
    assert data["guest"]["checked_in"] == 1
    assert data["counts"] == {"checked_in": 1, "expected": 2}
    db.session.refresh(rsvp)
    assert rsvp.checked_in_count == 1
    assert rsvp.checked_in_by == "the organizer"

    # The RSVP page and the ticket page show the same QR.
    link = rsvp_link(message)
    page = client.get(link).get_data(as_text=True)
    assert code in page
    ticket_page = client.get(link + "/ticket")
    assert ticket_page.status_code == 200
    assert code in ticket_page.get_data(as_text=True)


def test_party_members_one_by_one_then_a_second_check_in_says_who_and_when(client, db):
    screening = make_screening(capacity=10)
    rsvp = reply(screening, party_size=2)
    code = door.ticket_code(rsvp)
    url = organizer_door(screening)
    assert (
        door_call(client, url, action="check_in", code=code, members=1)[1]["guest"]["checked_in"]
        == 1
    )
    assert door_call(client, url, action="check_in", code=code.lower(), members=1)[0] == 200
    status, data = door_call(client, url, action="check_in", code=code)
    assert status == 409
    assert data["message"].startswith("Already checked in at ")
    assert "by the organizer" in data["message"]
    # Undo one, and the second member can come in again.
    status, data = door_call(client, url, action="undo", code=code)
    assert data["guest"]["checked_in"] == 1
    assert door_call(client, url, action="check_in", code=code)[0] == 200


def test_another_screenings_ticket_and_a_cancelled_reply_are_refused(client, db):
    here = make_screening(capacity=10)
    elsewhere = make_screening(capacity=10, venue_name="Other Hall")
    other = reply(elsewhere, email="bob@example.org", name="Bob")
    status, data = door_call(
        client, organizer_door(here), action="lookup", code=door.ticket_code(other)
    )
    assert status == 409
    assert "another screening" in data["message"]
    assert (
        door_call(client, organizer_door(here), action="check_in", code=door.ticket_code(other))[0]
        == 409
    )

    cancelled = reply(here, email="carl@example.org", name="Carl")
    rsvp_service.cancel_rsvp(cancelled)
    status, data = door_call(
        client, organizer_door(here), action="check_in", code=door.ticket_code(cancelled)
    )
    assert status == 409
    assert data["message"] == "This reply was cancelled: the ticket is not valid."
    assert db.session.get(Rsvp, cancelled.id).checked_in_count == 0

    status, data = door_call(
        client, organizer_door(here), action="check_in", code="ZZZZ-ZZZZ-ZZZZ-ZZZZ"
    )
    assert status == 409
    assert "No ticket has this code" in data["message"]


def test_helper_link_checks_in_by_name_and_stops_working_when_revoked(client, db):
    screening = make_screening(capacity=10)
    guest = reply(screening, name="Dana Levi", email="dana@example.org")
    token = manage_token(screening)
    submit(client, f"/manage/{token}/helpers", {"label": "Front door"}, form_url=f"/manage/{token}")
    manage = client.get(f"/manage/{token}").get_data(as_text=True)
    helper_url = re.search(r'value="http://screenings\.test(/door/[^"]+)"', manage).group(1)

    page = client.get(helper_url)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "dana@example.org" not in body
    assert f"/manage/{token}" not in body
    status, data = door_call(client, helper_url, action="search", q="levi")
    assert [g["name"] for g in data["guests"]] == ["Dana Levi"]
    assert "email" not in data["guests"][0]
    status, data = door_call(client, helper_url, action="check_in", id=guest.id)
    assert status == 200
    assert db.session.get(Rsvp, guest.id).checked_in_by == "Front door"
    # The helper link opens nothing of the organizer's.
    helper_token = helper_url.removeprefix("/door/")
    assert client.get(f"/manage/{helper_token}").status_code == 404
    assert client.get(f"/manage/{helper_token}/attendees.csv").status_code == 404

    helper = door.helpers_of(screening)[0]
    form = hidden_fields(manage)
    client.post(
        f"/manage/{token}/helpers/{helper.id}/revoke", data={"csrf_token": form["csrf_token"]}
    )
    assert client.get(helper_url).status_code == 404
    revoked = client.post(
        helper_url + "/api",
        json={"action": "search", "q": "levi"},
        headers={"X-CSRFToken": form["csrf_token"]},  # a valid token: revocation refuses it
    )
    assert revoked.status_code == 404


def test_a_guest_of_another_screening_is_not_reachable_by_id(client, db):
    here = make_screening(capacity=10)
    elsewhere = make_screening(capacity=10, venue_name="Other Hall")
    other = reply(elsewhere, email="erin@example.org", name="Erin")
    status, data = door_call(client, organizer_door(here), action="check_in", id=other.id)
    assert status == 409
    assert db.session.get(Rsvp, other.id).checked_in_count == 0
    status, data = door_call(client, organizer_door(here), action="search", q="Erin")
    assert data["guests"] == []


def test_waiting_list_ticket_is_refused_and_hostile_input_is_a_clear_answer(client, db):
    screening = make_screening(capacity=1)
    reply(screening, email="first@example.org", name="First")
    waiting = reply(screening, email="wait@example.org", name="Waiting")
    assert waiting.status == "waitlisted"
    url = organizer_door(screening)
    status, data = door_call(client, url, action="check_in", code=door.ticket_code(waiting))
    assert status == 409
    assert "waiting list" in data["message"]
    for body in (
        {"action": "nope"},
        {"action": "check_in", "id": "x"},
        {"action": "check_in", "code": "\x00" * 50},
    ):
        status, data = door_call(client, url, **body)
        assert status in (400, 409)
        assert data["message"]


def test_attendance_from_the_door_fills_the_report_and_the_csv(client, db):
    from datetime import timedelta

    from screenings.models import utcnow

    screening = make_screening(capacity=10)
    came = reply(screening, email="came@example.org", name="Came", party_size=3)
    stayed_away = reply(screening, email="away@example.org", name="Away")
    url = organizer_door(screening)
    door_call(client, url, action="check_in", code=door.ticket_code(came), members=2)
    screening.starts_at = utcnow() - timedelta(hours=3)
    db.session.commit()

    token = manage_token(screening)
    response = client.get(f"/manage/{token}/attendees.csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][5:7] == ["checked_in", "no_show"]
    by_name = {row[1]: row for row in rows[1:]}
    assert by_name["Came"][5:7] == ["2", "no"]
    assert by_name["Away"][5:7] == ["0", "yes"]
    assert stayed_away.checked_in_count == 0

    page = client.get(f"/manage/{token}/report").get_data(as_text=True)
    assert 'value="2"' in page
    assert "2 checked in at the door" in page


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_DOOR="3 per minute")
def test_the_door_api_is_rate_limited_per_client_and_the_page_says_so_in_words(client, db):
    screening = make_screening(capacity=10)
    reply(screening, email="dana@example.org", name="Dana Levi")
    page_url = organizer_door(screening)
    page = client.get(page_url).get_data(as_text=True)
    csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)
    # The page carries the sentence it shows when the server answers 429 without one.
    assert "Too many requests from this connection. Wait a minute, then try again." in page

    def call(url=page_url, address="192.0.2.10"):
        return client.post(
            url + "/api",
            json={"action": "search", "q": "levi"},
            headers={"X-CSRFToken": csrf},
            environ_base={"REMOTE_ADDR": address},
        )

    assert [call().status_code for _ in range(3)] == [200, 200, 200]
    refused = call()
    assert refused.status_code == 429
    assert refused.get_json() == {
        "ok": False,
        "limited": True,
        "message": "Too many requests from this connection. Wait a minute, then try again.",
    }
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["Cache-Control"] == "no-store"
    # A helper link from the same address shares the budget; another address has its own.
    token = manage_token(screening)
    helper_url = "/door/" + door.helper_token(door.create_helper(screening, "Side door"))
    assert call(helper_url).status_code == 429
    assert call(address="198.51.100.7").status_code == 200
    # The door page itself (the capability link) still opens: only its calls are counted.
    assert client.get(page_url, environ_base={"REMOTE_ADDR": "192.0.2.10"}).status_code == 200
    assert client.get(f"/manage/{token}").status_code == 200


def test_door_attendance_shows_on_the_producers_reach_page(client, producer, db):
    from screenings.models import ScreeningReport

    reported = make_screening(capacity=10, expected_audience=80)
    other = make_screening(capacity=10, city="Montreal")
    party = reply(reported, email="ann@example.org", party_size=2)
    solo = reply(reported, email="ben@example.org", name="Ben Solo")
    elsewhere = reply(other, email="cat@example.org", name="Cat Else")
    reply(other, email="dov@example.org", name="Dov Away")  # confirmed, never came
    for guest, screening in ((party, reported), (solo, reported), (elsewhere, other)):
        door.check_in(door.DoorSession(screening, actor="test"), guest, members=2)
    make_past(reported, days_ago=1)
    db.session.add(ScreeningReport(screening_id=reported.id, actual_attendance=64))
    db.session.commit()

    html = client.get("/producer/reach").get_data(as_text=True)
    assert "<strong>4</strong> people checked in at the door, at 2 screenings" in html
    # The latest report beside what the door counted for that screening.
    assert "64 came, 80 expected · 3 checked in at the door" in html
    # And per month, beside expected and reported.
    month = reported.starts_at.strftime("%Y-%m")
    in_month = 3 + (1 if other.starts_at.strftime("%Y-%m") == month else 0)
    assert f"<tr><td>{month}</td><td>80</td><td>64</td><td>{in_month}</td></tr>" in html


def test_the_queued_count_is_worded_for_each_plural_form_of_the_page_s_language(client, db):
    """The page's script counts the check-ins waiting offline and picks the sentence by
    Intl.PluralRules: the page holds ngettext's words for each CLDR category of its language."""
    screening = make_screening()
    queued = re.compile(r'data-msg-queued-(\w+)="([^"]*)"')
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert dict(queued.findall(client.get(organizer_door(screening)).get_data(as_text=True))) == {
        "one": "{n} check-in waiting for the connection.",
        "other": "{n} check-ins waiting for the connection.",
    }
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "he"
    hebrew = dict(queued.findall(client.get(organizer_door(screening)).get_data(as_text=True)))
    assert hebrew == {
        "one": "רישום כניסה אחד ממתין לחיבור.",
        "two": "{n} רישומי כניסה ממתינים לחיבור.",
        "other": "{n} רישומי כניסה ממתינים לחיבור.",
    }
