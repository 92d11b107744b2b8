"""Tickets and the door: each confirmed RSVP's ticket code, check-in, and helper links.

A ticket code is 16 Crockford base32 symbols (80 bits) derived with the app's secret from the
RSVP's random key, so it carries nothing personal and is shown again without being stored:
only its digest (``rsvps.ticket_hash``) is kept, and the door finds a ticket by it. The door is
reached through the organizer's manage link or a helper link (check-in only, revocable).

Check-in is one conditional UPDATE (``checked_in_count + n <= party_size`` and the RSVP still
confirmed), so two phones at two doors never let one ticket in twice.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from datetime import datetime

import segno
from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, func, select, update

from ..extensions import db, rows_changed
from ..models import DoorHelper, Rsvp, RsvpStatus, Screening, utcnow
from ..security import candidate_tokens, hash_token, link_token, new_token, tokens_match
from . import DomainError, NotAllowed, escape_like
from .licences import CROCKFORD, READ_AS

TICKET_SYMBOLS = 16
_NOT_SYMBOL = re.compile(r"[^0-9A-Z]")
LABEL_MAX = 80


class DoorError(DomainError):
    """The door refuses a ticket; the message says why (and who let it in first)."""


def _code_of(token: str) -> str:
    digest = base64.urlsafe_b64decode(token + "=")
    value = int.from_bytes(digest[:10], "big")
    symbols = "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in range(TICKET_SYMBOLS))
    return "-".join(symbols[i : i + 4] for i in range(0, TICKET_SYMBOLS, 4))


def ticket_code(rsvp: Rsvp) -> str:
    """The RSVP's ticket code, e.g. ``7Q4M-K2XD-…``: what the QR carries and people type.

    The code already issued (its digest stored) under whichever link key made it, so an
    e-mailed ticket keeps working after a key rotation; else the current key's."""
    codes = [_code_of(token) for token in candidate_tokens("ticket", rsvp.cancel_key)]
    for code in codes:
        if rsvp.ticket_hash and tokens_match(normalize_code(code) or "", rsvp.ticket_hash):
            return code
    return codes[0]


def normalize_code(typed: str) -> str | None:
    """A typed or scanned code in its canonical compact form, or None when it cannot be one.
    Case, spaces and hyphens do not matter; O, I and L read as 0, 1 and 1 (Crockford)."""
    compact = _NOT_SYMBOL.sub("", (typed or "")[:64].upper()).translate(READ_AS)
    return compact if len(compact) == TICKET_SYMBOLS else None


def _digest(code: str) -> str:
    return hash_token(normalize_code(code) or "")


def ensure_ticket(rsvp: Rsvp) -> str:
    """Give the RSVP its ticket digest if it has none (no commit); return the code."""
    code = ticket_code(rsvp)
    digest = _digest(code)
    if rsvp.ticket_hash != digest:
        rsvp.ticket_hash = digest
    return code


def issue_ticket(rsvp: Rsvp) -> str:
    """The code of a confirmed RSVP's ticket, its digest saved if it had none (older RSVPs)."""
    before = rsvp.ticket_hash
    code = ensure_ticket(rsvp)
    if rsvp.ticket_hash != before:
        db.session.commit()
    return code


