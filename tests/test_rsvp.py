"""RSVPs: reply, double submission, waiting list and promotion, cancel, erase, and the race."""

from __future__ import annotations

import csv
import io
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from screenings import capabilities
from screenings.extensions import db as _db
from screenings.models import Rsvp, Screening
from screenings.services import rsvps as rsvp_service

from .conftest import hidden_fields
from .factories import make_screening
from .rsvp_helpers import calendar_part, post_rsvp, reply, rsvp_link


def confirmed_seats(screening_id: int) -> int:
    return _db.session.scalar(
        select(func.coalesce(func.sum(Rsvp.party_size), 0)).where(
            Rsvp.screening_id == screening_id, Rsvp.status == "confirmed"
        )
    )


def test_rsvp_confirms_and_emails_the_invite_with_a_private_link(client, db, smtp):
    screening = make_screening(capacity=10)
    smtp.clear()
    response = post_rsvp(client, screening, party_size="3", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "on the guest list" in page

    rsvp = db.session.scalar(select(Rsvp))
    assert (rsvp.status, rsvp.party_size, rsvp.email) == ("confirmed", 3, "ann@example.org")
    db.session.refresh(screening)
    assert screening.seats_taken == 3
    assert '<dd class="seats-left">7</dd>' in page

    (message,) = smtp.wait_for(1)
    assert message["To"].addresses[0].addr_spec == "ann@example.org"
    assert "guest list" in message["Subject"]
    assert calendar_part(message).get_param("method") == "REQUEST"
    link = rsvp_link(message)
    private = client.get(link)
    assert private.status_code == 200
    assert private.headers["Cache-Control"] == "no-store"
    assert private.headers["Referrer-Policy"] == "no-referrer"
    assert "Confirmed: 3 seats reserved." in private.get_data(as_text=True)


def test_double_submission_is_one_rsvp(client, db, smtp):
    screening = make_screening(capacity=10)
    post_rsvp(client, screening, party_size="2")
    again = post_rsvp(client, screening, email="ANN@Example.org", party_size="2")
    assert again.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Rsvp)) == 1
    db.session.refresh(screening)
    assert screening.seats_taken == 2


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"party_size": "0"}, "Enter a number from 1 to 10."),
        ({"party_size": "11"}, "Enter a number from 1 to 10."),
        ({"email": "not-an-address"}, "Enter a valid e-mail address"),
        ({"consent": None}, "Tick the box so we can send you your invitation."),
        ({"name": "Ann\r\nBcc: x@example.org"}, "This must be on one line."),
    ],
)
def test_invalid_rsvps_are_refused_beside_the_field(client, db, overrides, error):
    screening = make_screening()
    response = post_rsvp(client, screening, **overrides)
    assert response.status_code == 422
    assert error in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Rsvp)) == 0


def test_private_screening_takes_rsvps_only_through_its_share_link(client, db, smtp):
    # Private means unlisted, not "no guest list" (issue 11): the public URL is a 404 for
    # reading and replying; the share link's page (tests/test_visibility.py) takes RSVPs.
    private = make_screening(is_public=False)
    assert client.get(f"/screenings/{private.id}").status_code == 404
    public = make_screening()
    form = hidden_fields(client.get(f"/screenings/{public.id}").get_data(as_text=True))
    assert client.post(f"/screenings/{private.id}", data=form).status_code == 404
    assert reply(private).status == "confirmed"


