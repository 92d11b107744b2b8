"""Messages to guests and the host's note (issue 12, item 3): the organizer writes to one group
from the manage page, each guest of it gets the message once over real SMTP with Reply-To the
organizer, hostile subjects form no header, the day's limit refuses beside the form; the host
note reaches confirmed guests (page, confirmation, reminder) and nothing public."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from screenings import outbox
from screenings.capabilities import manage_token, rsvp_token
from screenings.models import Screening, ScreeningChange
from screenings.outbox import deliver_pending
from screenings.services import bookings, guest_messages
from screenings.services import rsvps as rsvp_service

from .conftest import booking_data, submit
from .factories import booking_details, make_screening
from .rsvp_helpers import post_rsvp, reply, rsvp_link

SUBJECT = "Doors open at 18:30"
BODY = "Dear guests,\nbring a warm coat: the hall is cold.\n\nSee you soon!"
NOTE = "Doors 18:30. Photo ID at the door; bags are checked.\nStep-free entrance on Elm Lane."


def _guests(db):
    """Ann and Ben (French) hold the two seats, Carl waits, Dana cancelled."""
    screening = make_screening(capacity=2)
    ann = reply(screening, "ann@example.org", name="Ann Attendee")
    ben = rsvp_service.rsvp(
        screening,
        name="Ben Bernard",
        email="ben@example.org",
        party_size=1,
        consent=True,
        language="fr",
    ).rsvp
    carl = reply(screening, "carl@example.org", name="Carl Waiting")
    dana_row = reply(screening, "dana@example.org", name="Dana Gone")
    rsvp_service.cancel_rsvp(dana_row)
    assert [r.status for r in (ann, ben, carl)] == ["confirmed", "confirmed", "waitlisted"]
    deliver_pending()
    return screening, {"ann": ann, "ben": ben, "carl": carl}


def _send(client, screening, **data):
    token = manage_token(screening)
    values = {"group": "confirmed", "subject": SUBJECT, "body": BODY, **data}
    return submit(client, f"/manage/{token}/messages", values, form_url=f"/manage/{token}")


def _text(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def _delivered(smtp, subject_part: str, count: int) -> list:
    smtp.wait_for(count)
    return [m for m in smtp.messages if subject_part in str(m["Subject"])]


def test_a_message_reaches_each_guest_of_the_group_once_with_reply_to_the_organizer(
    client, db, smtp
):
    screening, guests = _guests(db)
    smtp.clear()

    response = _send(client, screening)
    assert response.status_code == 302
    messages = _delivered(smtp, SUBJECT, 2)
    # The confirmed guests, once each; not the waiting list, not the cancelled reply.
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == [
        "ann@example.org",
        "ben@example.org",
    ]
    assert sorted(tuple(e.rcpt_tos) for e in smtp.envelopes) == [
        ("ann@example.org",),
        ("ben@example.org",),
    ]
    for message in messages:
        (reply_to,) = message["Reply-To"].addresses
        assert (reply_to.display_name, reply_to.addr_spec) == ("Miriam Cohen", "miriam@example.org")
        assert message["Subject"] == f"[{screening.film.title}] {SUBJECT}"
        text = message.get_body(("plain",)).get_content()
        assert "bring a warm coat: the hall is cold." in text
        html = message.get_body(("html",)).get_content()
        assert 'dir="auto"' in html
        assert "bring a warm coat" in html
        # Each guest's own RSVP link in the frame.
        guest = guests["ann" if "ann@" in str(message["To"]) else "ben"]
        assert rsvp_link(message) == f"/rsvp/{rsvp_token(guest)}"
    # Each in the guest's language frame: Ben's greeting is French.
    (ben,) = [m for m in messages if "ben@" in str(m["To"])]
    assert ben["Content-Language"] == "fr"
    assert "Bonjour Ben Bernard," in ben.get_body(("plain",)).get_content()

    # Recorded in the history with counts and no guest address, and listed on the manage page.
    (change,) = db.session.scalars(
        select(ScreeningChange).where(ScreeningChange.action == guest_messages.ACTION)
    ).all()
    assert change.details["recipients"] == 2
    assert change.details["group"] == "confirmed"
    assert "@example.org" not in change.details_json.replace("miriam@example.org", "")
    page = client.get(f"/manage/{manage_token(screening)}").get_data(as_text=True)
    sent_table = page[page.index('class="sent-messages"') :]
    assert SUBJECT in sent_table
    assert "Confirmed guests" in sent_table

    # The same form posted twice sends once.
    token = manage_token(screening)
    form_page = client.get(f"/manage/{token}").get_data(as_text=True)
    key = re.search(r'name="submission_key"[^>]*value="([^"]+)"', form_page) or re.search(
        r'value="([^"]+)"[^>]*name="submission_key"', form_page
    )
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form_page).group(1)
    payload = {
        "csrf_token": csrf,
        "submission_key": key.group(1),
        "group": "waitlisted",
        "subject": "A seat may free up",
        "body": "Keep the evening free.",
    }
    smtp.clear()
    assert client.post(f"/manage/{token}/messages", data=payload).status_code == 302
    again = client.post(f"/manage/{token}/messages", data=payload, follow_redirects=True)
    assert "This message was already sent; it was not sent again." in again.get_data(as_text=True)
    waiting = _delivered(smtp, "A seat may free up", 1)
    assert [m["To"].addresses[0].addr_spec for m in waiting] == ["carl@example.org"]
    assert len(smtp.messages) == 1


HOSTILE_SUBJECTS = [
    "Hello\r\nBcc: evil@example.net",
    "Hello\nBcc: evil@example.net",
    "=?utf-8?q?Hello=0D=0ABcc:_evil@example.net?=",
    "=?utf-8?b?SGVsbG8NCkJjYzogZXZpbEBleGFtcGxlLm5ldA==?=",
]


@pytest.mark.parametrize("subject", HOSTILE_SUBJECTS)
def test_a_subject_that_would_start_a_header_is_refused_beside_the_field(client, db, smtp, subject):
    screening, _ = _guests(db)
    smtp.clear()
    response = _send(client, screening, subject=subject)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "This must be on one line." in page
    assert smtp.wait_for(1, timeout=0.5) == []


def test_encoded_words_and_breaks_in_the_text_reach_no_header(client, db, smtp):
    # An encoded-word without a control passes the form; it must arrive as typed, undecoded.
    make_screening(capacity=1)  # another screening's guests hear nothing
    screening = make_screening(contact_name="Cohen, evil@example.net", capacity=5)
    reply(screening, "ann@example.org")
    deliver_pending()
    smtp.clear()
    subject = "=?utf-8?q?Hacked?= news"
    body = "Line one\r\nBcc: evil@example.net\r\n\r\nSubject: =?utf-8?q?x=0D=0AX:_y?="
    assert _send(client, screening, subject=subject, body=body).status_code == 302
    (message,) = _delivered(smtp, "news", 1)
    assert "Hacked news" not in str(message["Subject"])
    assert "= ?utf-8?q?Hacked?= news" in str(message["Subject"])
    assert message["Bcc"] is None
    assert message["X"] is None
    assert [e.rcpt_tos for e in smtp.envelopes] == [["ann@example.org"]]
    # A comma in the organizer's name stays inside one display name.
    (reply_to,) = message["Reply-To"].addresses
    assert reply_to.addr_spec == "miriam@example.org"
    assert reply_to.display_name == "Cohen, evil@example.net"
    assert "Bcc: evil@example.net" in message.get_body(("plain",)).get_content()


@pytest.mark.config(GUEST_MESSAGES_PER_DAY=2)
def test_the_days_limit_refuses_beside_the_form_until_a_day_has_passed(client, db, smtp):
    screening, _ = _guests(db)
    other = make_screening(capacity=5)
    reply(other, "zoe@example.org")
    smtp.clear()
    assert _send(client, screening, subject="First").status_code == 302
    assert _send(client, screening, subject="Second").status_code == 302
    smtp.wait_for(4)
    smtp.clear()

    refused = _send(client, screening, subject="Third", body="Kept as typed")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Your guests have had 2 messages from you in the last 24 hours" in page
    assert 'id="messages-error"' in page
    assert "Kept as typed" in page  # the entries stay
    assert smtp.wait_for(1, timeout=0.5) == []
    # Another screening counts its own.
    assert _send(client, other, subject="Elsewhere").status_code == 302

    # A day later: the history's entries moved back 25 hours (not slept).
    for change in db.session.scalars(
        select(ScreeningChange).where(ScreeningChange.action == guest_messages.ACTION)
    ):
        change.at -= timedelta(hours=25)
    db.session.commit()
    assert _send(client, screening, subject="Third").status_code == 302


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_GUEST_MESSAGES="2 per minute")
def test_message_posts_are_limited_per_client(client, db, smtp):
    screening, _ = _guests(db)
    codes = [_send(client, screening, subject=f"Note {i}").status_code for i in range(3)]
    assert codes == [302, 302, 429]


def test_an_empty_group_and_a_pending_screening_are_refused(client, db, smtp):
    screening = make_screening(capacity=5)
    response = _send(client, screening, group="waitlisted")
    assert response.status_code == 422
    assert "Nobody in this group can be e-mailed" in response.get_data(as_text=True)
    bogus = _send(client, screening, group="cancelled")
    assert bogus.status_code == 422
    pending = make_screening(film_id=_film_needing_approval(db))
    assert pending.status == "pending"
    page = client.get(f"/manage/{manage_token(pending)}").get_data(as_text=True)
    assert "Write to your guests" not in page
    with pytest.raises(guest_messages.NotAllowed):
        guest_messages.message_guests(
            pending, group="confirmed", subject="x", body="y", submission_key="k", actor="t"
        )


def _film_needing_approval(db) -> int:
    from screenings.models import Film

    film = db.session.scalars(select(Film).order_by(Film.id)).first()
    film.requires_approval = True
    db.session.commit()
    return film.id


# ---------------------------------------------------------------- the host's note for guests
SOON = (datetime.now(UTC) + timedelta(hours=30)).date()


def _write_note(client, screening, note: str):
    """The organizer's edit form with the particulars as they are and the note."""
    token = manage_token(screening)
    data = booking_data(
        host_note=note,
        start_date=SOON.isoformat(),
        capacity="1",
        accept_terms=None,
        free_admission=None,
    )
    return submit(client, f"/manage/{token}/edit", data)


