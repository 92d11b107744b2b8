"""What a booking's fields are called, as the booking form shows them: one home for the form's
labels (organizer/forms.py) and for the e-mails that list what changed
(formatting.readable_changes).

Services, e-mails and the producer's pages read these without importing a blueprint's forms.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from .models import OrganizationType

ORGANIZATION_TYPES = [
    (OrganizationType.SCHOOL.value, _l("School")),
    (OrganizationType.UNIVERSITY.value, _l("University or college")),
    (OrganizationType.FAITH_COMMUNITY.value, _l("Faith community")),
    (OrganizationType.COMMUNITY_GROUP.value, _l("Community group")),
    (OrganizationType.CINEMA.value, _l("Cinema")),
    (OrganizationType.OTHER.value, _l("Other")),
]

# Keyed by the Screening attribute (and BookingDetails field) each form field sets.
BOOKING_FIELDS = {
    "film_id": _l("Film"),
    "format_id": _l("Screening format"),
    "organization_name": _l("Organization name"),
    "organization_type": _l("Type of organization"),
    "organization_website": _l("Website"),
    "organization_country": _l("Organization's country"),
    "contact_name": _l("Your name"),
    "contact_email": _l("Your e-mail"),
    "contact_phone": _l("Phone (optional)"),
    "venue_name": _l("Venue name"),
    "street_address": _l("Street address"),
    "city": _l("City"),
    "region": _l("Region, state or province"),
    "postal_code": _l("Postal code"),
    "country": _l("Country of the venue"),
    "venue_kind": _l("Kind of venue"),
    "timezone": _l("Time zone of the venue"),
    "start_date": _l("Date"),
    "start_time": _l("Start time (venue's local time)"),
    # The form's date and start time together, as a screening stores them.
    "local_start": _l("Date and start time (venue's local time)"),
    "duration_minutes": _l("Duration in minutes (film and discussion)"),
    "expected_audience": _l("Expected audience"),
    "capacity": _l("Seats available for RSVPs"),
    # The form's field is `listing`; the screening's attribute is `visibility`.
    "visibility": _l("Who sees the address"),
    "rsvps_enabled": _l("Let attendees RSVP online"),
    "approves_guests": _l("Approve each guest"),
    "address_check": _l("Who confirms their e-mail address before their seats are held"),
    "host_question": _l("A question for your guests (optional)"),
    "description": _l("About the event, for the public (optional)"),
    "notes": _l("Notes for the producer (optional)"),
    "host_note": _l("Note for your guests (optional)"),
}


def field_label(name: str) -> str:
    """A booking field's label in the current language; an unknown name, made readable."""
    label = BOOKING_FIELDS.get(name)
    return str(label) if label is not None else name.replace("_", " ").capitalize()
