"""Personal data: export and erase an organizer's, purge attendees' after their screening.

Organizations are not people: their names stay on licences and in statistics. Contact
names, e-mail addresses, phone numbers, notes and the e-mails sent to them are personal
and are what erasure removes.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import String, Text, delete, func, or_, select, update

from ..extensions import db, rows_changed
from ..models import (
    NearbySubscription,
    OutboxMessage,
    OutboxStatus,
    Rsvp,
    Screening,
    ScreeningReport,
    normalize_email,
    utcnow,
)
from ..places import city_by_id
from ..security import hash_token
from . import DomainError, escape_like
from .bounces import forget_addresses
from .history import record_change
from .redaction import ERASED, ERASED_ADDRESS, message_text, redact_message, scrub_text
from .rsvps import cancel_for_erasure, promote_waitlist

# Tables whose text is never a trace of someone else: the scrub leaves them alone (a
# producer's own address is their login).
_NOT_SCRUBBED = {"producers", "outbox_messages", "alembic_version"}


# -- finding and removing every trace of a person -----------------------------------------------


def _needles(*values: str) -> tuple[str, ...]:
    """What identifies the person, lower-cased: name, e-mail and phone as they gave them.

    Values under three characters are too short to remove without damaging other text."""
    found = {" ".join(value.split()).lower() for value in values if value}
    return tuple(sorted(needle for needle in found if len(needle) >= 3))


def _scrub_outbox(needles: tuple[str, ...], addresses: set[str], screening_ids: list[int]) -> None:
    """Redact the e-mails sent to the person or mentioning them (their screenings' mail and
    mail tied to no screening, e.g. digests). A message still to be sent to them as the last
    word of the erasure (erase_after_sending) is redacted by the outbox once sent."""
    rows = db.session.scalars(
        select(OutboxMessage).where(
            or_(
                func.lower(OutboxMessage.recipient).in_(addresses),
                OutboxMessage.screening_id.in_(screening_ids),
                OutboxMessage.screening_id.is_(None),
            )
        )
    )
    for row in rows:
        if row.erase_after_sending and row.status != OutboxStatus.SENT:
            continue
        to_them = row.recipient.lower() in addresses or any(
            n in row.recipient.lower() for n in needles
        )
        if to_them or any(n in message_text(row.raw).lower() for n in needles):
            redact_message(row, needles)
            if to_them:
                row.recipient = ERASED_ADDRESS


def _scrub_tables(needles: tuple[str, ...], screening_ids: list[int]) -> None:
    """Remove the needles from every text column of every other table: history actors and
    change records, shipping addresses, anything a later feature stores. Rows that belong to
    a screening are scrubbed only for the person's screenings, so a namesake elsewhere keeps
    their name."""
    for table in db.metadata.sorted_tables:
        if table.name in _NOT_SCRUBBED:
            continue
        columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        keys = list(table.primary_key.columns)
        if table.name == "screenings":
            scope = [table.c.id.in_(screening_ids)]
        elif "screening_id" in table.c:
            scope = [table.c.screening_id.in_(screening_ids)]
        else:
            scope = []
        for column in columns:
            matches = or_(
                *(func.lower(column).like(f"%{escape_like(n)}%", escape="\\") for n in needles)
            )
            for row in db.session.execute(select(*keys, column).where(matches, *scope)).all():
                *key, value = row
                db.session.execute(
                    update(table)
                    .where(*(k == v for k, v in zip(keys, key, strict=True)))
                    .values({column.name: scrub_text(value, needles)})
                )


def erase_everywhere(*values: str, screening_ids: list[int], addresses: set[str]) -> None:
    """Remove a person (name, e-mail, phone) from the outbox and every table (no commit)."""
    needles = _needles(*values)
    if not needles:
        return
    db.session.flush()
    forget_addresses(addresses)
    _scrub_outbox(needles, {a.lower() for a in addresses}, screening_ids)
    db.session.flush()
    _scrub_tables(needles, screening_ids)


def _screenings_of(email: str) -> list[Screening]:
    return list(
        db.session.scalars(
            select(Screening)
            .where(func.lower(Screening.contact_email) == normalize_email(email))
            .order_by(Screening.id)
        )
    )


def export_organizer_data(email: str) -> dict:
    """Everything held about an organizer (by contact e-mail), for a subject-access request."""
    screenings = _screenings_of(email)
    if not screenings:
        raise DomainError(_("No booking was made with this e-mail address."), field="email")
    ids = [s.id for s in screenings]
    messages = db.session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.screening_id.in_(ids),
            OutboxMessage.recipient == screenings[0].contact_email,
        )
        .order_by(OutboxMessage.id)
    ).all()
    reports = db.session.scalars(
        select(ScreeningReport).where(ScreeningReport.screening_id.in_(ids))
    ).all()
    return {
        "email": normalize_email(email),
        "exported_at": utcnow().isoformat() + "Z",
        "screenings": [
            {
                "id": s.id,
                "film": s.film.title,
                "status": s.status,
                "organization": {
                    "name": s.organization_name,
                    "type": s.organization_type,
                    "website": s.organization_website,
                    "country": s.organization_country,
                },
                "contact": {
                    "name": s.contact_name,
                    "email": s.contact_email,
                    "phone": s.contact_phone,
                },
                "venue": {
                    "name": s.venue_name,
                    "street_address": s.street_address,
                    "city": s.city,
                    "region": s.region,
                    "postal_code": s.postal_code,
                    "country": s.country,
                    "timezone": s.timezone,
                },
                "local_start": s.local_start.isoformat(),
                "duration_minutes": s.duration_minutes,
                "expected_audience": s.expected_audience,
                "notes": s.notes,
                "description": s.description,
                "licences": [
                    {
                        "number": lic.number,
                        "revision": lic.revision,
                        "issued_at": lic.issued_at.isoformat(),
                    }
                    for lic in s.licences
                ],
                "history": [
                    {"at": c.at.isoformat(), "actor": c.actor, "action": c.action}
                    for c in s.changes
                ],
                "created_at": s.created_at.isoformat(),
            }
            for s in screenings
        ],
        "emails": [
            {
                "subject": m.subject,
                "kind": m.kind,
                "status": m.status,
                "created_at": m.created_at.isoformat(),
            }
            for m in messages
        ],
        "reports": [
            {"screening_id": r.screening_id, "feedback": r.feedback, "quote": r.quote}
            for r in reports
        ],
    }


CONTACT_FIELDS = ("contact_name", "contact_email", "contact_phone")


def _earlier_contact_values(screenings: list[Screening]) -> set[str]:
    """Contact details the organizer gave before an edit, as the history recorded them."""
    values = set()
    for screening in screenings:
        for change in screening.changes:
            for name, pair in change.details.get("changes", {}).items():
                if name in CONTACT_FIELDS:
                    values |= {str(value) for value in pair if value}
    return values


def erase_organizer_data(email: str, *, actor: str) -> int:
    """Remove an organizer's personal data from every booking they made; returns how many.

    Their manage links stop working. Licences keep the organization and venue, which are
    not personal data, so verification still works.
    """
    screenings = _screenings_of(email)
    if not screenings:
        raise DomainError(_("No booking was made with this e-mail address."), field="email")
    traces = {
        value for s in screenings for value in (s.contact_name, s.contact_email, s.contact_phone)
    } | _earlier_contact_values(screenings)
    for screening in screenings:
        screening.contact_name = ERASED
        screening.contact_email = f"erased-{screening.id}@invalid"
        screening.contact_phone = ""
        screening.notes = ""
        screening.manage_token_version += 1
        screening.manage_token_hash = hash_token(secrets.token_urlsafe(32))
        record_change(screening, actor, "personal data erased")
    erase_everywhere(
        *traces,
        screening_ids=[s.id for s in screenings],
        addresses={value for value in traces if "@" in value},
    )
    db.session.execute(
        update(ScreeningReport)
        .where(ScreeningReport.screening_id.in_([s.id for s in screenings]))
        .values(feedback="", quote="")
    )
    db.session.commit()
    return len(screenings)


def erase_attendee(rsvp: Rsvp, *, actor: str) -> None:
    """Erase an attendee: their reply goes (a held seat is freed and given to the waiting
    list), and their name and e-mail leave every table and stored e-mail. The CANCEL that
    takes the entry out of their calendar is the last use of the address: it is redacted by
    the outbox once sent."""
    _erase_attendees([rsvp], actor=actor)


def erase_attendee_everywhere(address: str, *, actor: str) -> int:
    """The producer erases an attendee by e-mail address from every screening they replied to."""
    rows = db.session.scalars(
        select(Rsvp).where(Rsvp.email_normalized == normalize_email(address))
    ).all()
    if not rows:
        raise DomainError(_("No reply was made with this e-mail address."), field="email")
    _erase_attendees(list(rows), actor=actor)
    return len(rows)


def _erase_attendees(rows: list[Rsvp], *, actor: str) -> None:
    """Cancel every reply first (each CANCEL needs the address), then remove every trace."""
    traces = {value for row in rows for value in (row.name, row.email)}
    addresses = {row.email for row in rows}
    freed, screening_ids = [], []
    for row in rows:
        screening = row.screening
        screening_ids.append(screening.id)
        if cancel_for_erasure(row):
            freed.append(screening)
        db.session.delete(row)
        record_change(screening, actor, "attendee erased")
    db.session.flush()
    db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            func.lower(OutboxMessage.recipient).in_({a.lower() for a in addresses}),
            OutboxMessage.kind == "rsvp_cancelled",
        )
        .values(erase_after_sending=True)
    )
    erase_everywhere(*traces, screening_ids=screening_ids, addresses=addresses)
    for screening in freed:
        promote_waitlist(screening)
    db.session.commit()


def purge_attendee_data(*, older_than_days: int) -> dict:
    """Anonymise RSVPs of screenings that ended that long ago, and drop old e-mail copies.

    The counts (seats, party sizes) stay for the producer's reach statistics.
    """
    cutoff = utcnow() - timedelta(days=older_than_days)
    ended_ids = select(Screening.id).where(Screening.starts_at < cutoff)
    rsvps = db.session.scalars(
        select(Rsvp).where(Rsvp.screening_id.in_(ended_ids), Rsvp.email != "")
    ).all()
    gone = {rsvp.email_normalized for rsvp in rsvps}
    for rsvp in rsvps:
        rsvp.name = ""
        rsvp.email = ""
        rsvp.answer = ""
        rsvp.email_normalized = f"purged-{rsvp.id}"
        rsvp.cancel_key = secrets.token_urlsafe(32)
        rsvp.cancel_token_hash = hash_token(secrets.token_urlsafe(32))
    messages_deleted = rows_changed(
        delete(OutboxMessage).where(
            OutboxMessage.created_at < cutoff,
            OutboxMessage.status.in_(
                [
                    OutboxStatus.SENT,
                    OutboxStatus.DEAD,
                    OutboxStatus.BOUNCED,
                    OutboxStatus.SUPPRESSED,
                ]
            ),
        )
    )
    db.session.flush()
    still_used = (
        set(
            db.session.scalars(select(Rsvp.email_normalized).where(Rsvp.email_normalized.in_(gone)))
        )
        | set(
            db.session.scalars(
                select(func.lower(Screening.contact_email)).where(
                    func.lower(Screening.contact_email).in_(gone)
                )
            )
        )
        | set(  # a near-me subscriber's hard bounce must stay suppressed too
            db.session.scalars(
                select(func.lower(NearbySubscription.email)).where(
                    func.lower(NearbySubscription.email).in_(gone)
                )
            )
        )
    )
    forget_addresses(gone - still_used)  # bounce records of addresses no longer held
    db.session.commit()
    return {"rsvps": len(rsvps), "emails": messages_deleted}


# -- near-me alert subscribers (services/near_alerts.py) ----------------------------------------


def _subscriptions_of(address: str) -> list[NearbySubscription]:
    return list(
        db.session.scalars(
            select(NearbySubscription)
            .where(NearbySubscription.email == normalize_email(address))
            .order_by(NearbySubscription.id)
        )
    )


def export_subscriber_data(address: str) -> dict:
    """Everything held about a near-me subscriber (by address): each subscription and the
    e-mails sent to them."""
    subscriptions = _subscriptions_of(address)
    if not subscriptions:
        raise DomainError(_("No alert was asked for with this e-mail address."), field="email")
    email_address = subscriptions[0].email
    messages = db.session.scalars(
        select(OutboxMessage)
        .where(
            func.lower(OutboxMessage.recipient) == email_address,
            OutboxMessage.kind.in_(["nearby_confirm", "nearby_alert"]),
        )
        .order_by(OutboxMessage.id)
    ).all()
    return {
        "email": email_address,
        "exported_at": utcnow().isoformat() + "Z",
        "subscriptions": [
            {
                "town": city.label() if (city := city_by_id(s.city_id)) else str(s.city_id),
                "town_id": s.city_id,
                "radius_km": s.radius_km,
                "language": s.language,
                "created_at": s.created_at.isoformat(),
                "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
                "last_alert_at": s.last_sent_at.isoformat() if s.last_sent_at else None,
            }
            for s in subscriptions
        ],
        "emails": [
            {"subject": m.subject, "kind": m.kind, "created_at": m.created_at.isoformat()}
            for m in messages
        ],
    }


def erase_subscriber_data(address: str) -> int:
    """Delete every near-me subscription of an address and redact the e-mails sent to it;
    returns how many subscriptions went."""
    subscriptions = _subscriptions_of(address)
    if not subscriptions:
        raise DomainError(_("No alert was asked for with this e-mail address."), field="email")
    email_address = subscriptions[0].email
    for subscription in subscriptions:
        db.session.delete(subscription)
    erase_everywhere(email_address, screening_ids=[], addresses={email_address})
    db.session.commit()
    return len(subscriptions)


def purge_unconfirmed_subscriptions(*, older_than_days: int) -> int:
    """Forget near-me subscriptions nobody confirmed within that many days."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    forgotten = rows_changed(
        delete(NearbySubscription).where(
            NearbySubscription.confirmed_at.is_(None), NearbySubscription.created_at < cutoff
        )
    )
    db.session.commit()
    return forgotten