def test_the_host_note_reaches_confirmed_guests_and_nothing_public(client, runner, db, smtp):
    screening = make_screening(capacity=1, start_date=SOON)
    revisions = len(screening.licences)
    too_long = _write_note(client, screening, "x" * 1001)
    assert too_long.status_code == 422
    assert "Field cannot be longer than 1000 characters." in too_long.get_data(as_text=True)
    smtp.clear()
    assert _write_note(client, screening, NOTE).status_code == 302
    db.session.expire_all()
    screening = db.session.get(Screening, screening.id)
    assert screening.host_note == NOTE
    assert len(screening.licences) == revisions  # not a licence change: no revision, no mail
    assert smtp.wait_for(1, timeout=0.5) == []
    edit_page = client.get(f"/manage/{manage_token(screening)}/edit").get_data(as_text=True)
    assert "Note for your guests (optional)" in edit_page
    assert "never shown on the public" in edit_page

    # The confirmation e-mail (text and HTML), and the confirmed guest's page.
    post_rsvp(client, screening, email="ann@example.org")
    (confirmation,) = smtp.wait_for(1)
    assert NOTE in _text(confirmation)
    html = confirmation.get_body(("html",)).get_content()
    assert "Step-free entrance on Elm Lane." in html
    assert 'dir="auto"' in html
    page = client.get(rsvp_link(confirmation)).get_data(as_text=True)
    assert "Step-free entrance on Elm Lane." in page
    assert re.search(r'<p dir="auto" class="pre">Doors 18:30', page)
    # A guest on the waiting list sees no note (it may say how to find the door).
    smtp.clear()
    post_rsvp(client, screening, email="bob@example.org", name="Bob Waiting")
    (waitlisted,) = smtp.wait_for(1)
    assert "Elm Lane" not in waitlisted.get_body(("plain",)).get_content()
    assert "Elm Lane" not in client.get(rsvp_link(waitlisted)).get_data(as_text=True)

    # The reminder.
    smtp.clear()
    result = runner.invoke(args=["reminders", "send", "--lead-hours", "72"])
    assert result.exit_code == 0, result.output
    reminders = [m for m in smtp.wait_for(2) if "ann@" in str(m["To"])]
    assert NOTE in _text(reminders[0])
    assert "Elm Lane" in reminders[0].get_body(("html",)).get_content()

    # Nowhere public: the page, its .ics, the feeds, the list, the API, the embed.
    public = [
        f"/screenings/{screening.id}",
        f"/screenings/{screening.id}.ics",
        "/calendar.ics",
        f"/films/{screening.film.slug}/calendar.ics",
        "/countries/CA/calendar.ics",
        "/screenings",
        "/",
        "/api/screenings",
        "/embed",
        f"/licences/{screening.current_licence.number}",
    ]
    for url in public:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.get_data(as_text=True)
        assert "Elm Lane" not in body, url
        assert "Photo ID" not in body, url

    # The producer's corrections keep the organizer's note as written.
    bookings.update_booking(
        screening, booking_details(capacity=3), actor="producer:test", by_producer=True
    )
    db.session.expire_all()
    assert db.session.get(Screening, screening.id).host_note == NOTE


