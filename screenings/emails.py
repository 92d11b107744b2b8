"""One function per e-mail. Each renders templates/email/<name>/ and queues it in the outbox."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app
from flask_babel import force_locale, get_locale, gettext

from . import calendar
from .capabilities import manage_token, manage_url, reply_address, rsvp_url
from .formatting import localized_start_display
from .models import (
    Licence,
    NearbySubscription,
    Producer,
    ProducerAlert,
    Rsvp,
    RsvpStatus,
    Screening,
)
from .outbox import (
    Attachment,
    CalendarPart,
    compose,
    display_address,
    enqueue,
    enqueue_later,
    sender_address,
)
from .places import City
from .services import visibility
from .urls import external_url, public_domain


def _to_organizer(
    screening: Screening,
    kind: str,
    *,
    calendar_part: CalendarPart | None = None,
    attachments: tuple[Attachment, ...] = (),
    reply_to: Address | None = None,
    **context: object,
) -> None:
    """Compose an organizer e-mail (always with the manage link) and queue it."""
    message = _organizer_message(
        screening,
        kind,
        calendar_part=calendar_part,
        attachments=attachments,
        message_id=None,  # compose makes one
        **context,
    )
    if reply_to is not None:
        message["Reply-To"] = reply_to
    enqueue(message, kind=kind, screening_id=screening.id)


def _organizer_message(
    screening: Screening,
    kind: str,
    *,
    calendar_part: CalendarPart | None = None,
    attachments: tuple[Attachment, ...] = (),
    message_id: str | None = None,
    **context: object,
) -> EmailMessage:
    """An organizer e-mail (always with the manage link), composed."""
    return compose(
        template=kind,
        recipient_name=screening.contact_name,
        recipient_email=screening.contact_email,
        language=screening.language,
        context={
            "screening": screening,
            "film": screening.film,
            "place": visibility.guest_place(screening),
            "manage_url": manage_url(screening),
            **context,
        },
        calendar=calendar_part,
        attachments=attachments,
        message_id=message_id,
    )


def organizer_invite(screening: Screening, method: str = "REQUEST") -> CalendarPart:
    """The organizer's own calendar entry for their screening, as an iMIP part."""
    sender = sender_address()
    licence = screening.current_licence
    if visibility.is_listed(screening):
        url = screening_page_url(screening)
    elif licence:
        url = external_url("public.licence", number=licence.number)
    else:
        url = current_app.config["PUBLIC_BASE_URL"]
    with force_locale(screening.language):  # its description is in the organizer's language
        ics = calendar.invite(
            screening,
            method=method,
            url=url,
            organizer_email=sender.addr_spec,
            organizer_name=current_app.config["PRODUCER_NAME"],
            attendee_email=screening.contact_email,
            attendee_name=screening.contact_name,
            domain=public_domain(),
            partstat="ACCEPTED",
            place=visibility.guest_place(screening),
        )
    return CalendarPart(ics, method)


def send_booking_received(
    screening: Screening, broken_rules: Iterable[str] = (), notes: Iterable[str] = ()
) -> None:
    """Tell the organizer their booking waits for the producer's approval (and which of the
    film's licence rules it does not meet, if any)."""
    _to_organizer(screening, "booking_received", broken_rules=list(broken_rules), notes=list(notes))


# The reference a licence e-mail is queued by, and that of its PDF part: services/licences.py
# composes and renders them at delivery.
LICENCE_REFERENCE = "licence-issued"
LICENCE_PDF_REFERENCE = "licence-pdf"


def send_licence_issued(screening: Screening, licence: Licence) -> None:
    """Send the licence (PDF attached) and the organizer's calendar invite.

    Only a reference is queued: the outbox composes the mail and renders the PDF when it
    delivers it, so an approval, or two hundred of them, never waits for either."""
    enqueue_later(
        f"{LICENCE_REFERENCE}:{licence.id}",
        kind=_licence_kind(licence),
        recipient=screening.contact_email,
        screening_id=screening.id,
    )


def _licence_kind(licence: Licence) -> str:
    return "licence_issued" if licence.revision == 1 else "licence_revised"