def ticket_qr_png(rsvp: Rsvp, *, scale: int = 8) -> bytes:
    """The ticket's QR code as a PNG: it holds the code and nothing else."""
    out = io.BytesIO()
    segno.make_qr(ticket_code(rsvp), error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def ticket_qr_data_uri(rsvp: Rsvp) -> str:
    """The QR as a data: URI for pages (the CSP allows data: images, nothing from elsewhere)."""
    return segno.make_qr(ticket_code(rsvp), error="m").png_data_uri(scale=8, border=4)


# -- who stands at the door ---------------------------------------------------------------------


@dataclass
class DoorSession:
    """A door page's holder: the organizer (through the manage link) or one helper link."""

    screening: Screening
    actor: str
    helper: DoorHelper | None = None


def find_helper(token: str) -> DoorHelper | None:
    """The active helper link a token opens, or None (unknown or revoked)."""
    if not token or len(token) > 100:
        return None
    helper = db.session.scalar(select(DoorHelper).where(DoorHelper.token_hash == hash_token(token)))
    if helper is None or not helper.is_active or not tokens_match(token, helper.token_hash):
        return None
    return helper


def helper_token(helper: DoorHelper) -> str:
    """The token of a helper's link, derived from its random key."""
    return link_token("door-helper", helper.key, helper.token_hash)


def create_helper(screening: Screening, label: str) -> DoorHelper:
    """A new check-in-only link for a volunteer (its token is stored only as a digest)."""
    label = " ".join((label or "").split())[:LABEL_MAX]
    if not label:
        raise DomainError(_("Give the helper a name, e.g. “Front door”."), field="label")
    helper = DoorHelper(screening_id=screening.id, label=label, key=new_token())
    helper.token_hash = hash_token(helper_token(helper))
    db.session.add(helper)
    db.session.commit()
    return helper


def revoke_helper(screening: Screening, helper_id: int) -> DoorHelper:
    """Revoke one of the screening's helper links: it opens nothing from now on."""
    helper = db.session.get(DoorHelper, helper_id)
    if helper is None or helper.screening_id != screening.id:
        raise NotAllowed(_("There is no such helper link."))
    if helper.revoked_at is None:
        helper.revoked_at = utcnow()
        db.session.commit()
    return helper


def helpers_of(screening: Screening) -> list[DoorHelper]:
    """The screening's helper links, active first, newest first."""
    return list(
        db.session.scalars(
            select(DoorHelper)
            .where(DoorHelper.screening_id == screening.id)
            .order_by(DoorHelper.revoked_at.is_not(None), DoorHelper.id.desc())
        )
    )


# -- tickets at the door ------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return format_datetime(moment, "HH:mm") if moment else ""


def find_ticket(door: DoorSession, typed: str) -> Rsvp:
    """The RSVP of a typed or scanned ticket code at this door; DoorError when it is not
    a ticket for this screening."""
    code = normalize_code(typed)
    if code is None:
        raise DoorError(_("That is not a ticket code: it has 16 letters and digits."))
    rsvp = db.session.scalar(select(Rsvp).where(Rsvp.ticket_hash == hash_token(code)))
    if rsvp is None:
        raise DoorError(_("No ticket has this code. Check it, or search by name."))
    if rsvp.screening_id != door.screening.id:
        raise DoorError(_("This ticket is for another screening, not this one."))
    return rsvp


def guest_at_door(door: DoorSession, rsvp_id: int) -> Rsvp:
    """One of this screening's RSVPs by id (from the page's list)."""
    rsvp = db.session.get(Rsvp, rsvp_id)
    if rsvp is None or rsvp.screening_id != door.screening.id:
        raise DoorError(_("This guest is not on this screening's list."))
    return rsvp


def _refusal(rsvp: Rsvp) -> str | None:
    """Why this RSVP may not come in (more), or None."""
    if rsvp.status == RsvpStatus.CANCELLED:
        return _("This reply was cancelled: the ticket is not valid.")
    if rsvp.status == RsvpStatus.WAITLISTED:
        return _("This guest is on the waiting list, not confirmed: the ticket is not valid.")
    if rsvp.status != RsvpStatus.CONFIRMED:  # requested, unconfirmed or declined
        return _(
            "This guest's reply is not confirmed (the host's approval or their address): "
            "the ticket is not valid."
        )
    if rsvp.checked_in_count >= rsvp.party_size:
        return _(
            "Already checked in at %(when)s by %(who)s.",
            when=_when(rsvp.checked_in_at),
            who=rsvp.checked_in_by or _("the organizer"),
        )
    return None


def check_in(door: DoorSession, rsvp: Rsvp, *, members: int = 1) -> Rsvp:
    """Let ``members`` more of the party in (one by one, or all at once); DoorError when the
    ticket is not valid or the party is already in, saying who let it in and when."""
    reason = _refusal(rsvp)
    if reason:
        raise DoorError(reason)
    members = max(1, min(int(members), rsvp.party_size - rsvp.checked_in_count))
    now = utcnow()
    changed = rows_changed(
        update(Rsvp)
        .where(
            Rsvp.id == rsvp.id,
            Rsvp.status == RsvpStatus.CONFIRMED,
            Rsvp.checked_in_count + members <= Rsvp.party_size,
        )
        .values(
            checked_in_count=Rsvp.checked_in_count + members,
            checked_in_at=func.coalesce(Rsvp.checked_in_at, now),
            checked_in_by=func.coalesce(Rsvp.checked_in_by, door.actor),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(rsvp)
    if changed != 1:
        raise DoorError(_refusal(rsvp) or _("This ticket has just changed; try again."))
    return rsvp


def undo_check_in(door: DoorSession, rsvp: Rsvp) -> Rsvp:
    """Take back the last check-in of one party member (a wrong tap)."""
    changed = rows_changed(
        update(Rsvp)
        .where(Rsvp.id == rsvp.id, Rsvp.checked_in_count > 0)
        .values(checked_in_count=Rsvp.checked_in_count - 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if changed == 1:
        # Nobody of the party is in any more: the first check-in did not happen.
        db.session.execute(
            update(Rsvp)
            .where(Rsvp.id == rsvp.id, Rsvp.checked_in_count == 0)
            .values(checked_in_at=None, checked_in_by=None)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    db.session.refresh(rsvp)
    return rsvp


def search(door: DoorSession, query: str, *, limit: int = 20) -> list[Rsvp]:
    """Guests whose name contains the query (confirmed first), for the door's name search."""
    words = " ".join((query or "").split())[:100]
    if len(words) < 2:
        return []
    escaped = escape_like(words)
    return list(
        db.session.scalars(
            select(Rsvp)
            .where(
                Rsvp.screening_id == door.screening.id,
                Rsvp.name.ilike(f"%{escaped}%", escape="\\"),
                Rsvp.email != "",
            )
            .order_by(Rsvp.status != RsvpStatus.CONFIRMED, Rsvp.name, Rsvp.id)
            .limit(limit)
        )
    )


def counted_at_door() -> ColumnElement[bool]:
    """The replies whose check-ins count as attendance: confirmed ones (the only ones the door
    lets in). One home for the door page, the report and the producer's reach page."""
    return Rsvp.status == RsvpStatus.CONFIRMED


def door_counts(screening: Screening) -> dict[str, int]:
    """Checked in and expected (confirmed seats), for the top of the door page."""
    checked_in, expected = db.session.execute(
        select(
            func.coalesce(func.sum(Rsvp.checked_in_count), 0),
            func.coalesce(func.sum(Rsvp.party_size), 0),
        ).where(Rsvp.screening_id == screening.id, counted_at_door())
    ).one()
    return {"checked_in": int(checked_in), "expected": int(expected)}


def checked_in_by_screening(screening_ids: list[int]) -> dict[int, int]:
    """People checked in at the door, per screening (only those with any), in one query."""
    if not screening_ids:
        return {}
    rows = db.session.execute(
        select(Rsvp.screening_id, func.sum(Rsvp.checked_in_count))
        .where(Rsvp.screening_id.in_(screening_ids), counted_at_door(), Rsvp.checked_in_count > 0)
        .group_by(Rsvp.screening_id)
    ).all()
    return {screening_id: int(n) for screening_id, n in rows}


def guest_json(rsvp: Rsvp) -> dict:
    """What the door page shows of a guest: name, party, status, who is in already."""
    return {
        "id": rsvp.id,
        "name": rsvp.name,
        "party_size": rsvp.party_size,
        "status": rsvp.status,
        "checked_in": rsvp.checked_in_count,
        "checked_in_at": _when(rsvp.checked_in_at),
        "checked_in_by": rsvp.checked_in_by or "",
        "refusal": _refusal(rsvp),
    }


def no_show(rsvp: Rsvp, *, door_used: bool) -> bool | None:
    """Whether a guest did not come: None (unknown) until the screening has started and its
    door page was used; then True for a confirmed reply with nobody of the party in."""
    if not door_used or rsvp.screening.starts_at > utcnow():
        return None
    return rsvp.status == RsvpStatus.CONFIRMED and rsvp.checked_in_count == 0
