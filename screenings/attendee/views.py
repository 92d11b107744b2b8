"""An attendee's private RSVP page: see the reply, cancel it, or erase it."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ..forms import ConfirmForm
from ..models import RsvpStatus
from ..services import DomainError, door, privacy, visibility
from ..services import rsvps as rsvp_service
from ..views import private_page
from . import bp


def _rsvp_for(token: str):
    rsvp = rsvp_service.find_by_token(token)
    if rsvp is None:
        abort(404)
    return rsvp


@bp.route("/rsvp/<token>")
@private_page
def rsvp(token: str):
    """The reply as it stands, with the buttons to cancel it or erase it."""
    row = _rsvp_for(token)
    return _render("attendee/rsvp.html", row, token=token, form=ConfirmForm(), ticket=_ticket(row))


def _render(template: str, row, **context):
    """An attendee page: their reply, its screening, and the place as they may see it."""
    return render_template(
        template, rsvp=row, screening=row.screening, place=visibility.rsvp_place(row), **context
    )


def _ticket(row) -> dict | None:
    """A confirmed reply's ticket: its code and QR (an older reply gets its digest now)."""
    if row.status != RsvpStatus.CONFIRMED:
        return None
    code = door.issue_ticket(row)
    return {"code": code, "qr": door.ticket_qr_data_uri(row)}


@bp.route("/rsvp/<token>/ticket")
@private_page
def ticket(token: str):
    """The ticket alone, to print or to show on a phone at the door."""
    row = _rsvp_for(token)
    ticket = _ticket(row)
    if ticket is None:
        abort(404)
    return _render("attendee/ticket.html", row, ticket=ticket)


@bp.route("/rsvp/confirm/<token>")
@private_page
def confirm_address(token: str):
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
    return redirect(url_for(".rsvp", token=rsvp_service.rsvp_token(row)))


@bp.route("/rsvp/<token>/cancel", methods=["POST"])
@private_page
def cancel(token: str):
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
def erase(token: str):
    row = _rsvp_for(token)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return redirect(url_for(".rsvp", token=token))
    privacy.erase_attendee(row, actor="attendee:own link")
    flash(_("Your reply and your name and e-mail address are erased."), "success")
    return redirect(url_for("public.upcoming"))
