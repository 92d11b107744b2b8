"""Producer accounts: log in with lockout, sessions per device, e-mailed links, roles, audit.

Every function here owns its transaction. ``address`` is the client address the view read
(``request.remote_addr``, corrected by ProxyFix behind a proxy); it goes to the audit log.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import time
from datetime import timedelta
from functools import cache

import pyotp
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.orm import joinedload

from .. import emails
from ..extensions import db, rows_changed
from ..models import (
    AccountAction,
    AccountEvent,
    AccountLink,
    LinkPurpose,
    Producer,
    ProducerRole,
    ProducerSession,
    RecoveryCode,
    normalize_email,
    utcnow,
)
from ..places import is_zone
from ..security import hash_password, hash_token, new_token, password_matches, spend_password_check
from . import DomainError, NotAllowed

# -- who may do what (the one home of this rule) ----------------------------------------------
# read: every producer page; decide: approve, reject, message organizers; manage: films,
# distribution, settings, outbox, privacy erasure; accounts: the team and the audit log.
PERMISSIONS: dict[str, frozenset[str]] = {
    ProducerRole.OWNER: frozenset({"read", "decide", "manage", "accounts"}),
    ProducerRole.REVIEWER: frozenset({"read", "decide"}),
    ProducerRole.VIEWER: frozenset({"read"}),
}


def may(producer: Producer, permission: str) -> bool:
    """Whether this account's role grants the permission."""
    return permission in PERMISSIONS.get(producer.role, frozenset())


def role_label(role: str) -> str:
    labels: dict[str, str] = {
        ProducerRole.OWNER: _("Owner"),
        ProducerRole.REVIEWER: _("Reviewer"),
        ProducerRole.VIEWER: _("Viewer"),
    }
    return labels.get(role, role)


# Lifetimes of the e-mailed links.
LINK_LIFETIME = {
    LinkPurpose.UNLOCK: timedelta(hours=24),
    LinkPurpose.RESET: timedelta(hours=1),
    LinkPurpose.INVITE: timedelta(days=7),
}
# At most one reset e-mail per account in this interval, whatever the addresses asking.
RESET_INTERVAL = timedelta(minutes=5)
# A session not used for this long is over.
SESSION_IDLE = timedelta(days=14)
# last_seen_at is written at most this often (not on every request).
SEEN_EVERY = timedelta(minutes=5)
MIN_PASSWORD = 12


def _wrong_credentials() -> DomainError:
    return DomainError(_("That e-mail and password do not match an account."), field="password")


def _link_refused() -> DomainError:
    return DomainError(_("This link has expired or was already used."))


def _record(
    action: AccountAction,
    producer: Producer | None,
    *,
    actor: Producer | None = None,
    address: str | None = "",
    detail: str = "",
) -> None:
    db.session.add(
        AccountEvent(
            action=action,
            producer_id=producer.id if producer else None,
            actor_id=actor.id if actor and actor is not producer else None,
            address=(address or "")[:45],
            detail=detail[:200],
        )
    )


def _find(email: str) -> Producer | None:
    return db.session.scalar(select(Producer).where(Producer.email == normalize_email(email)))


def account_id(email: str) -> int | None:
    """The id of the account with this e-mail, if any."""
    if not isinstance(email, str) or len(email) > 254:
        return None
    return db.session.scalar(select(Producer.id).where(Producer.email == normalize_email(email)))


def _check_new_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise DomainError(
            _("Use a password of at least %(count)d characters.", count=MIN_PASSWORD), field=field
        )


# -- accounts ---------------------------------------------------------------------------------
def create_producer(email: str, password: str, role: str = ProducerRole.OWNER) -> Producer:
    """Add a producer account (the CLI's: an owner by default); the e-mail is stored lower case."""
    email = normalize_email(email)
    if _find(email):
        raise DomainError(
            _("A producer with e-mail %(email)s already exists.", email=email), field="email"
        )
    _check_new_password(password)
    producer = Producer(email=email, password_hash=hash_password(password), role=role)
    db.session.add(producer)
    db.session.flush()
    _record(AccountAction.CREATED, producer, detail=role)
    db.session.commit()
    return producer


def producer_count() -> int:
    return db.session.scalar(select(func.count(Producer.id))) or 0


def _is_locked(producer: Producer) -> bool:
    return producer.locked_until is not None and producer.locked_until > utcnow()


