"""The organizer writes to their guests: one group at a time, each guest once, through the outbox.

Each guest receives the organizer's subject and text inside a frame in the guest's own
language (greeting, why they get it, their private RSVP link); answers reach the organizer
(``Reply-To``). A screening sends at most ``GUEST_MESSAGES_PER_DAY`` messages in any 24 hours,
counted from its history, which records what was sent, to which group and to how many:
never the guests' addresses (the outbox's copies go with the usual erasure and purge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select, update

from .. import emails
from ..extensions import db
from ..models import Rsvp, RsvpStatus, Screening, ScreeningChange, ScreeningStatus, utcnow
from . import DomainError, NotAllowed
from .history import record_change
from .inbound import bounced_addresses
from .rsvps import attendees

ACTION = "guests messaged"
SUBJECT_MAX = 150
BODY_MAX = 5000
WINDOW = timedelta(hours=24)

# Whom an organizer can write to: an RSVP status, its name on the form, and the sentence that
# tells each guest why they get the message: a new group is one entry here. Unconfirmed replies
# (an address nobody has confirmed yet), declined and cancelled ones are never written to.
GROUPS = {
    RsvpStatus.CONFIRMED.value: (
        _l("Confirmed guests"),
        _l("You get this message because you have seats for this screening."),
    ),
    RsvpStatus.WAITLISTED.value: (
        _l("The waiting list"),
        _l("You get this message because you are on the waiting list for this screening."),
    ),
    RsvpStatus.REQUESTED.value: (
        _l("Requests waiting for your approval"),
        _l("You get this message because you asked the host for a seat at this screening."),
    ),
}


class GuestMessageError(DomainError):
    pass


@dataclass
class SentMessage:
    group: str
    subject: str
    recipients: int
    # Guests of the group left out: no consent to e-mail, or an address that bounces.
    skipped: int
    at: datetime
    # False when the same form was posted again: nothing was sent the second time.
    is_new: bool = True

    @classmethod
    def recorded(cls, change: ScreeningChange, *, is_new: bool = True) -> SentMessage:
        """The message as its history entry records it (counts, never addresses)."""
        details = change.details
        return cls(
            group=details.get("group", ""),
            subject=details.get("subject", ""),
            recipients=int(details.get("recipients", 0)),
            skipped=int(details.get("skipped", 0)),
            at=change.at,
            is_new=is_new,
        )


def groups() -> list[tuple[str, str]]:
    """The groups offered on the form, as (status, label)."""
    return [(key, label) for key, (label, _why) in GROUPS.items()]


def group_label(group: str) -> str:
    """A group's name for the organizer ("Confirmed guests")."""
    return str(GROUPS[group][0]) if group in GROUPS else group


def group_sizes(screening: Screening) -> dict[str, int]:
    """How many guests each group's message would reach now."""
    return {key: len(_recipients(screening, key)[0]) for key, _label in groups()}


def can_message(screening: Screening) -> bool:
    """Only an approved screening has guests to write to."""
    return screening.status == ScreeningStatus.APPROVED


def _history(screening_id: int) -> list[ScreeningChange]:
    return list(
        db.session.scalars(
            select(ScreeningChange)
            .where(ScreeningChange.screening_id == screening_id, ScreeningChange.action == ACTION)
            .order_by(ScreeningChange.at.desc(), ScreeningChange.id.desc())
        )
    )


def sent_messages(screening: Screening) -> list[SentMessage]:
    """The messages sent to the screening's guests, newest first (for the manage page)."""
    return [SentMessage.recorded(change) for change in _history(screening.id)]


def _recipients(screening: Screening, group: str) -> tuple[list[Rsvp], int]:
    """The group's guests who agreed to e-mail and whose address does not bounce."""
    rows = attendees(screening, statuses=(group,))
    bounced = bounced_addresses([row.email for row in rows if row.email])
    chosen = [
        row
        for row in rows
        if row.email
        and row.consent_to_email
        and not (bounced.get(row.email_normalized) and bounced[row.email_normalized].is_permanent)
    ]
    return chosen, len(rows) - len(chosen)


def _lock(screening_id: int) -> None:
    """Hold the screening's row until commit, so two posts at once count each other.

    The first statement of the transaction: SQLite takes its write lock at once, PostgreSQL
    the row lock (the same pattern as the seat counter in services/rsvps.py).
    """
    db.session.execute(
        update(Screening)
        .where(Screening.id == screening_id)
        .values(updated_at=Screening.updated_at)
        .execution_options(synchronize_session=False)
    )


def daily_limit() -> int:
    """Messages one screening's guests may get from its organizer in any 24 hours."""
    return int(current_app.config["GUEST_MESSAGES_PER_DAY"])


def _refuse_past_limit(earlier: list[ScreeningChange], now: datetime) -> None:
    limit = daily_limit()
    recent = [change for change in earlier if change.at > now - WINDOW]
    if len(recent) < limit:
        return
    hours = max(math.ceil((min(c.at for c in recent) + WINDOW - now).total_seconds() / 3600), 1)
    raise GuestMessageError(
        ngettext(
            "Your guests have had %(limit)s messages from you in the last 24 hours, the most "
            "we send for one screening. You can write again in about %(num)s hour.",
            "Your guests have had %(limit)s messages from you in the last 24 hours, the most "
            "we send for one screening. You can write again in about %(num)s hours.",
            hours,
            limit=limit,
        )
    )


def message_guests(
    screening: Screening,
    *,
    group: str,
    subject: str,
    body: str,
    submission_key: str,
    actor: str,
) -> SentMessage:
    """Queue the organizer's message to every guest of one group, in one transaction.

    The same form posted twice (``submission_key``) sends once. Refused past the day's limit,
    for a group nobody in which can be e-mailed, and for a screening that is not approved.
    """
    if not can_message(screening):
        raise NotAllowed(_("You can write to the guests of an approved screening only."))
    if group not in dict(groups()):
        raise GuestMessageError(_("Choose who gets the message."), field="group")
    subject = " ".join(subject.split())
    body = body.strip()
    if not subject or len(subject) > SUBJECT_MAX:
        raise GuestMessageError(
            _("Write a subject of up to %(n)s characters.", n=SUBJECT_MAX), field="subject"
        )
    if not body or len(body) > BODY_MAX:
        raise GuestMessageError(
            _("Write a message of up to %(n)s characters.", n=BODY_MAX), field="body"
        )
    screening_id = screening.id
    _lock(screening_id)
    earlier = _history(screening_id)
    for change in earlier:
        if submission_key and change.details.get("key") == submission_key:
            db.session.rollback()
            return SentMessage.recorded(change, is_new=False)
    now = utcnow()
    try:
        _refuse_past_limit(earlier, now)
        rows, skipped = _recipients(screening, group)
        if not rows:
            raise GuestMessageError(
                _("Nobody in this group can be e-mailed: choose another group."), field="group"
            )
    except DomainError:
        db.session.rollback()
        raise
    why = GROUPS[group][1]
    for row in rows:
        emails.send_guest_message(row, subject=subject, body=body, why=why)
    record_change(
        screening,
        actor,
        ACTION,
        group=group,
        subject=subject,
        body=body,
        recipients=len(rows),
        skipped=skipped,
        key=submission_key,
    )
    db.session.commit()
    return SentMessage(group, subject, len(rows), skipped, now)
