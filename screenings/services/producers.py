"""Producer accounts: creation, authentication and session nonces."""

from __future__ import annotations

import secrets

from flask_babel import gettext as _
from sqlalchemy import func, select

from ..extensions import db
from ..models import Producer, utcnow
from ..security import hash_password, password_matches
from . import DomainError

# Verified against when the e-mail is unknown, so both paths take the same time.
_DUMMY_HASH = None


def create_producer(email: str, password: str) -> Producer:
    """Add a producer account; the e-mail is stored in lower case."""
    email = email.strip().lower()
    if db.session.scalar(select(Producer).where(Producer.email == email)):
        raise DomainError(
            _("A producer with e-mail %(email)s already exists.", email=email), field="email"
        )
    if len(password) < 12:
        raise DomainError(_("Use a password of at least 12 characters."), field="password")
    producer = Producer(
        email=email, password_hash=hash_password(password), session_nonce=secrets.token_hex(32)
    )
    db.session.add(producer)
    db.session.commit()
    return producer


def producer_count() -> int:
    return db.session.scalar(select(func.count(Producer.id))) or 0


def authenticate(email: str, password: str) -> Producer | None:
    """The producer with these credentials, with a fresh session nonce; None otherwise."""
    global _DUMMY_HASH
    producer = db.session.scalar(select(Producer).where(Producer.email == email.strip().lower()))
    if producer is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_hex(16))
        password_matches(_DUMMY_HASH, password)
        return None
    if not password_matches(producer.password_hash, password):
        return None
    rotate_session(producer)
    producer.last_login_at = utcnow()
    db.session.commit()
    return producer


def rotate_session(producer: Producer) -> None:
    """Invalidate every session cookie issued so far for this producer."""
    producer.session_nonce = secrets.token_hex(32)


def log_out(producer: Producer) -> None:
    rotate_session(producer)
    db.session.commit()


def load_by_session_nonce(nonce: str) -> Producer | None:
    return db.session.scalar(select(Producer).where(Producer.session_nonce == nonce))


def set_timezone(producer: Producer, zone: str) -> None:
    """The zone the dashboard shows the producer's own time in."""
    from ..places import is_zone
    from . import DomainError

    if not is_zone(zone):
        raise DomainError(_("Choose a time zone from the list."), field="timezone")
    producer.timezone = zone
    db.session.commit()
