"""Capability links: the secret tokens in the links and the reply address people are e-mailed.

Each token is derived with the app's link key from its row's random key (security.link_token),
so it can be sent again without being stored; the row keeps only its digest, by which the
services find it. E-mails write these links and services issue and look them up: both import
them from here, so neither needs the other for a token.
"""

from __future__ import annotations

from flask import current_app

from .models import Rsvp, Screening
from .security import link_token, mailbox_safe
from .urls import external_url


def manage_key(screening: Screening) -> str:
    """What the manage token is derived from: raising the version revokes every old link."""
    return f"{screening.submission_key}:{screening.manage_token_version}"


def manage_token(screening: Screening) -> str:
    """The organizer's private manage-link token (derived, so it can be re-sent)."""
    return link_token("manage", manage_key(screening), screening.manage_token_hash)


def manage_url(screening: Screening) -> str:
    """The organizer's private manage link, absolute (for e-mails)."""
    return external_url("organizer.manage", token=manage_token(screening))


def rsvp_token(rsvp: Rsvp) -> str:
    """The attendee's private link token, derived from the RSVP's random key."""
    return link_token("rsvp", rsvp.cancel_key, rsvp.cancel_token_hash)


def rsvp_url(rsvp: Rsvp) -> str:
    """The attendee's private RSVP page, absolute (for e-mails and invites)."""
    return external_url("attendee.rsvp", token=rsvp_token(rsvp))


def reply_token(rsvp: Rsvp) -> str:
    """The token in the attendee's reply address (replies+<token>@…): 160 bits derived from
    the RSVP's random key, in lower-case base32 because mail systems may fold the case of an
    address's local part."""
    return link_token("reply", rsvp.cancel_key, rsvp.reply_token_hash, shape=mailbox_safe)


def reply_address(rsvp: Rsvp) -> str | None:
    """The address an attendee's calendar replies to (services/inbound.py reads what comes
    back), or None when none is configured (or the RSVP predates reply tokens)."""
    configured = current_app.config.get("CALENDAR_REPLY_ADDRESS")
    if not configured or rsvp.reply_token_hash is None:
        return None
    local, _, domain = configured.rpartition("@")
    return f"{local}+{reply_token(rsvp)}@{domain}"