def test_full_screening_waitlists_then_promotes_the_first_who_fits(client, db, smtp):
    screening = make_screening(capacity=4)
    first = reply(screening, "a@example.org", 3)
    big = reply(screening, "big@example.org", 4)  # does not fit: waits
    small = reply(screening, "small@example.org", 2)  # 1 seat left: waits too
    assert (first.status, big.status, small.status) == ("confirmed", "waitlisted", "waitlisted")
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert "Join the waiting list" not in page  # 1 seat is still left
    smtp.clear()

    # The first party cancels through its private link: 4 seats free; "big" is first in line.
    token = capabilities.rsvp_token(first)
    cancel_page = client.get(f"/rsvp/{token}")
    response = client.post(
        f"/rsvp/{token}/cancel", data=hidden_fields(cancel_page.get_data(as_text=True))
    )
    assert response.status_code == 302
    response.close()  # the outbox delivers once the response is done
    db.session.expire_all()
    assert db.session.get(Rsvp, first.id).status == "cancelled"
    assert db.session.get(Rsvp, big.id).status == "confirmed"
    assert db.session.get(Rsvp, small.id).status == "waitlisted"
    assert db.session.get(Screening, screening.id).seats_taken == 4

    messages = smtp.wait_for(2)
    by_recipient = {m["To"].addresses[0].addr_spec: m for m in messages}
    assert calendar_part(by_recipient["a@example.org"]).get_param("method") == "CANCEL"
    promoted = by_recipient["big@example.org"]
    assert "freed up" in promoted["Subject"]
    assert calendar_part(promoted).get_param("method") == "REQUEST"


def test_promotion_skips_a_party_that_does_not_fit(db):
    screening = make_screening(capacity=3)
    holder = reply(screening, "hold@example.org", 2)
    reply(screening, "one@example.org", 1)
    big = reply(screening, "big@example.org", 3)
    small = reply(screening, "small@example.org", 1)
    rsvp_service.cancel_rsvp(db.session.get(Rsvp, holder.id))
    db.session.expire_all()
    assert db.session.get(Rsvp, big.id).status == "waitlisted"  # needs 3, only 2 free
    assert db.session.get(Rsvp, small.id).status == "confirmed"
    assert confirmed_seats(screening.id) == db.session.get(Screening, screening.id).seats_taken


def test_raising_capacity_promotes_the_waiting_list(db):
    from .factories import booking_details

    screening = make_screening(capacity=1)
    reply(screening, "a@example.org", 1)
    waiting = reply(screening, "b@example.org", 1)
    from screenings.services.bookings import update_booking

    update_booking(screening, booking_details(capacity=2), actor="test")
    db.session.expire_all()
    assert db.session.get(Rsvp, waiting.id).status == "confirmed"


def test_erase_deletes_the_reply_and_frees_the_seats(client, db, smtp):
    screening = make_screening(capacity=5)
    rsvp = reply(screening, "gone@example.org", 2)
    token = capabilities.rsvp_token(rsvp)
    page = client.get(f"/rsvp/{token}")
    response = client.post(f"/rsvp/{token}/erase", data=hidden_fields(page.get_data(as_text=True)))
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Rsvp)) == 0
    assert db.session.get(Screening, screening.id).seats_taken == 0
    assert client.get(f"/rsvp/{token}").status_code == 404


def test_unknown_and_forged_rsvp_links_are_404(client, db):
    screening = make_screening()
    token = capabilities.rsvp_token(reply(screening))
    assert client.get("/rsvp/" + "A" * 43).status_code == 404
    form = hidden_fields(client.get(f"/rsvp/{token}").get_data(as_text=True))
    assert client.post("/rsvp/" + "A" * 43 + "/cancel", data=form).status_code == 404
    assert client.get(f"/rsvp/{token[:-1]}").status_code == 404


def test_organizer_sees_attendees_and_downloads_csv(client, db):
    from screenings.capabilities import manage_token

    screening = make_screening(capacity=2)
    reply(screening, "a@example.org", 2, name='=HYPERLINK("http://evil")')
    reply(screening, "b@example.org", 1, name="Bea")
    token = manage_token(screening)
    page = client.get(f"/manage/{token}").get_data(as_text=True)
    assert "1 confirmed RSVP holds 2 of 2 seats. 1 reply waits on the waiting list." in page
    assert "b@example.org" in page
    response = client.get(f"/manage/{token}/attendees.csv")
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:5] == ["status", "name", "email", "party_size", "replied_at_utc"]
    assert rows[1][:4] == ["confirmed", '\'=HYPERLINK("http://evil")', "a@example.org", "2"]
    assert rows[2][:4] == ["waitlisted", "Bea", "b@example.org", "1"]
    assert client.get("/manage/" + "x" * 43 + "/attendees.csv").status_code == 404


