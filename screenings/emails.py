"""One function per e-mail. Each renders templates/email/<name>/ and queues it in the outbox."""

from __future__ import annotations

from flask import current_app

from . import calendar
from .licence_pdf import render_licence_pdf
from .models import Licence, Screening
from .outbox import Attachment, CalendarPart, compose, enqueue, sender_address
from .urls import external_url, public_domain


def _to_organizer(
    screening: Screening,
    kind: str,
    *,
    calendar_part: CalendarPart | None = None,
    attachments: tuple[Attachment, ...] = (),
    **context,
) -> None:
    """Compose an organizer e-mail (always with the manage link) and queue it."""
    from .services.bookings import manage_token

    message = compose(
        template=kind,
        recipient_name=screening.contact_name,
        recipient_email=screening.contact_email,
        language=screening.language,
        context={
            "screening": screening,
            "film": screening.film,
            "manage_url": external_url("organizer.manage", token=manage_token(screening)),
            **context,
        },
        calendar=calendar_part,
        attachments=attachments,
    )
    enqueue(message, kind=kind, screening_id=screening.id)


def organizer_invite(screening: Screening, method: str = "REQUEST") -> CalendarPart:
    """The organizer's own calendar entry for their screening, as an iMIP part."""
    sender = sender_address()
    licence = screening.current_licence
    url = (
        external_url("public.licence", number=licence.number)
        if licence
        else current_app.config["PUBLIC_BASE_URL"]
    )
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
    )
    return CalendarPart(ics, method)


def send_booking_received(screening: Screening) -> None:
    """Tell the organizer their booking waits for the producer's approval."""
    _to_organizer(screening, "booking_received")


def send_licence_issued(screening: Screening, licence: Licence) -> None:
    """Send the licence (PDF attached) and the organizer's calendar invite."""
    verify_url = external_url("public.licence", number=licence.number)
    pdf = render_licence_pdf(
        licence, verify_url=verify_url, issuer_name=screening.film.production_company
    )
    _to_organizer(
        screening,
        "licence_issued" if licence.revision == 1 else "licence_revised",
        calendar_part=organizer_invite(screening),
        attachments=(
            Attachment(
                f"licence-{licence.number}-r{licence.revision}.pdf", pdf, "application", "pdf"
            ),
        ),
        licence=licence,
        verify_url=verify_url,
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
