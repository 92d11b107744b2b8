"""`flask reminders send`: the organizer and attendees, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from screenings.models import Screening

from .factories import make_screening
from .rsvp_helpers import reply


def test_reminders_go_once_to_organizer_and_attendees(runner, db, smtp):
    soon = make_screening(start_date=(datetime.now(UTC) + timedelta(hours=30)).date())
    later = make_screening(start_date=(datetime.now(UTC) + timedelta(days=20)).date())
    reply(soon, "ann@example.org", 2)
    reply(soon, "bob@example.org", 1)
    reply(later, "cat@example.org")
    from screenings.outbox import deliver_pending

    deliver_pending()
    smtp.clear()

    result = runner.invoke(args=["reminders", "send", "--lead-hours", "72"])
    assert result.exit_code == 0, result.output
    assert "reminded 1 screening(s), queued 3 e-mail(s)" in result.output
    messages = smtp.wait_for(3)
    recipients = sorted(m["To"].addresses[0].addr_spec for m in messages)
    assert recipients == ["ann@example.org", "bob@example.org", "miriam@example.org"]
    organizer = smtp.to("miriam@example.org")[0]
    assert "Reminder" in organizer["Subject"]
    assert "2 RSVPs hold 3 seats of 100" in organizer.get_body(("plain",)).get_content()
    assert db.session.get(Screening, soon.id).reminder_sent_at is not None
    assert db.session.get(Screening, later.id).reminder_sent_at is None

    smtp.clear()
    again = runner.invoke(args=["reminders", "send", "--lead-hours", "72"])
    assert "reminded 0 screening(s), queued 0 e-mail(s)" in again.output
    assert smtp.wait_for(1, timeout=0.5) == []


def test_default_lead_is_24_hours(runner, db, app):
    assert app.config["REMINDER_LEAD_HOURS"] == 24
    make_screening(start_date=(datetime.now(UTC) + timedelta(days=3)).date())
    result = runner.invoke(args=["reminders", "send"])
    assert "reminded 0 screening(s)" in result.output
