"""Capability tokens (manage links, cancel links, feeds) and password hashing.

Tokens carry 256 random bits and are stored only as SHA-256 digests, so a database
leak does not hand out working links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

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


def derived_token(purpose: str, key: str) -> str:
    """A token derived from a random key with the app's secret.

    The booking form carries a random submission key; deriving the manage token from it
    lets a second, duplicate submission show the same manage link without storing it.
    """
    digest = hmac.new(
        current_app.config["SECRET_KEY"].encode(), f"{purpose}:{key}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


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


def spend_password_check(password: str) -> None:
    """Verify against a throw-away hash: an unknown account takes as long as a known one."""
    hasher = password_hasher()
    if id(hasher) not in _dummy_hashes:
        _dummy_hashes[id(hasher)] = hasher.hash(secrets.token_hex(16))
    password_matches(_dummy_hashes[id(hasher)], password)