def log_in(
    email: str,
    password: str,
    *,
    address: str | None,
    user_agent: str,
    unlocked_ids: frozenset[int] = frozenset(),
) -> Producer:
    """Check the password; without two-factor, open a session for this device.

    The session's id is ``producer.session_token``; it stays None when the account has
    two-factor, and ``verify_second_factor`` opens the session once the code is right.
    After ``LOGIN_LOCKOUT_FAILURES`` wrong passwords (or codes) the account is locked for
    ``LOGIN_LOCKOUT_MINUTES`` and its owner is e-mailed an unlock link; a browser that opened
    that link (``unlocked_ids``) may log in even while an attacker keeps the account locked.
    """
    producer = _find(email)
    if producer is None or not producer.has_password or not producer.is_active:
        spend_password_check(password)
        # Never what was typed: people type their password into the e-mail field.
        if producer is None:
            detail = "unknown account"
        else:
            detail = "disabled account" if not producer.is_active else "invitation not accepted"
        _record(AccountAction.LOGIN_FAILED, producer, address=address, detail=detail)
        db.session.commit()
        raise _wrong_credentials()
    _refuse_if_locked(producer, address, unlocked_ids)
    if not password_matches(producer.password_hash, password):
        _count_failure(producer, address)
        db.session.commit()
        raise _wrong_credentials()
    if producer.has_two_factor:
        producer.session_token = None
        db.session.commit()
        return producer
    _finish_login(producer, address=address, user_agent=user_agent)
    return producer


def _refuse_if_locked(
    producer: Producer, address: str | None, unlocked_ids: frozenset[int]
) -> None:
    if _is_locked(producer) and producer.id not in unlocked_ids:
        _record(AccountAction.LOGIN_REFUSED_LOCKED, producer, address=address)
        db.session.commit()
        raise DomainError(
            _(
                "This account is locked after too many failed attempts. We have e-mailed its "
                "owner a link to unlock it; you can also try again later."
            ),
            field="password",
        )


def _finish_login(producer: Producer, *, address: str | None, user_agent: str) -> None:
    producer.failed_logins = 0
    producer.locked_until = None
    producer.last_login_at = utcnow()
    _start_session(producer, address=address, user_agent=user_agent)
    _record(AccountAction.LOGIN, producer, address=address)
    db.session.commit()


# -- two-factor (TOTP) --------------------------------------------------------------------------
# The time TOTP codes are checked against; tests replace it (a clock fixture).
clock = time.time
RECOVERY_CODES = 10


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(producer: Producer, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the enrolment QR code."""
    return pyotp.TOTP(secret).provisioning_uri(
        name=producer.email, issuer_name=current_app.config["PRODUCER_NAME"]
    )


def _totp_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step a code is right for (now, or one step either side), never an old one."""
    code = re.sub(r"\s", "", code or "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    now = int(clock())
    for offset in (0, -1, 1):
        at = now + offset * totp.interval
        step = at // totp.interval
        if (last_step is None or step > last_step) and hmac.compare_digest(totp.at(at), code):
            return step
    return None


def _normal_code(code: str) -> str:
    return re.sub(r"[^0-9a-z]", "", (code or "").lower())


def _new_recovery_codes(producer: Producer) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.producer_id == producer.id))
    codes = []
    for _i in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 80 bits
        codes.append(f"{raw[:8]}-{raw[8:]}")
        db.session.add(RecoveryCode(producer_id=producer.id, code_hash=hash_token(raw)))
    return codes


