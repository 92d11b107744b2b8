"""The outbox: failed and dead mail, retries, and suppressed addresses."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from ...services import DomainError, bounces, outbox_admin
from .. import bp
from ..forms import RetryForm


@bp.route("/outbox")
def outbox() -> str:
    view = request.args.get("view", "problems")
    if view not in outbox_admin.OUTBOX_VIEWS:
        view = "problems"
    page_number = request.args.get("page", 1, type=int) or 1
    return render_template(
        "producer/outbox.html",
        page=outbox_admin.outbox_page(view, page_number),
        counts=outbox_admin.outbox_counts(),
        view=view,
        views=outbox_admin.OUTBOX_VIEWS,
        retry_form=RetryForm(),
        suppressed=bounces.suppressed_addresses(),
    )


@bp.route("/outbox/suppressed/<int:suppression_id>/lift", methods=["POST"])
def lift_suppression(suppression_id: int) -> BaseResponse:
    if RetryForm().validate_on_submit():
        try:
            lifted = bounces.lift_suppression(suppression_id)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(
                _("We will write to %(address)s again.", address=lifted.email_normalized),
                "success",
            )
    return redirect(url_for(".outbox", view=request.args.get("view", "problems")))


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
def outbox_retry(message_id: int) -> BaseResponse:
    if RetryForm().validate_on_submit():
        try:
            outbox_admin.retry(message_id)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("The message is queued again."), "success")
    return redirect(url_for(".outbox", view=request.args.get("view", "problems")))
