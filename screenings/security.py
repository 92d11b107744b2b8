"""Capability tokens (manage links, cancel links, feeds) and password hashing.

Tokens carry 256 random bits and are stored only as SHA-256 digests, so a database
leak does not hand out working links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, request

# argon2id with the library's (OWASP-level) defaults: 64 MiB, 3 passes, 4 lanes.
_password_hasher = PasswordHasher()
# Under TESTING only (Django's advice): the same algorithm at its cheapest, so the suite's
# hundreds of logins do not each spend 64 MiB and ~50 ms. Hashes still verify either way,
# since argon2 stores its parameters in the hash.
_testing_hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_dummy_hashes: dict[int, str] = {}


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def tokens_match(token: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented token with a stored digest."""
    return hmac.compare_digest(hash_token(token), stored_hash)


def _link_keys() -> list[bytes]:
    """Every key a link may have been derived with, newest first.

    LINK_KEYS, then SECRET_KEY and its fallbacks: links made before LINK_KEYS was set (or in
    development, where it may be unset) were derived with the secret key of the day.
    """
    config = current_app.config
    keys = (*config["LINK_KEYS"], config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or ()))
    return list(dict.fromkeys(key.encode() for key in keys if key))


def link_key() -> bytes:
    """The key new links are derived with."""
    return _link_keys()[0]


def _derive(secret: bytes, purpose: str, key: str) -> str:
    digest = hmac.new(secret, f"{purpose}:{key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def derived_token(purpose: str, key: str) -> str:
    """A new link's token, derived from a random key (stored) with the current link key.

    The booking form carries a random submission key; deriving the manage token from it
    lets a second, duplicate submission show the same manage link without storing it. A
    database leak alone gives no working link: the keys are not in the database.
    """
    return _derive(link_key(), purpose, key)


def candidate_tokens(purpose: str, key: str) -> list[str]:
    """The token under each link key, newest first: for a code derived from a token and
    stored in another form (services/door.py's ticket codes), which link_token cannot match."""
    return [_derive(secret, purpose, key) for secret in _link_keys()]


def link_token(
    purpose: str, key: str, stored_hash: str | None, shape: Callable[[str], str] | None = None
) -> str:
    """The token of a link already made, for a new e-mail: the one whose digest is stored.

    Each link key is tried in turn, so a link keeps working, and is e-mailed unchanged,
    after SECRET_KEY changes or a new link key is added in front. Only a key removed from
    LINK_KEYS loses its links (logged); a link not made yet gets the current key. ``shape``
    turns a derived token into the form the link carries (e.g. base32 for a mail address).
    """
    shape = shape or (lambda token: token)
    if stored_hash:
        for secret in _link_keys():
            token = shape(_derive(secret, purpose, key))
            if hmac.compare_digest(hash_token(token), stored_hash):
                return token
        current_app.logger.warning(
            "no link key reproduces a stored %s link: was a key removed from LINK_KEYS?", purpose
        )
    return shape(derived_token(purpose, key))


def mailbox_safe(token: str) -> str:
    """A derived token as a mail address's local part can carry it: 160 bits in lower-case
    base32, because mail systems may fold the case of a local part."""
    digest = base64.urlsafe_b64decode(token + "=")
    return base64.b32encode(digest[:20]).decode().lower()


def password_hasher() -> PasswordHasher:
    """The real parameters, except in an app configured with TESTING."""
    return _testing_hasher if current_app.config.get("TESTING") else _password_hasher


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return password_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def client_address() -> str:
    """Who is asking, for rate limits and lockouts: the client's address, one home for it.

    Behind ``PROXY_FIX`` trusted proxies, werkzeug's ProxyFix has already put the address
    the nearest trusted proxy saw into ``remote_addr``; a client's own X-Forwarded-For is
    never believed. An IPv6 client is counted by its /64, which one household or host holds
    whole (it could otherwise step through 2**64 addresses).
    """
    address = request.remote_addr or ""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def spend_password_check(password: str) -> None:
    """Verify against a throw-away hash: an unknown account takes as long as a known one."""
    hasher = password_hasher()
    if id(hasher) not in _dummy_hashes:
        _dummy_hashes[id(hasher)] = hasher.hash(secrets.token_hex(16))
    password_matches(_dummy_hashes[id(hasher)], password)
