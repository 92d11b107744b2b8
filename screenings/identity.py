"""Who is behind the site: the producer's name and how to reach them, one home for it.

Every page's footer, every e-mail, the licence PDF and the privacy page show the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .outbox import sender_address


@dataclass(frozen=True)
class Identity:
    name: str
    contact_email: str
    address: str
    imprint: str


def producer_identity() -> Identity:
    """The configured identity (PRODUCER_NAME, PRODUCER_CONTACT_EMAIL, PRODUCER_ADDRESS,
    PRODUCER_IMPRINT); the contact address defaults to the sender of the e-mails."""
    config = current_app.config
    return Identity(
        name=config["PRODUCER_NAME"],
        contact_email=config.get("PRODUCER_CONTACT_EMAIL") or sender_address().addr_spec,
        address=config.get("PRODUCER_ADDRESS") or "",
        imprint=config.get("PRODUCER_IMPRINT") or "",
    )
