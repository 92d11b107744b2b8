"""Erasure leaves no trace (issue 11, item 6): every text and binary column of every table is
scanned for the person's name, e-mail and phone, stored e-mails decoded as a client would."""

from __future__ import annotations

import base64
import quopri
import re

import pytest
from icalendar import Calendar
from sqlalchemy import LargeBinary, String, Text, select

from screenings import outbox
from screenings.extensions import db
from screenings.models import OutboxMessage, Rsvp, Screening, ScreeningChange
from screenings.outbox import deliver_pending
from screenings.services import bookings, privacy, redaction

from .conftest import booking_data, hidden_fields, submit
from .factories import booking_details
from .producer_helpers import producer  # noqa: F401  (fixture)
from .rsvp_helpers import calendar_bytes, rsvp_data, rsvp_link

ORGANIZER = ("Miriam Cohen", "miriam@example.org", "+1 416 555 0199")
ORGANIZER_BEFORE = ("Miriam Levi", "miriam.levi@example.org", "+1 416 555 0142")
ATTENDEE = ("Ann Attendee", "ann@example.org")


def _decoded_variants(blob: bytes) -> str:
    """A stored value read every way it could hide a string: as text, and with each base64
    block and the quoted-printable encoding undone (a MIME body's transfer encodings)."""
    text = blob.decode("utf-8", "replace")
    variants = [text, quopri.decodestring(blob).decode("utf-8", "replace")]
    for block in re.findall(rb"(?:[A-Za-z0-9+/]{4}\r?\n?){4,}(?:[A-Za-z0-9+/=]{4})?", blob):
        try:
            variants.append(base64.b64decode(re.sub(rb"\s", b"", block)).decode("utf-8", "replace"))
        except ValueError:
            continue
    variants.append(
        redaction.message_text(blob) if blob.startswith((b"Subject", b"Content")) else ""
    )
    return "\n".join(variants)


