"""An attendee's private RSVP page: see the reply, cancel it, or erase it."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from .. import calendar, emails
from ..capabilities import rsvp_token
from ..forms import ConfirmForm
from ..models import Rsvp, RsvpStatus, Screening, ScreeningStatus
from ..services import DomainError, door, privacy, visibility
from ..services import rsvps as rsvp_service
from ..urls import external_url
from ..views import form_error, private_page
from . import bp
from .forms import SeatsForm


def _rsvp_for(token: str) -> Rsvp:
    rsvp = rsvp_service.find_by_token(token)
    if rsvp is None:
        abort(404)
    return rsvp


@bp.route("/rsvp/<token>")
@private_page
def rsvp(token: str) -> tuple[str, int]:
    """The reply as it stands, with the buttons to cancel it or erase it."""
    return _attendee_page(_rsvp_for(token), token)


def _attendee_page(
    row: Rsvp, token: str, *, seats_form: SeatsForm | None = None, status: int = 200
) -> tuple[str, int]:
    """The attendee's page: the confirmation card, the ticket, the seats, cancel and erase."""
    rsvps_open = rsvp_service.accepts_rsvps(row.screening)
    if seats_form is None and row.status in rsvp_service.RESIZABLE:
        seats_form = SeatsForm(
            max_party_size=row.screening.max_party_size, data={"party_size": row.party_size}
        )
    return _render(
        "attendee/rsvp.html",
        row,
        token=token,
        form=ConfirmForm(),
        seats_form=seats_form if rsvps_open else None,
        ticket=_ticket(row),
        screening_url=_screening_url(row.screening),
        calendar_links=_calendar_links(row),
        rsvps_open=rsvps_open,
    ), status


@bp.route("/rsvp/<token>/seats", methods=["POST"])
@private_page
def seats(token: str) -> BaseResponse | tuple[str, int]:
    """Change the number of seats; a refusal comes back beside the field."""
    row = _rsvp_for(token)
    form = SeatsForm(max_party_size=row.screening.max_party_size)
    if form.validate_on_submit():
        try:
            rsvp_service.change_party_size(row, form.party_size.data)
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Your seats are changed."), "success")
            return redirect(url_for(".rsvp", token=token))
    return _attendee_page(row, token, seats_form=form, status=422)


def _render(template: str, row: Rsvp, **context: object) -> str:
    """An attendee page: their reply, its screening, and the place as they may see it."""
    return render_template(
        template, rsvp=row, screening=row.screening, place=visibility.rsvp_place(row), **context
    )


def _screening_url(screening: Screening) -> str | None:
    """The screening's page as this attendee may open it: the public page of a listed
    screening, the share link of a private one, else none (never a page they can't open)."""
    if visibility.is_listed(screening):
        return url_for("public.screening", screening_id=screening.id)
    token = visibility.share_token(screening)
    return url_for("public.shared", token=token) if token else None


def _calendar_links(row: Rsvp) -> dict[str, str] | None:
    """Google and Outlook links for a confirmed seat at a screening still to come (the .ics
    is their own invite, below); none otherwise."""
    screening = row.screening
    confirmed = row.status == RsvpStatus.CONFIRMED
    if not confirmed or screening.status != ScreeningStatus.APPROVED or screening.is_past:
        return None
    # The links go to Google and Microsoft: they carry the public page of a listed screening
    # and nothing of a private one, never the attendee's own link (its token can cancel).
    url = (
        external_url("public.screening", screening_id=screening.id)
        if visibility.is_listed(screening)
        else ""
    )
    place = visibility.rsvp_place(row)
    return {
        "google": calendar.google_calendar_link(screening, url=url, place=place),
        "outlook": calendar.outlook_calendar_link(screening, url=url, place=place),
        "outlook_office": calendar.outlook_calendar_link(
            screening, url=url, place=place, account="office"
        ),
    }


@bp.route("/rsvp/<token>/invite.ics")
@private_page
def invite_ics(token: str) -> Response:
    """A confirmed attendee's own invite as a file: the same UID and SEQUENCE as the one
    e-mailed, so importing it updates that entry rather than adding a second."""
    row = _rsvp_for(token)
    if _calendar_links(row) is None:
        abort(404)
    response = Response(emails.attendee_invite(row).ics, mimetype="text/calendar")
    response.headers["Content-Disposition"] = 'attachment; filename="invite.ics"'
    return response


def _ticket(row: Rsvp) -> dict[str, str] | None:
    """A confirmed reply's ticket: its code and QR (an older reply gets its digest now)."""
    if row.status != RsvpStatus.CONFIRMED:
        return None
    code = door.issue_ticket(row)
    return {"code": code, "qr": door.ticket_qr_data_uri(row)}


@bp.route("/rsvp/<token>/ticket")
@private_page
def ticket(token: str) -> str:
    """The ticket alone, to print or to show on a phone at the door."""
    row = _rsvp_for(token)
    ticket = _ticket(row)
    if ticket is None:
        abort(404)
    return _render("attendee/ticket.html", row, ticket=ticket)


@bp.route("/rsvp/confirm/<token>")
@private_page
def confirm_address(token: str) -> BaseResponse:
    """The link e-mailed to an unconfirmed reply: opening it confirms the address (a GET,
    like any e-mailed confirmation link; repeating it changes nothing)."""
    row = rsvp_service.find_by_confirm_token(token)
    if row is None:
        abort(404)
    outcome = rsvp_service.confirm_address(row)
    if outcome == "confirmed":
        flash(_("Thank you: your address is confirmed and your seats are yours."), "success")
    elif outcome == "expired":
        flash(
            _(
                "This link came too late: the seats held for you have gone back. "
                "You can reply again on the screening's page."
            ),
            "warning",
        )
    return redirect(url_for(".rsvp", token=rsvp_token(row)))


@bp.route("/rsvp/<token>/cancel", methods=["POST"])
@private_page
def cancel(token: str) -> BaseResponse:
    row = _rsvp_for(token)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            rsvp_service.cancel_rsvp(row)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("Your reply is cancelled. We've e-mailed you a confirmation."), "success")
    return redirect(url_for(".rsvp", token=token))


@bp.route("/rsvp/<token>/erase", methods=["POST"])
@private_page
def erase(token: str) -> BaseResponse:
    row = _rsvp_for(token)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return redirect(url_for(".rsvp", token=token))
    privacy.erase_attendee(row, actor="attendee:own link")
    flash(_("Your reply and your name and e-mail address are erased."), "success")
    return redirect(url_for("public.upcoming"))