def licence_message(
    licence: Licence, *, notes: list[str], delivery: dict, message_id: str
) -> EmailMessage:
    """The licence e-mail of a licence revision (the PDF a part the outbox renders just
    before sending), with the first licence's notes and the download or shipment and
    materials (``delivery``) that services/licences.py gathers when it composes it."""
    screening = licence.screening
    return _organizer_message(
        screening,
        _licence_kind(licence),
        notes=notes,
        calendar_part=organizer_invite(screening),
        attachments=(
            Attachment(
                f"licence-{licence.number}-r{licence.revision}.pdf",
                b"",
                "application",
                "pdf",
                render=f"{LICENCE_PDF_REFERENCE}:{licence.id}",
            ),
        ),
        message_id=message_id,
        licence=licence,
        verify_url=external_url("public.licence", number=licence.number),
        **delivery,
    )


def send_booking_rejected(screening: Screening) -> None:
    """Tell the organizer the producer declined, and why."""
    _to_organizer(screening, "booking_rejected")


def send_booking_cancelled(screening: Screening, had_licence: bool) -> None:
    """Confirm a cancellation; a licensed screening's calendar entry is cancelled too."""
    _to_organizer(
        screening,
        "booking_cancelled",
        calendar_part=organizer_invite(screening, "CANCEL") if had_licence else None,
    )


# -- attendees ----------------------------------------------------------------------------------


def screening_page_url(screening: Screening) -> str:
    """The public page of a screening (what calendar entries link to)."""
    return external_url("public.screening", screening_id=screening.id)


def attendee_page_url(rsvp: Rsvp) -> str:
    """Where an attendee's e-mails and invite link to: the public page of a listed screening,
    their own RSVP page for a private one (which has no public page)."""
    if visibility.is_listed(rsvp.screening):
        return screening_page_url(rsvp.screening)
    return rsvp_url(rsvp)


def attendee_invite(rsvp: Rsvp, method: str = "REQUEST") -> CalendarPart:
    """An attendee's iMIP part: the app's address organizes it in the organization's name.
    LOCATION has the street once their seat is confirmed (services/visibility.py)."""
    screening = rsvp.screening
    with force_locale(rsvp.language):  # its description is in the attendee's language
        ics = calendar.invite(
            screening,
            method=method,
            url=attendee_page_url(rsvp),
            # Where the attendee's calendar sends its REPLY (services/inbound.py reads it).
            organizer_email=reply_address(rsvp) or sender_address().addr_spec,
            organizer_name=screening.organization_name,
            attendee_email=rsvp.email,
            attendee_name=rsvp.name,
            domain=public_domain(),
            partstat="ACCEPTED",
            place=visibility.rsvp_place(rsvp),
            sequence=screening.calendar_sequence + rsvp.calendar_sequence_offset,
            # A guest replied from the page that shows it (public or shared).
            about=screening.description,
        )
    return CalendarPart(ics, method)


def _to_attendee(
    rsvp: Rsvp,
    kind: str,
    *,
    calendar_part: CalendarPart | None = None,
    ticket: tuple[str, bytes] | None = None,
    reply_to: tuple[str, str] | None = None,
    **context: object,
) -> None:
    """Compose an attendee e-mail (with their private RSVP link) and queue it; a confirmed
    guest's carries their ticket (code, QR PNG): the QR as an inline image beside the code in
    text."""
    screening = rsvp.screening
    if ticket is not None:
        context["ticket_code"] = ticket[0]
        context["ticket_cid"] = make_msgid(domain=public_domain() or "localhost")
    message = compose(
        template=kind,
        recipient_name=rsvp.name,
        recipient_email=rsvp.email,
        language=rsvp.language,
        context={
            "rsvp": rsvp,
            "screening": screening,
            "film": screening.film,
            "place": visibility.rsvp_place(rsvp),
            "screening_url": attendee_page_url(rsvp),
            "rsvp_url": rsvp_url(rsvp),
            **context,
        },
        calendar=calendar_part,
        reply_to=reply_to,
    )
    html = message.get_body(("html",))  # every message is composed with its HTML body
    if ticket is not None and html is not None:
        # The HTML part becomes multipart/related with the QR beside it (cid: reference).
        html.add_related(
            ticket[1],
            maintype="image",
            subtype="png",
            cid=context["ticket_cid"],
            filename="ticket.png",
            disposition="inline",
        )
    enqueue(message, kind=kind, screening_id=screening.id)


