"""Absolute links for e-mails and calendar files, built from PUBLIC_BASE_URL.

Never from the request's Host header: a forged Host must not change links that are
e-mailed to other people.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import current_app, url_for


def external_url(endpoint: str, **values: object) -> str:
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)


# An id no row has, put where each one's id goes in id_links.
_MARKER_ID = 987654321987654321


def id_links(endpoint: str, name: str) -> Callable[[int], str]:
    """url_for(endpoint, name=id) for the many ids of one page, built once: the link with a
    marker id, each id written where the marker was (an int converter writes its digits)."""
    values: dict[str, Any] = {name: _MARKER_ID}
    before, after = url_for(endpoint, **values).split(str(_MARKER_ID))
    return lambda value: f"{before}{value}{after}"


def public_domain() -> str:
    """Host name used in calendar UIDs and Message-IDs."""
    return urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname or "localhost"


def signed_file_url(url: str, *, not_after: datetime | None = None) -> str:
    """A film file's URL that its server accepts for DOWNLOAD_URL_SECONDS only.

    In nginx's ``secure_link`` format (``?md5=…&expires=…``, the digest of
    ``"<expires><path> <secret>"``), checked by the file server with the same
    DOWNLOAD_URL_SECRET; never later than ``not_after`` (the personal link's own expiry).
    Without a secret the URL is returned as it is, and works for as long as the file is there.
    """
    secret = current_app.config.get("DOWNLOAD_URL_SECRET")
    if not secret:
        return url
    expires = int(time.time()) + int(current_app.config["DOWNLOAD_URL_SECONDS"])
    if not_after is not None:
        expires = min(expires, int(not_after.replace(tzinfo=UTC).timestamp()))
    parts = urlsplit(url)
    text = f"{expires}{parts.path} {secret}".encode()
    # MD5 because nginx's secure_link_md5 offers nothing else; the secret ends the input.
    digest = hashlib.md5(text, usedforsecurity=False).digest()
    signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    query = "&".join(
        p for p in (parts.query, urlencode({"md5": signature, "expires": expires})) if p
    )
    return urlunsplit(parts._replace(query=query))
