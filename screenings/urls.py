"""Absolute links for e-mails and calendar files, built from PUBLIC_BASE_URL.

Never from the request's Host header: a forged Host must not change links that are
e-mailed to other people.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def external_url(endpoint: str, **values) -> str:
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)


def public_domain() -> str:
    """Host name used in calendar UIDs and Message-IDs."""
    return urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname or "localhost"