def send_rsvp_confirmed(
    rsvp: Rsvp, *, ticket_code: str, ticket_qr_png: bytes, promoted: bool = False
) -> None:
    """A confirmed seat: the invite (REQUEST), the ticket (QR inline, and its code as text;
    services/door.py issues it) and the private link to cancel."""
    _to_attendee(
        rsvp,
        "rsvp_promoted" if promoted else "rsvp_confirmed",
        calendar_part=attendee_invite(rsvp),
        ticket=(ticket_code, ticket_qr_png),
    )


def send_rsvp_waitlisted(rsvp: Rsvp) -> None:
    """On the waiting list: no invite yet, only the link to leave the list."""
    _to_attendee(rsvp, "rsvp_waitlisted")


def send_rsvp_requested(rsvp: Rsvp) -> None:
    """The host approves each guest: the request is with them; no seat and no address yet."""
    _to_attendee(rsvp, "rsvp_requested")


def send_rsvp_declined(rsvp: Rsvp) -> None:
    """The host declined the request: a polite note, no invite, no address."""
    _to_attendee(rsvp, "rsvp_declined")


def send_rsvp_confirm_address(rsvp: Rsvp, *, confirm_url: str) -> None:
    """Seats held until the address is confirmed: the link that confirms it, and the time."""
    minutes = int(current_app.config["ADDRESS_HOLD_MINUTES"])
    _to_attendee(rsvp, "rsvp_confirm_address", confirm_url=confirm_url, minutes=minutes)


def send_rsvp_cancelled(rsvp: Rsvp, *, had_seat: bool) -> None:
    """The attendee cancelled: their own CANCEL takes the entry out of their calendar."""
    _to_attendee(
        rsvp,
        "rsvp_cancelled",
        calendar_part=attendee_invite(rsvp, "CANCEL") if had_seat else None,
        had_seat=had_seat,
    )


def send_rsvp_screening_changed(rsvp: Rsvp, *, before: Screening) -> None:
    """The screening changed: what it was and what it is, and for a confirmed guest an updated
    REQUEST (same UID, higher SEQUENCE). Someone on the waiting list holds no invite and is
    told only when the time or place they may know changed."""
    confirmed = rsvp.status == RsvpStatus.CONFIRMED
    with force_locale(rsvp.language):
        changes = _changes_seen(rsvp, before)
    if not confirmed and not changes:
        return
    _to_attendee(
        rsvp,
        "rsvp_screening_changed",
        calendar_part=attendee_invite(rsvp) if confirmed else None,
        changes=changes,
        confirmed=confirmed,
    )


def _changes_seen(rsvp: Rsvp, before: Screening) -> list[tuple[str, str, str]]:
    """(what, before, now) for each particular that changed as this guest reads it, in the
    current language, times at the venue; the old address under today's rule of who learns
    the street, so a change of that rule alone is no change of place."""
    screening = rsvp.screening
    confirmed = rsvp.status == RsvpStatus.CONFIRMED
    rows = (
        (gettext("Organization"), before.organization_name, screening.organization_name),
        (gettext("Starts"), localized_start_display(before), localized_start_display(screening)),
        (
            gettext("Duration"),
            gettext("%(n)s minutes", n=before.duration_minutes),
            gettext("%(n)s minutes", n=screening.duration_minutes),
        ),
        (
            gettext("Venue"),
            calendar.location_text(
                visibility.place_for_guest(
                    before, confirmed=confirmed, setting=screening.visibility
                )
            ),
            calendar.location_text(visibility.rsvp_place(rsvp)),
        ),
    )
    return [row for row in rows if row[1] != row[2]]


def send_rsvp_screening_cancelled(rsvp: Rsvp, *, had_seat: bool) -> None:
    """The screening is cancelled: a CANCEL for those holding a seat, a note for the list."""
    _to_attendee(
        rsvp,
        "rsvp_screening_cancelled",
        calendar_part=attendee_invite(rsvp, "CANCEL") if had_seat else None,
    )


def send_rsvp_reminder(rsvp: Rsvp) -> None:
    """The screening is soon (attendee)."""
    _to_attendee(rsvp, "rsvp_reminder")


def send_guest_message(rsvp: Rsvp, *, subject: str, body: str, why: str) -> None:
    """The organizer's words to their guests, in the guest's language frame (greeting, why
    they get it, their RSVP link); answers go to the organizer (Reply-To)."""
    screening = rsvp.screening
    _to_attendee(
        rsvp,
        "guest_message",
        reply_to=(screening.contact_name, screening.contact_email),
        subject=subject,
        body=body,
        why=why,
    )