def _use_recovery_code(producer: Producer, code: str) -> bool:
    used = rows_changed(
        update(RecoveryCode)
        .where(
            RecoveryCode.producer_id == producer.id,
            RecoveryCode.code_hash == hash_token(_normal_code(code)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(used)


def recovery_codes_left(producer: Producer) -> int:
    return (
        db.session.scalar(
            select(func.count(RecoveryCode.id)).where(
                RecoveryCode.producer_id == producer.id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def enable_two_factor(
    producer: Producer, secret: str, code: str, *, address: str | None
) -> list[str]:
    """Confirm enrolment with a code from the app; returns the recovery codes (shown once)."""
    step = _totp_step(secret, code, None) if secret else None
    if step is None:
        raise DomainError(
            _("That code is not right. Type the 6 digits your app shows now."), field="code"
        )
    producer.totp_secret = secret
    producer.totp_enabled_at = utcnow()
    producer.totp_last_step = step
    codes = _new_recovery_codes(producer)
    _record(AccountAction.TWO_FACTOR_ENABLED, producer, address=address)
    db.session.commit()
    return codes


def disable_two_factor(producer: Producer, password: str, *, address: str | None) -> None:
    """Turn two-factor off after checking the password again."""
    if not password_matches(producer.password_hash, password):
        raise DomainError(_("That is not your current password."), field="current_password")
    producer.totp_secret = None
    producer.totp_enabled_at = None
    producer.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.producer_id == producer.id))
    _record(AccountAction.TWO_FACTOR_DISABLED, producer, address=address)
    db.session.commit()


def verify_second_factor(
    producer_id: int,
    code: str,
    *,
    address: str | None,
    user_agent: str,
    unlocked_ids: frozenset[int] = frozenset(),
) -> Producer:
    """The second step of logging in: a code from the app, or an unused recovery code."""
    producer = db.session.get(Producer, producer_id)
    if producer is None or not producer.is_active or not producer.has_two_factor:
        raise DomainError(_("Log in again."))
    _refuse_if_locked(producer, address, unlocked_ids)
    step = _totp_step(producer.totp_secret or "", code, producer.totp_last_step)
    if step is not None:
        producer.totp_last_step = step
    elif len(_normal_code(code)) == 16 and _use_recovery_code(producer, code):
        left = recovery_codes_left(producer)
        _record(AccountAction.RECOVERY_CODE_USED, producer, address=address, detail=f"{left} left")
    else:
        _count_failure(producer, address, detail="second factor")
        db.session.commit()
        raise DomainError(_("That code is not right."), field="code")
    _finish_login(producer, address=address, user_agent=user_agent)
    return producer


def must_enrol(producer: Producer) -> bool:
    """An owner without two-factor where it is required (production) must enrol first."""
    return (
        bool(current_app.config["TWO_FACTOR_REQUIRED_FOR_OWNERS"])
        and producer.role == ProducerRole.OWNER
        and not producer.has_two_factor
    )


def _count_failure(producer: Producer, address: str | None, detail: str = "") -> None:
    """One more failure, counted in the database so every worker agrees; lock at the limit."""
    _record(AccountAction.LOGIN_FAILED, producer, address=address, detail=detail)
    db.session.execute(
        update(Producer)
        .where(Producer.id == producer.id)
        .values(failed_logins=Producer.failed_logins + 1)
        .execution_options(synchronize_session=False)
    )
    config = current_app.config
    locked = rows_changed(
        update(Producer)
        .where(
            Producer.id == producer.id,
            Producer.failed_logins >= config["LOGIN_LOCKOUT_FAILURES"],
        )
        .values(
            failed_logins=0,
            locked_until=utcnow() + timedelta(minutes=config["LOGIN_LOCKOUT_MINUTES"]),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(producer)
    if locked:  # only the worker whose UPDATE locked it sends the e-mail
        _record(AccountAction.LOCKED, producer, address=address)
        emails.send_account_unlock(producer, _new_link(producer, LinkPurpose.UNLOCK))


# -- e-mailed links -----------------------------------------------------------------------------
def _new_link(producer: Producer, purpose: LinkPurpose) -> str:
    """A fresh single-use link token (only its hash is stored); earlier ones stop working."""
    now = utcnow()
    db.session.execute(
        update(AccountLink)
        .where(
            AccountLink.producer_id == producer.id,
            AccountLink.purpose == purpose,
            AccountLink.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    token = new_token()
    db.session.add(
        AccountLink(
            producer_id=producer.id,
            purpose=purpose,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + LINK_LIFETIME[purpose],
        )
    )
    return token


def find_link(token: str, purpose: LinkPurpose) -> AccountLink | None:
    """The unused, unexpired link with this token, or None (a miss looks like a used link)."""
    if not isinstance(token, str) or len(token) > 100:
        return None
    return db.session.scalar(
        select(AccountLink).where(
            AccountLink.token_hash == hash_token(token),
            AccountLink.purpose == purpose,
            AccountLink.used_at.is_(None),
            AccountLink.expires_at > utcnow(),
        )
    )


def _use_link(token: str, purpose: LinkPurpose) -> AccountLink:
    """Mark the link used with a conditional UPDATE: two clicks racing, one wins."""
    link = find_link(token, purpose)
    if link is None:
        raise _link_refused()
    used = rows_changed(
        update(AccountLink)
        .where(AccountLink.id == link.id, AccountLink.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not used:
        raise _link_refused()
    return link


def unlock(token: str, *, address: str | None) -> Producer:
    """The unlock link: end the lockout. The view also marks the browser as trusted."""
    producer = _use_link(token, LinkPurpose.UNLOCK).producer
    producer.failed_logins = 0
    producer.locked_until = None
    _record(AccountAction.UNLOCKED, producer, address=address)
    db.session.commit()
    return producer


def request_password_reset(email: str, *, address: str | None) -> None:
    """E-mail a reset link if the address is an account's; the caller answers the same anyway."""
    producer = _find(email)
    if producer is None or not producer.is_active or not producer.has_password:
        return
    latest = db.session.scalar(
        select(func.max(AccountLink.created_at)).where(
            AccountLink.producer_id == producer.id, AccountLink.purpose == LinkPurpose.RESET
        )
    )
    if latest is not None and latest > utcnow() - RESET_INTERVAL:
        return  # one e-mail per interval: nobody can flood the owner's inbox
    _record(AccountAction.RESET_REQUESTED, producer, address=address)
    emails.send_password_reset(producer, _new_link(producer, LinkPurpose.RESET))
    db.session.commit()


def reset_password(token: str, password: str, *, address: str | None) -> Producer:
    """Set a new password from a reset link; every session of the account ends."""
    _check_new_password(password)
    producer = _use_link(token, LinkPurpose.RESET).producer
    producer.password_hash = hash_password(password)
    producer.failed_logins = 0
    producer.locked_until = None
    _end_sessions(producer)
    _record(AccountAction.RESET_USED, producer, address=address)
    db.session.commit()
    return producer


def change_password(producer: Producer, current: str, new: str, *, address: str | None) -> None:
    """Change the password after checking the current one; other devices are logged out."""
    if not password_matches(producer.password_hash, current):
        raise DomainError(_("That is not your current password."), field="current_password")
    _check_new_password(new)
    producer.password_hash = hash_password(new)
    _end_sessions(producer, keep=producer.session_token)
    _record(AccountAction.PASSWORD_CHANGED, producer, address=address)
    db.session.commit()


# -- sessions per device ------------------------------------------------------------------------
_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def device_label(user_agent: str) -> str:
    """ "Firefox on Linux" from a User-Agent; something short and printable otherwise."""
    user_agent = user_agent or ""
    browser = next((name for key, name in _BROWSERS if key in user_agent), None)
    system = next((name for key, name in _SYSTEMS if key in user_agent), None)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    cleaned = re.sub(r"[^\x20-\x7e]", "", user_agent).strip()
    return (browser or system or cleaned or _("Unknown device"))[:120]


def _start_session(producer: Producer, *, address: str | None, user_agent: str) -> None:
    device = device_label(user_agent)
    earlier = set(
        db.session.scalars(
            select(ProducerSession.device).where(ProducerSession.producer_id == producer.id)
        )
    )
    token = new_token()
    row = ProducerSession(
        producer_id=producer.id,
        token_hash=hash_token(token),
        device=device,
        address=(address or "")[:45],
    )
    db.session.add(row)
    producer.session_token = token
    if earlier and device not in earlier:
        emails.send_new_device_login(producer, device=device, address=address or "")


@cache
def _live_session() -> Select:
    """The live session of a token's hash with its producer, built once (bound by
    ``token_hash``): building it with its loader option cost more than running it."""
    return (
        select(ProducerSession)
        .options(joinedload(ProducerSession.producer))
        .where(
            ProducerSession.token_hash == bindparam("token_hash"),
            ProducerSession.revoked_at.is_(None),
        )
    )


def load_session(token: str) -> Producer | None:
    """The producer whose live session has this id (Flask-Login's user loader)."""
    # The producer comes in the same query: every page of a logged-in producer, a cached
    # dashboard's hit included, starts here.
    row = db.session.scalar(_live_session(), {"token_hash": hash_token(token)})
    now = utcnow()
    if row is None or row.last_seen_at < now - SESSION_IDLE or not row.producer.is_active:
        return None
    if row.last_seen_at < now - SEEN_EVERY:
        row.last_seen_at = now
        db.session.commit()
    producer = row.producer
    producer.session_token = token
    return producer


def current_session_id(producer: Producer) -> int | None:
    return db.session.scalar(
        select(ProducerSession.id).where(
            ProducerSession.token_hash == hash_token(producer.session_token or "")
        )
    )


def active_sessions(producer: Producer) -> list[ProducerSession]:
    """The account's logged-in devices, most recently used first."""
    return list(
        db.session.scalars(
            select(ProducerSession)
            .where(
                ProducerSession.producer_id == producer.id,
                ProducerSession.revoked_at.is_(None),
                ProducerSession.last_seen_at >= utcnow() - SESSION_IDLE,
            )
            .order_by(ProducerSession.last_seen_at.desc())
        )
    )


def _end_sessions(producer: Producer, *, keep: str | None = None) -> int:
    query = update(ProducerSession).where(
        ProducerSession.producer_id == producer.id, ProducerSession.revoked_at.is_(None)
    )
    if keep:
        query = query.where(ProducerSession.token_hash != hash_token(keep))
    return rows_changed(
        query.values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    )


def log_out(producer: Producer, *, address: str | None) -> None:
    """End this device's session: its cookie, or any copy of it, no longer works."""
    db.session.execute(
        update(ProducerSession)
        .where(ProducerSession.token_hash == hash_token(producer.session_token or ""))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    _record(AccountAction.LOGOUT, producer, address=address)
    db.session.commit()


def revoke_session(producer: Producer, session_id: int, *, address: str | None) -> None:
    """Log out one of the producer's own devices."""
    row = db.session.get(ProducerSession, session_id)
    if row is None or row.producer_id != producer.id or row.revoked_at is not None:
        raise NotAllowed(_("That session has already ended."))
    row.revoked_at = utcnow()
    _record(AccountAction.SESSION_REVOKED, producer, address=address, detail=row.device)
    db.session.commit()


def revoke_other_sessions(producer: Producer, *, address: str | None) -> int:
    """Log out every device but this one; returns how many."""
    count = _end_sessions(producer, keep=producer.session_token)
    _record(AccountAction.SESSION_REVOKED, producer, address=address, detail=f"others: {count}")
    db.session.commit()
    return count


# -- the team (owners) --------------------------------------------------------------------------
def team() -> list[Producer]:
    return list(db.session.scalars(select(Producer).order_by(Producer.email)))


def _active_owners() -> int:
    return (
        db.session.scalar(
            select(func.count(Producer.id)).where(
                Producer.role == ProducerRole.OWNER, Producer.disabled_at.is_(None)
            )
        )
        or 0
    )


def _require(actor: Producer, permission: str) -> None:
    if not may(actor, permission):
        raise NotAllowed(_("Your role does not allow this."))


def invite_producer(actor: Producer, email: str, role: str, *, address: str | None) -> Producer:
    """Add an account without a password and e-mail it a link to choose one."""
    _require(actor, "accounts")
    email = normalize_email(email)
    if role not in PERMISSIONS:
        raise DomainError(_("Choose a role from the list."), field="role")
    if _find(email):
        raise DomainError(
            _("A producer with e-mail %(email)s already exists.", email=email), field="email"
        )
    producer = Producer(email=email, password_hash="", role=role)
    db.session.add(producer)
    db.session.flush()
    _record(AccountAction.INVITED, producer, actor=actor, address=address, detail=role)
    emails.send_account_invite(
        producer, _new_link(producer, LinkPurpose.INVITE), inviter=actor.email
    )
    db.session.commit()
    return producer


def accept_invite(token: str, password: str, *, address: str | None) -> Producer:
    """The invited person chooses their password; they log in next."""
    _check_new_password(password)
    producer = _use_link(token, LinkPurpose.INVITE).producer
    producer.password_hash = hash_password(password)
    _record(AccountAction.INVITE_ACCEPTED, producer, address=address)
    db.session.commit()
    return producer


def _keep_an_owner(target: Producer) -> None:
    if target.role == ProducerRole.OWNER and target.is_active and _active_owners() <= 1:
        raise NotAllowed(_("Keep at least one active owner."))


def change_role(actor: Producer, target: Producer, role: str, *, address: str | None) -> None:
    _require(actor, "accounts")
    if role not in PERMISSIONS:
        raise DomainError(_("Choose a role from the list."), field="role")
    if role == target.role:
        return
    if role != ProducerRole.OWNER:
        _keep_an_owner(target)
    _record(
        AccountAction.ROLE_CHANGED,
        target,
        actor=actor,
        address=address,
        detail=f"{target.role} -> {role}",
    )
    target.role = role
    db.session.commit()


def set_disabled(actor: Producer, target: Producer, disabled: bool, *, address: str | None) -> None:
    """Disable an account (every session of it ends at once) or enable it again."""
    _require(actor, "accounts")
    if disabled == (not target.is_active):
        return
    if disabled:
        if target.id == actor.id:
            raise NotAllowed(_("You cannot disable your own account."))
        _keep_an_owner(target)
        target.disabled_at = utcnow()
        _end_sessions(target)
    else:
        target.disabled_at = None
    _record(
        AccountAction.DISABLED if disabled else AccountAction.ENABLED,
        target,
        actor=actor,
        address=address,
    )
    db.session.commit()


def audit_log(limit: int = 300) -> list[AccountEvent]:
    """The latest account events, newest first."""
    return list(
        db.session.scalars(select(AccountEvent).order_by(AccountEvent.id.desc()).limit(limit))
    )


def set_timezone(producer: Producer, zone: str) -> None:
    """The zone the dashboard shows the producer's own time in."""
    if not is_zone(zone):
        raise DomainError(_("Choose a time zone from the list."), field="timezone")
    producer.timezone = zone
    db.session.commit()
