"""One screening: its page, and the producer's cancel, revoke, edit and new manage link."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from ...organizer.forms import EditBookingForm
from ...services import DomainError, alerts
from ...services import bookings as booking_service
from ...services import dashboard as board
from ...views import form_error
from .. import bp
from ..forms import (
    ApproveForm,
    ChangeDecisionForm,
    ProducerCancelForm,
    ReissueLinkForm,
    RejectForm,
    ReturnForm,
    RevokeForm,
    ShipForm,
)
from .base import actor, screening_or_404


def render_screening_page(
    screening_id: int, status: int = 200, **forms: FlaskForm
) -> tuple[str, int]:
    """The producer's screening page, with its action forms (a failed one re-rendered)."""
    detail = board.screening_detail(screening_id)
    if detail is None:
        abort(404)
    screening = detail["screening"]
    return render_template(
        "producer/screening.html",
        **detail,
        approve_form=forms.get("approve_form") or ApproveForm(),
        reject_form=forms.get("reject_form") or RejectForm(),
        ship_form=ShipForm(),
        return_form=ReturnForm(),
        reissue_form=ReissueLinkForm(),
        cancel_form=forms.get("cancel_form") or ProducerCancelForm(formdata=None),
        revoke_form=forms.get("revoke_form") or RevokeForm(formdata=None),
        change_form=forms.get("change_form") or ChangeDecisionForm(formdata=None),
        pending_change=booking_service.pending_change(screening),
        cause_label=alerts.cause_label,
    ), status


@bp.route("/screenings/<int:screening_id>")
def screening(screening_id: int) -> tuple[str, int]:
    return render_screening_page(screening_id)


@bp.route("/screenings/<int:screening_id>/cancel", methods=["POST"])
def cancel(screening_id: int) -> BaseResponse | tuple[str, int]:
    """The producer cancels: organizer and guests are e-mailed (guests with a CANCEL)."""
    screening = screening_or_404(screening_id)
    form = ProducerCancelForm()
    if form.validate_on_submit():
        try:
            booking_service.cancel_booking(
                screening, actor=actor(), reason=form.reason.data, by_producer=True
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Cancelled. The organizer and the guests are told."), "success")
            return redirect(url_for(".screening", screening_id=screening_id))
    return render_screening_page(screening_id, 422, cancel_form=form)


@bp.route("/screenings/<int:screening_id>/revoke", methods=["POST"])
def revoke(screening_id: int) -> BaseResponse | tuple[str, int]:
    """The producer revokes the licence: the verification page says revoked."""
    screening = screening_or_404(screening_id)
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            booking_service.revoke_licence(screening, reason=form.reason.data, actor=actor())
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Licence revoked. The organizer and the guests are told."), "success")
            return redirect(url_for(".screening", screening_id=screening_id))
    return render_screening_page(screening_id, 422, revoke_form=form)


@bp.route("/screenings/<int:screening_id>/edit", methods=["GET", "POST"])
def edit_screening(screening_id: int) -> BaseResponse | tuple[str, int]:
    """The producer corrects particulars: a new revision where the licence changes."""
    screening = screening_or_404(screening_id)
    if not screening.is_open_for_changes:
        flash(_("This screening can no longer be changed."), "warning")
        return redirect(url_for(".screening", screening_id=screening_id))
    form = EditBookingForm(films=[screening.film])
    del form.accept_new_terms  # the organizer's to accept, not the producer's
    del form.host_note  # the organizer's words to their guests: kept as they wrote them
    if request.method == "GET":
        form.fill_from(screening)
        form.film_id.data = screening.film_id
    elif form.validate_on_submit():
        try:
            booking_service.update_booking(
                screening, form.to_details(), actor=actor(), by_producer=True
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Saved. The organizer is told of the change."), "success")
            return redirect(url_for(".screening", screening_id=screening_id))
    status = 422 if request.method == "POST" else 200
    return render_template("producer/edit.html", form=form, screening=screening), status


@bp.route("/screenings/<int:screening_id>/manage-link", methods=["POST"])
def reissue_manage_link(screening_id: int) -> BaseResponse:
    """Revoke the organizer's manage links (e.g. one was forwarded) and send a new one."""
    screening = screening_or_404(screening_id)
    if ReissueLinkForm().validate_on_submit():
        booking_service.reissue_manage_link(screening, actor=actor())
        flash(
            _("The old manage links no longer work; a new one is e-mailed to the organizer."),
            "success",
        )
    return redirect(url_for(".screening", screening_id=screening_id))