# -- the race ------------------------------------------------------------------------------------

RACERS = 40
CAPACITY = 10


@pytest.fixture
def live_server(app):
    """The app served by a real threaded HTTP server on loopback."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def _race(base: str, screening_id: int, count: int) -> list[int]:
    """count browsers load the page, then all post their RSVP at the same moment."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect()
        )
        url = f"{base}/screenings/{screening_id}"
        page = opener.open(url, timeout=60).read().decode()
        data = {
            **hidden_fields(page),
            "name": f"Racer {index}",
            "email": f"racer{index}@example.org",
            "party_size": "1",
            "consent": "y",
        }
        barrier.wait(timeout=60)
        try:
            status = opener.open(url, urllib.parse.urlencode(data).encode(), timeout=60).status
        except urllib.error.HTTPError as error:
            status = error.code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _pause():
    # Widen the window between the capacity decision and the write, as a slow server would.
    threading.Event().wait(0.02)


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_parallel_rsvps_never_exceed_capacity(app, db, live_server, monkeypatch):
    screening = make_screening(capacity=CAPACITY)
    db.session.commit()
    monkeypatch.setattr(rsvp_service, "after_capacity_check", _pause)
    statuses = _race(live_server, screening.id, RACERS)
    assert statuses == [302] * RACERS  # no "database is locked", no 500
    db.session.expire_all()
    assert db.session.get(Screening, screening.id).seats_taken == CAPACITY
    assert confirmed_seats(screening.id) == CAPACITY
    waiting = db.session.scalar(
        select(func.count()).select_from(Rsvp).where(Rsvp.status == "waitlisted")
    )
    assert waiting == RACERS - CAPACITY


def _naive_hold_seats(screening_id: int, seats: int) -> bool:
    """What the service must not do: read the free seats, then write (check-then-act)."""
    taken, capacity = _db.session.execute(
        select(Screening.seats_taken, Screening.capacity).where(Screening.id == screening_id)
    ).one()
    if taken + seats > capacity:
        return False
    rsvp_service.after_capacity_check()
    _db.session.execute(
        update(Screening).where(Screening.id == screening_id).values(seats_taken=taken + seats)
    )
    return True


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_the_race_test_catches_a_naive_check_then_insert(app, db, live_server, monkeypatch):
    """The same race against a check-then-act version oversells: the test above can fail."""
    screening = make_screening(capacity=CAPACITY)
    db.session.commit()
    monkeypatch.setattr(rsvp_service, "after_capacity_check", _pause)
    monkeypatch.setattr(rsvp_service, "_hold_seats", _naive_hold_seats)
    _race(live_server, screening.id, RACERS)
    db.session.expire_all()
    assert confirmed_seats(screening.id) > CAPACITY


@pytest.mark.config(OUTBOX_DELIVER_IN_BACKGROUND=False)
def test_two_hundred_simultaneous_rsvps_for_fifty_seats(app, db, live_server):
    """The reliability issue's load: exactly 50 confirmed, 150 waitlisted, no 5xx."""
    screening = make_screening(capacity=50)
    db.session.commit()
    statuses = _race(live_server, screening.id, 200)
    assert len(statuses) == 200
    assert set(statuses) == {302}
    db.session.expire_all()
    assert db.session.get(Screening, screening.id).seats_taken == 50
    assert confirmed_seats(screening.id) == 50
    waiting = db.session.scalar(
        select(func.count()).select_from(Rsvp).where(Rsvp.status == "waitlisted")
    )
    assert waiting == 150