def send_organizer_reminder(screening: Screening, *, seats: int, attendees: int) -> None:
    """The screening is soon (organizer): with the current count of RSVPs."""
    _to_organizer(screening, "organizer_reminder", seats=seats, attendees=attendees)


# -- producer: reach ------------------------------------------------------------------------------


def send_report_request(screening: Screening) -> None:
    """After the screening: ask the organizer for a short report (attendance, feedback)."""
    _to_organizer(
        screening,
        "report_request",
        report_url=external_url("organizer.report", token=manage_token(screening)),
    )


def send_my_links(
    email: str, *, screenings: Iterable[Screening], rsvps: Iterable[Rsvp], language: str
) -> None:
    """Every private link an address holds, asked for on the "e-mail me my links" page."""
    bookings = [(screening, manage_url(screening)) for screening in screenings]
    replies = [(rsvp, rsvp_url(rsvp)) for rsvp in rsvps]
    message = compose(
        template="my_links",
        recipient_name="",
        recipient_email=email,
        language=language,
        context={"bookings": bookings, "replies": replies},
    )
    enqueue(message, kind="my_links")


def send_guest_address_bounced(screening: Screening, guest: Rsvp, *, diagnostic: str) -> None:
    """A guest's address bounced permanently: we stopped writing to it (services/bounces)."""
    _to_organizer(screening, "guest_address_bounced", guest=guest, diagnostic=diagnostic[:300])


@dataclass(frozen=True)
class Forwarded:
    """What a forwarded reply carries (services/inbound.py checks it): who wrote, their
    subject and words."""

    name: str
    address: str
    subject: str
    text: str
    truncated: bool
    dropped_attachments: bool


def send_reply_forwarded(screening: Screening, forwarded: Forwarded) -> None:
    """A person answered one of our e-mails in words: their text, for the organizer to
    answer (Reply-To is the person, built by the header registry; services/inbound.py)."""
    _to_organizer(
        screening,
        "reply_forwarded",
        forwarded=forwarded,
        reply_to=display_address(forwarded.name, forwarded.address),
    )


def send_manage_link(screening: Screening) -> None:
    """A new private manage link, after the old ones were revoked."""
    _to_organizer(screening, "manage_link")


# -- near-me alerts (services/near_alerts.py) ---------------------------------------------------


# Their outbox kinds: near_alerts counts the confirmations an address was sent today by it.
NEARBY_CONFIRMATION_KIND = "nearby_confirm"
NEARBY_ALERT_KIND = "nearby_alert"


def _to_subscriber(
    subscription: NearbySubscription, city: City, kind: str, **context: object
) -> EmailMessage:
    """Compose an e-mail to a near-me subscriber, about their town and radius."""
    return compose(
        template=kind,
        recipient_name="",
        recipient_email=subscription.email,
        language=subscription.language,
        context={
            "place": city.label(subscription.language),
            "radius_km": subscription.radius_km,
            **context,
        },
    )


def send_nearby_confirmation(
    subscription: NearbySubscription, city: City, *, confirm_url: str
) -> None:
    """Double opt-in: the link that confirms a near-me subscription (nothing else is sent
    to the address until it is followed)."""
    message = _to_subscriber(subscription, city, NEARBY_CONFIRMATION_KIND, confirm_url=confirm_url)
    enqueue(message, kind=NEARBY_CONFIRMATION_KIND)


def send_nearby_alert(
    subscription: NearbySubscription,
    city: City,
    found: list[tuple[Screening, float]],
    *,
    unsubscribe_url: str,
) -> None:
    """New screenings near the subscriber's town: [(Screening, km), …], nearest first. Carries
    RFC 8058 one-click unsubscribe headers (and the same link in the body)."""
    entries = [
        {
            "screening": screening,
            "km": round(km),
            "place": visibility.public_place(screening),
            "url": screening_page_url(screening),
        }
        for screening, km in found
    ]
    # The list near the town, whose subscribe buttons add its near-me feed (a confirmed
    # subscriber's town and radius always have one): a webcal:// link is dead in webmail.
    near_list_url = external_url("public.upcoming", near=city.id, km=subscription.radius_km)
    message = _to_subscriber(
        subscription,
        city,
        NEARBY_ALERT_KIND,
        entries=entries,
        unsubscribe_url=unsubscribe_url,
        near_list_url=near_list_url,
    )
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    enqueue(message, kind=NEARBY_ALERT_KIND)