def test_erasure_leaves_no_trace_of_the_organizer_or_a_guest_in_messages_and_the_note(
    client, db, smtp
):
    from screenings.services import privacy

    from .test_privacy_erasure import traces_of

    screening = make_screening(contact_phone="+1 416 555 0177", capacity=5)
    screening.host_note = "Lost? Call Miriam Cohen on +1 416 555 0177."
    db.session.commit()
    ann = reply(screening, "ann@example.org", name="Ann Attendee")
    deliver_pending()
    assert _send(client, screening, body="Ann Attendee, Miriam Cohen here.").status_code == 302
    smtp.wait_for(3)
    assert traces_of("Miriam Cohen", "miriam@example.org", "+1 416 555 0177")  # the scan sees

    privacy.erase_attendee(ann, actor="attendee:own link")
    deliver_pending()  # the CANCEL, the last use of the address, is redacted once sent
    assert traces_of("Ann Attendee", "ann@example.org") == []
    privacy.erase_organizer_data("miriam@example.org", actor="producer:test@example.org")
    outbox.wait_idle(5)
    assert traces_of("Miriam Cohen", "miriam@example.org", "+1 416 555 0177") == []
    # The fact and the counts stay in the history.
    (change,) = db.session.scalars(
        select(ScreeningChange).where(ScreeningChange.action == guest_messages.ACTION)
    ).all()
    assert change.details["recipients"] == 1


def test_requests_waiting_for_approval_are_a_group_of_their_own(client, db, smtp):
    screening = make_screening(approves_guests=True, capacity=5)
    asking = reply(screening, "eva@example.org", name="Eva Asking")
    assert asking.status == "requested"
    deliver_pending()
    smtp.clear()
    page = client.get(f"/manage/{manage_token(screening)}").get_data(as_text=True)
    assert "Requests waiting for your approval (1)" in page
    assert _send(client, screening, group="requested").status_code == 302
    (message,) = _delivered(smtp, SUBJECT, 1)
    assert message["To"].addresses[0].addr_spec == "eva@example.org"
    assert "because you asked the host for a seat" in _text(message)
    assert _send(client, screening, group="confirmed", subject="x").status_code == 422
