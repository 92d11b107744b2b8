"""Time changes reach everyone they concern (issue 14 item 5, issue 16 item 9): a reschedule
re-arms the reminder, guests on the waiting list hear of a new time or place, and the change
e-mail shows what each particular was and what it is now, in the guest's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from babel import dates as babel_dates
from flask_babel import force_locale, gettext
from sqlalchemy import select

from screenings.formatting import localized_start_display
from screenings.models import OutboxMessage, Screening
from screenings.outbox import deliver_pending
from screenings.services import rsvps as rsvp_service
from screenings.services.bookings import update_booking
from screenings.services.reminders import send_reminders

from .factories import booking_details, make_screening
from .rsvp_helpers import reply

LEAD = timedelta(hours=24)


def _reminders_queued(screening_id: int) -> list[str]:
    """Who the reminders queued so far for the screening go to, in order."""
    from screenings.extensions import db

    return list(
        db.session.scalars(
            select(OutboxMessage.recipient)
            .where(
                OutboxMessage.screening_id == screening_id,
                OutboxMessage.kind.in_(("rsvp_reminder", "organizer_reminder")),
            )
            .order_by(OutboxMessage.id)
        )
    )


def _move(screening, by: timedelta):
    """The organizer moves the screening (same time of day, another day)."""
    start = screening.local_start + by
    update_booking(
        screening,
        booking_details(
            start_date=start.date(), start_time=start.time(), capacity=screening.capacity
        ),
        actor="organizer:test",
    )


def _remind_at(moment: datetime) -> int:
    """The reminder job as if run at ``moment`` (UTC, naive like the columns)."""
    return send_reminders(lead=LEAD, now=moment)["screenings"]


@pytest.mark.parametrize("by", [timedelta(days=35), timedelta(days=-10)], ids=["later", "earlier"])
def test_a_moved_screening_is_reminded_before_its_new_start_once(db, by):
    screening = make_screening(start_date=(datetime.now(UTC) + timedelta(days=20)).date())
    reply(screening, "ann@example.org")
    first_start = screening.starts_at
    assert _remind_at(first_start - timedelta(hours=20)) == 1
    assert _reminders_queued(screening.id) == ["miriam@example.org", "ann@example.org"]

    _move(screening, by)
    new_start = db.session.get(Screening, screening.id).starts_at
    assert new_start - first_start in (by, by - timedelta(hours=1), by + timedelta(hours=1))
    assert _remind_at(new_start - LEAD - timedelta(hours=1)) == 0  # not due yet
    assert _remind_at(new_start - timedelta(hours=20)) == 1
    assert _remind_at(new_start - timedelta(hours=19)) == 0  # once
    assert _remind_at(new_start - timedelta(hours=1)) == 0
    assert len(_reminders_queued(screening.id)) == 4
    reminder = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == "rsvp_reminder")
        .order_by(OutboxMessage.id.desc())
    ).first()
    screening = db.session.get(Screening, screening.id)
    assert localized_start_display(screening).split(" (")[0] in reminder.raw.decode(
        "utf-8", "replace"
    ).replace("=\r\n", "")


def test_a_change_that_keeps_the_time_does_not_remind_again(db):
    screening = make_screening(start_date=(datetime.now(UTC) + timedelta(days=20)).date())
    assert _remind_at(screening.starts_at - timedelta(hours=20)) == 1
    same_time = booking_details(start_date=screening.local_start.date(), venue_name="Small Hall")
    update_booking(screening, same_time, actor="organizer:test")
    assert _remind_at(screening.starts_at - timedelta(hours=19)) == 0


def _message_to(smtp, address: str):
    messages = smtp.to(address)
    assert len(messages) == 1, [m["Subject"] for m in messages]
    return messages[0]


def _has_calendar(message) -> bool:
    return any(part.get_content_type() == "text/calendar" for part in message.walk())


def _edit(screening, start: datetime, *, visibility: str) -> None:
    """The organizer's edit: a new day, hall and street, one seat as before."""
    details = booking_details(
        start_date=start.date(),
        venue_name="Small Hall",
        street_address="12 Spadina Road",
        capacity=1,
        visibility=visibility,
    )
    update_booking(screening, details, actor="organizer:test")


def test_waiting_list_guests_get_one_email_of_a_new_time_or_place(db, smtp):
    screening = make_screening(capacity=1, visibility="guests")
    reply(screening, "ann@example.org")
    reply(screening, "wait@example.org", name="Wanda Wait")
    deliver_pending()
    smtp.clear()

    start = screening.local_start + timedelta(days=2)
    _edit(screening, start, visibility="guests")
    deliver_pending()
    smtp.wait_for(2)
    waiting = _message_to(smtp, "wait@example.org")
    assert not _has_calendar(waiting)  # no invite: they hold no seat
    text = waiting.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "waiting list" in text
    assert "Small Hall" in text
    assert "Main Sanctuary Hall" in text
    for street in ("12 Spadina Road", "1700 Bathurst Street"):
        assert street not in text  # the street is for confirmed guests
    confirmed = _message_to(smtp, "ann@example.org")
    assert _has_calendar(confirmed)
    assert "12 Spadina Road" in confirmed.get_body(("plain",)).get_content().replace("\r\n", "\n")

    # A change of who learns the street moves nothing a waiting guest may know: no e-mail.
    smtp.clear()
    _edit(screening, start, visibility="public")
    deliver_pending()
    smtp.wait_for(1)
    assert smtp.to("wait@example.org") == []
    assert len(smtp.to("ann@example.org")) == 1