def traces_of(*needles: str) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every stored value, in every table, that mentions a needle."""
    db.session.expire_all()
    found = []
    lowered = [n.lower() for n in needles]
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text | LargeBinary)]
        if not columns:
            continue
        for row in db.session.execute(select(*columns)):
            for column, value in zip(columns, row, strict=True):
                if value is None:
                    continue
                blob = value if isinstance(value, bytes) else value.encode()
                text = _decoded_variants(blob).lower()
                found += [(table.name, column.name, n) for n in lowered if n in text]
    return found


def test_the_scan_finds_a_name_hidden_in_a_base64_mime_body(db, smtp):
    # A scan that cannot find the name in an e-mail body would pass on anything.
    submit_booking_with_history(db)
    deliver_pending()  # licence mails are composed, and stored, when delivered
    # Each stored mail with the name taken out where it is in clear: what is left holds it
    # only encoded (the invite.ics attachment is base64), and the scan must still find it.
    raws = [row.raw for row in db.session.scalars(select(OutboxMessage))]
    encoded_only = [raw.replace(b"Miriam Cohen", b"") for raw in raws]
    assert any("miriam cohen" in _decoded_variants(raw).lower() for raw in encoded_only)
    assert ("outbox_messages", "raw", "miriam cohen") in traces_of("Miriam Cohen")


def submit_booking_with_history(db) -> Screening:
    """A booking whose contact details changed once (so the history holds old and new)."""
    name, address, phone = ORGANIZER_BEFORE
    screening = bookings.create_booking(
        booking_details(contact_name=name, contact_email=address, contact_phone=phone),
        submission_key="erase-me",
    ).screening
    name, address, phone = ORGANIZER
    bookings.update_booking(
        screening,
        booking_details(
            contact_name=name, contact_email=address, contact_phone=phone, city="Ottawa"
        ),
        actor=f"organizer:{ORGANIZER_BEFORE[1]}",
    )
    return screening


def test_erasing_an_organizer_leaves_no_trace_in_any_table(client, db, smtp):
    screening = submit_booking_with_history(db)
    deliver_pending()
    everything = (*ORGANIZER, *ORGANIZER_BEFORE)
    before = traces_of(*everything)
    assert {"screenings", "screening_changes", "outbox_messages"} <= {t for t, _c, _n in before}

    privacy.erase_organizer_data(ORGANIZER[1], actor="producer:test@example.org")

    assert traces_of(*everything) == []
    # The facts stay: the screening, its licence, its history and its e-mails' kinds and dates.
    db.session.expire_all()
    screening = db.session.get(Screening, screening.id)
    assert screening.current_licence is not None
    actions = [c.action for c in screening.changes]
    assert actions[:2] == ["booked", "approved"]
    assert "personal data erased" in actions
    kinds = {row.kind for row in db.session.scalars(select(OutboxMessage))}
    assert {"licence_issued", "licence_revised"} <= kinds
    for row in db.session.scalars(select(OutboxMessage)):
        assert row.created_at is not None
        assert b"erased at its recipient's request" in row.raw


def test_erasing_an_attendee_leaves_no_trace_and_still_cancels_their_invite(client, db, smtp):
    screening = bookings.create_booking(booking_details(), submission_key="k").screening
    submit(client, f"/screenings/{screening.id}", rsvp_data(name=ATTENDEE[0], email=ATTENDEE[1]))
    submit(
        client, f"/screenings/{screening.id}", rsvp_data(name="Ben Other", email="ben@example.org")
    )
    deliver_pending()
    (confirmation,) = smtp.to(ATTENDEE[1])
    link = rsvp_link(confirmation)
    assert traces_of(*ATTENDEE)
    smtp.clear()

    page = client.get(link)
    response = client.post(f"{link}/erase", data=hidden_fields(page.get_data(as_text=True)))
    assert response.status_code == 302
    response.close()  # as a server does: the outbox's background thread sends the CANCEL
    assert outbox.wait_idle(15)
    deliver_pending()

    # Their calendar entry is cancelled (real SMTP, the iTIP CANCEL parsed) ...
    (cancel,) = smtp.to(ATTENDEE[1])
    assert Calendar.from_ical(calendar_bytes(cancel))["METHOD"] == "CANCEL"
    # ... and then nothing anywhere mentions them, the sent CANCEL included.
    assert traces_of(*ATTENDEE) == []
    assert client.get(link).status_code == 404
    # The other guest is untouched.
    assert traces_of("Ben Other", "ben@example.org")
    assert db.session.scalar(select(Rsvp.email)) == "ben@example.org"
    assert "attendee erased" in [c.action for c in db.session.scalars(select(ScreeningChange))]


def test_the_producer_erases_an_attendee_from_the_privacy_page(client, db, smtp, producer):  # noqa: F811
    screening = bookings.create_booking(booking_details(), submission_key="k").screening
    other = bookings.create_booking(
        booking_details(venue_name="Other Hall"), submission_key="k2"
    ).screening
    for target in (screening, other):
        submit(client, f"/screenings/{target.id}", rsvp_data(name=ATTENDEE[0], email=ATTENDEE[1]))
    deliver_pending()
    refused = submit(client, "/producer/privacy", {"attendee-email": ATTENDEE[1]})
    assert refused.status_code == 422
    assert "Tick the box" in refused.get_data(as_text=True)
    unknown = submit(
        client,
        "/producer/privacy",
        {"attendee-email": "nobody@example.org", "attendee-confirm": "y"},
    )
    assert unknown.status_code == 422
    done = submit(
        client,
        "/producer/privacy",
        {"attendee-email": ATTENDEE[1].upper(), "attendee-confirm": "y"},
        follow_redirects=True,
    )
    assert "2 reply(ies)" in done.get_data(as_text=True)
    deliver_pending()
    assert traces_of(*ATTENDEE) == []
    # The producer's own address stays in the history as who erased them.
    actors = [c.actor for c in db.session.scalars(select(ScreeningChange))]
    assert any(actor.startswith("producer:") for actor in actors)


def test_booking_form_phone_is_erased_too(client, db, smtp):
    response = submit(client, "/book", booking_data(contact_phone="+44 20 7946 0958"))
    assert response.status_code == 302
    deliver_pending()
    assert traces_of("+44 20 7946 0958")
    privacy.erase_organizer_data("miriam@example.org", actor="producer:test@example.org")
    assert traces_of("+44 20 7946 0958", "Miriam Cohen", "miriam@example.org") == []


@pytest.mark.config(OUTBOX_MAX_ATTEMPTS=1)
def test_an_erased_attendees_last_message_is_redacted_when_it_cannot_be_sent(client, db, smtp):
    screening = bookings.create_booking(booking_details(), submission_key="k").screening
    submit(client, f"/screenings/{screening.id}", rsvp_data(name=ATTENDEE[0], email=ATTENDEE[1]))
    deliver_pending()
    (rsvp,) = db.session.scalars(select(Rsvp))
    smtp.refuse = True
    try:
        privacy.erase_attendee(rsvp, actor="attendee:own link")
        deliver_pending()
    finally:
        smtp.refuse = False
    dead = db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "dead")).all()
    assert [row.kind for row in dead] == ["rsvp_cancelled"]
    assert traces_of(*ATTENDEE) == []
