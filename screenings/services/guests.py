"""A screening's guest settings: approval by the host, the address check, the host question.

The one home of their defaults, labels and the rule "does this reply confirm its address".
The seats themselves are taken and released in services/rsvps.py.

- **Guest approval** (``Screening.approves_guests``): replies arrive *requested* and hold no
  seat until the organizer approves them. On by default for faith communities and private
  screenings, off otherwise.
- **Address check** (``Screening.address_check``): an RSVP holds its seats as *unconfirmed*
  until the link e-mailed to it is clicked, for ``ADDRESS_HOLD_MINUTES`` (30); then the hold
  expires and the seats go back. ``everyone`` by default for public screenings of more than
  100 seats, otherwise ``large_parties`` (parties of more than 4); ``off`` on request.
- **Host question** (``Screening.host_question``): one optional question on the RSVP form.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..models import OrganizationType, Screening
from . import visibility

ADDRESS_CHECK_OFF = "off"
ADDRESS_CHECK_LARGE_PARTIES = "large_parties"
ADDRESS_CHECK_EVERYONE = "everyone"
# A party larger than this confirms its address under "large_parties".
LARGE_PARTY = 4
# A public screening with more seats than this asks everyone to confirm, by default.
LARGE_SCREENING = 100

ADDRESS_CHECK_LABELS = {
    ADDRESS_CHECK_EVERYONE: _l("Everyone confirms their e-mail address"),
    ADDRESS_CHECK_LARGE_PARTIES: _l("Parties of more than 4 confirm their e-mail address"),
    ADDRESS_CHECK_OFF: _l("Nobody: seats are reserved at once"),
}

HOST_QUESTIONS = {
    "heard_from": _l("How did you hear about this screening?"),
    "affiliation": _l("Affiliation"),
}


def default_approval(organization_type: str | None, visibility_choice: str | None) -> bool:
    """Approval is on by default for faith communities and private screenings."""
    return (
        organization_type == OrganizationType.FAITH_COMMUNITY
        or visibility_choice == visibility.PRIVATE
    )


def default_address_check(visibility_choice: str | None, capacity: int | None) -> str:
    """Everyone confirms at a public screening of more than 100 seats; else large parties."""
    if visibility_choice == visibility.PUBLIC and (capacity or 0) > LARGE_SCREENING:
        return ADDRESS_CHECK_EVERYONE
    return ADDRESS_CHECK_LARGE_PARTIES


def resolve(values: dict) -> None:
    """Fill in the defaults where a booking left a setting to them (None), in place."""
    if values.get("approves_guests") is None:
        values["approves_guests"] = default_approval(
            values.get("organization_type"), values.get("visibility")
        )
    if not values.get("address_check"):
        values["address_check"] = default_address_check(
            values.get("visibility"), values.get("capacity")
        )
    if values.get("host_question") not in HOST_QUESTIONS:
        values["host_question"] = ""


def confirms_address(screening: Screening, party_size: int) -> bool:
    """Whether a reply of this size holds its seats as unconfirmed until its link is clicked."""
    if screening.address_check == ADDRESS_CHECK_EVERYONE:
        return True
    return screening.address_check == ADDRESS_CHECK_LARGE_PARTIES and party_size > LARGE_PARTY


def host_question(screening: Screening) -> str | None:
    """The question the RSVP form asks, in the reader's language, or None."""
    label = HOST_QUESTIONS.get(screening.host_question or "")
    return str(label) if label is not None else None