class Cells(HTMLParser):
    """The text of each <tr>'s cells, with the tag that wrapped each value (s, strong)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, str]]] = []
        self._tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
            self._tags = []
        elif self._cell is not None:
            self._tags.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(("".join(self._cell).strip(), ",".join(self._tags)))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.mark.parametrize("language", ["en", "fr", "he"])
def test_change_email_shows_each_particular_before_and_now(db, smtp, app, language):
    screening = make_screening(start_date=(datetime.now(UTC) + timedelta(days=30)).date())
    rsvp_service.rsvp(
        screening,
        name="Ann",
        email="ann@example.org",
        party_size=1,
        consent=True,
        language=language,
    )
    with app.test_request_context(), force_locale(language):
        old_start = localized_start_display(screening)
    old_local = screening.local_start_aware
    deliver_pending()
    smtp.clear()

    start = screening.local_start + timedelta(days=3, hours=1)
    update_booking(
        screening,
        booking_details(start_date=start.date(), start_time=start.time(), venue_name="Small Hall"),
        actor="organizer:test",
    )
    deliver_pending()
    smtp.wait_for(1)
    message = _message_to(smtp, "ann@example.org")
    screening = db.session.get(Screening, screening.id)
    with app.test_request_context(), force_locale(language):
        new_start = localized_start_display(screening)
        labels = {name: gettext(name) for name in ("Starts", "Venue", "Before:", "Now:")}
        before_now = (gettext("Before"), gettext("Now"))
    assert old_start != new_start
    if language != "en":
        # Babel's own words for the day, at the venue (19:00 in Toronto, not 23:00 UTC).
        assert babel_dates.format_date(old_local, "full", locale=language) in old_start
        assert "19:00" in old_start
        assert "20:00" in new_start

    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    block = text[text.index(labels["Starts"] + "\n") :]
    assert block.splitlines()[1:3] == [
        f"  {labels['Before:']} {old_start}",
        f"  {labels['Now:']} {new_start}",
    ]
    assert re.search(rf"{labels['Venue']}\n  .*Main Sanctuary Hall.*\n  .*Small Hall", text)

    html = message.get_body(("html",)).get_content()
    assert f'dir="{"rtl" if language == "he" else "ltr"}"' in html
    cells = Cells()
    cells.feed(html)
    assert ["", *before_now] in [[text for text, _tag in row] for row in cells.rows]
    rows = {row[0][0]: row[1:] for row in cells.rows if len(row) == 3}
    assert rows[labels["Starts"]] == [(old_start, "s"), (new_start, "strong")]
    assert rows[labels["Venue"]][0][0].startswith("Main Sanctuary Hall")
    assert rows[labels["Venue"]][1][0].startswith("Small Hall")


def test_a_move_held_for_review_reaches_guests_and_the_reminder_once_approved(db, smtp):
    from screenings.models import ChangeRequest, Film
    from screenings.services.bookings import approve_booking, approve_change

    db.session.get(Film, 1).requires_approval = True
    db.session.commit()
    screening = make_screening(
        capacity=1, start_date=(datetime.now(UTC) + timedelta(days=20)).date()
    )
    approve_booking(screening, actor="producer:test")
    reply(screening, "ann@example.org")
    reply(screening, "wait@example.org")
    first_start = screening.starts_at
    assert _remind_at(first_start - timedelta(hours=20)) == 1
    deliver_pending()
    smtp.clear()

    _move(screening, timedelta(days=35))  # more than a day: the producer reviews it
    held = db.session.scalar(select(ChangeRequest))
    assert set(held.changes) == {"local_start"}
    assert db.session.get(Screening, screening.id).starts_at == first_start
    deliver_pending()
    smtp.wait_for(1)
    assert smtp.to("wait@example.org") == []  # nothing moved yet
    approve_change(held, actor="producer:test")
    deliver_pending()
    smtp.wait_for(2)

    new_start = db.session.get(Screening, screening.id).starts_at
    assert new_start - first_start >= timedelta(days=34)
    text = _message_to(smtp, "wait@example.org").get_body(("plain",)).get_content()
    with force_locale("en"):
        old_display = localized_start_display(
            Screening(starts_at=first_start, timezone="America/Toronto")
        )
    assert f"Before: {old_display}" in text.replace("\r\n", "\n")
    assert _has_calendar(_message_to(smtp, "ann@example.org"))
    assert _remind_at(new_start - timedelta(hours=20)) == 1
    assert _remind_at(new_start - timedelta(hours=19)) == 0