# -- producer accounts and alerts (services/alerts.py) -------------------------------------------


def _to_producer(
    producer: Producer, kind: str, *, screening_id: int | None = None, **context: object
) -> None:
    """An e-mail to a producer account, in the language of the page that caused it."""
    message = compose(
        template=kind,
        recipient_name="",
        recipient_email=producer.email,
        language=str(get_locale() or "en"),
        context={"producer": producer, **context},
    )
    enqueue(message, kind=kind, screening_id=screening_id)


def send_account_unlock(producer: Producer, token: str) -> None:
    """The account was locked after failed logins: a single-use link that lets its owner in."""
    _to_producer(producer, "account_unlock", unlock_url=external_url("auth.unlock", token=token))


def send_password_reset(producer: Producer, token: str) -> None:
    """A single-use, expiring link to choose a new password."""
    _to_producer(
        producer, "password_reset", reset_url=external_url("auth.reset_password", token=token)
    )


def send_account_invite(producer: Producer, token: str, *, inviter: str) -> None:
    """An owner invited this address: a single-use link to choose a password."""
    _to_producer(
        producer,
        "account_invite",
        inviter=inviter,
        invite_url=external_url("auth.accept_invite", token=token),
    )


def send_new_device_login(producer: Producer, *, device: str, address: str) -> None:
    """Someone logged in to the account from a device it had not used before."""
    _to_producer(
        producer,
        "new_device_login",
        device=device,
        address=address,
        sessions_url=external_url("account.sessions"),
    )


def _producer_screening_url(screening: Screening | None) -> str:
    if screening is None:
        return external_url("producer.outbox")
    return external_url("producer.screening", screening_id=screening.id)


def send_producer_alert(
    producer: Producer,
    kind: str,
    screening: Screening | None,
    details: dict,
    *,
    kind_label: str,
    cause: str,
) -> None:
    """One event, at once: a booking or a change to review, a cancellation, dead mail (its
    kind and the organizer's cause in words, from services/alerts.py)."""
    _to_producer(
        producer,
        "producer_alert",
        screening_id=screening.id if screening else None,
        alert_kind=kind,
        kind_label=kind_label,
        screening=screening,
        details=details,
        cause=cause,
        url=_producer_screening_url(screening),
        approvals_url=external_url("producer.approvals"),
    )


def send_producer_digest(
    producer: Producer, items: list[tuple[ProducerAlert, Screening | None, str, str]]
) -> None:
    """The day's alerts in one e-mail: [(ProducerAlert, Screening or None, kind label,
    cause), …], the words from services/alerts.py."""
    entries = [
        {
            "kind_label": kind_label,
            "screening": screening,
            "details": alert.details,
            "cause": cause,
            "url": _producer_screening_url(screening),
            "at": alert.created_at,
        }
        for alert, screening, kind_label, cause in items
    ]
    _to_producer(producer, "producer_digest", entries=entries)


# -- organizer: what the producer did, and changes held for review ---------------------------------


def send_cancelled_by_producer(screening: Screening, *, reason: str, had_licence: bool) -> None:
    """The producer cancelled the screening: the reason, and a CANCEL for the calendar."""
    _to_organizer(
        screening,
        "screening_cancelled_by_producer",
        calendar_part=organizer_invite(screening, "CANCEL") if had_licence else None,
        reason=reason,
    )


def send_licence_revoked(screening: Screening, *, reason: str) -> None:
    """The producer revoked the licence: the screening may not take place under it."""
    _to_organizer(
        screening,
        "licence_revoked",
        calendar_part=organizer_invite(screening, "CANCEL"),
        reason=reason,
        licence=screening.current_licence,
    )


def send_changed_by_producer(screening: Screening, *, changes: dict) -> None:
    """The producer corrected particulars of the screening (a revision follows if any)."""
    _to_organizer(screening, "screening_changed_by_producer", changes=changes)


def send_change_received(screening: Screening, *, changes: dict) -> None:
    """The organizer's change waits for the producer; the licence stays as it was."""
    _to_organizer(screening, "change_received", changes=changes)


def send_change_rejected(screening: Screening, *, changes: dict, reason: str) -> None:
    """The producer declined the organizer's change; the approved particulars stand."""
    _to_organizer(screening, "change_rejected", changes=changes, reason=reason)
