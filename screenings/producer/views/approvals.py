"""Approvals: the queue (one by one or in bulk), held changes, and trusted hosts."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response as BaseResponse

from ...extensions import db
from ...models import ChangeRequest
from ...services import DomainError, clashes, observances, rules
from ...services import bookings as booking_service
from ...services import dashboard as board
from ...views import form_error
from .. import bp, needs
from ..forms import ApproveForm, BulkDecisionForm, ChangeDecisionForm, RejectForm, TrustForm
from .base import actor, screening_or_404
from .screening import render_screening_page


@bp.route("/approvals", methods=["GET", "POST"])
@needs("decide")
def approvals() -> BaseResponse | tuple[str, int]:
    form = BulkDecisionForm()
    row_errors: dict[int, str] = {}
    status = 200
    if form.validate_on_submit():
        approving = form.action.data == "approve"
        ids = board.pending_ids() if form.every_pending.data else form.screening_ids.data
        try:
            outcome = board.decide(
                ids, approve=approving, reason=form.reason.data or "", actor=actor()
            )
        except DomainError as error:
            form_error(form, error)
            status = 422
        else:
            if outcome.done:
                message = (
                    ngettext(
                        "%(num)d booking approved; its organizer gets the licence.",
                        "%(num)d bookings approved; each organizer gets their licence.",
                        len(outcome.done),
                    )
                    if approving
                    else ngettext(
                        "%(num)d booking rejected; its organizer is told why.",
                        "%(num)d bookings rejected; each organizer is told why.",
                        len(outcome.done),
                    )
                )
                flash(message, "success")
            if not outcome.failed:
                return redirect(url_for(".approvals", page=request.args.get("page")))
            # What could not be done is said beside each booking, on this page.
            row_errors = dict(outcome.failed)
            flash(
                ngettext(
                    "%(num)d booking was not changed: the reason is beside it.",
                    "%(num)d bookings were not changed: the reason is beside each.",
                    len(outcome.failed),
                ),
                "error",
            )
            form = BulkDecisionForm(formdata=None)
    elif request.method == "POST":
        status = 422
    return _approvals_page(form, row_errors=row_errors, status=status)


def _approvals_page(
    form: BulkDecisionForm,
    *,
    row_errors: dict[int, str] | None = None,
    reject_form: RejectForm | None = None,
    reject_for: int | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The approval queue, a page at a time, with any refusal beside the booking it concerns."""
    queue = board.approval_queue(page=request.args.get("page", 1, type=int))
    row_errors = row_errors or {}
    shown = {s.id for s in queue.items}
    return render_template(
        "producer/approvals.html",
        queue=queue,
        form=form,
        row_errors=row_errors,
        # Refusals for bookings not on this page (another page, or no longer waiting).
        other_errors=[(i, m) for i, m in row_errors.items() if i not in shown],
        approve_form=ApproveForm(),
        reject_form=reject_form or RejectForm(formdata=None),
        reject_for=reject_for,
        changes=booking_service.pending_changes(),
        change_form=ChangeDecisionForm(),
        broken_rules={s.id: rules.evaluate(s) for s in queue.items},
        clashes={s.id: clashes.find(s) for s in queue.items},
        clash_label=clashes.label,
        observances={s.id: observances.warnings(s) for s in queue.items},
        trust_form=TrustForm(),
        trusted_hosts=rules.trusted_hosts(),
    ), status


@bp.route("/screenings/<int:screening_id>/approve-and-trust", methods=["POST"])
def approve_and_trust(screening_id: int) -> BaseResponse:
    """Approve a booking and trust its organizer's later compliant bookings (a standing
    policy, so owners only, like the film's rules)."""
    screening = screening_or_404(screening_id)
    form = TrustForm()
    if form.validate_on_submit():
        try:
            host = booking_service.approve_and_trust(
                screening, whole_domain=bool(form.whole_domain.data), actor=actor()
            )
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(
                _(
                    "Approved. Later bookings from %(who)s that meet the film's rules are "
                    "approved at once.",
                    who=host.value,
                ),
                "success",
            )
    return redirect(url_for(".approvals"))


@bp.route("/trusted-hosts/<int:host_id>/revoke", methods=["POST"])
def trust_revoke(host_id: int) -> BaseResponse:
    """Stop trusting a host: their next bookings are reviewed again."""
    if ApproveForm().validate_on_submit():
        rules.revoke_trust(host_id)
        flash(_("No longer trusted: their next bookings wait for your approval."), "success")
    return redirect(url_for(".approvals"))


def _back(default: str = ".approvals") -> BaseResponse:
    target = request.form.get("back", "")
    if target == "screening":
        return redirect(
            url_for(".screening", screening_id=(request.view_args or {})["screening_id"])
        )
    return redirect(url_for(default))


def _change(change_id: int) -> ChangeRequest:
    change = db.session.get(ChangeRequest, change_id)
    if change is None:
        abort(404)
    return change


@bp.route("/changes/<int:change_id>", methods=["POST"])
@needs("decide")
def decide_change(change_id: int) -> BaseResponse | tuple[str, int]:
    """Approve (a revised licence is issued) or reject (with a reason) a held change."""
    change = _change(change_id)
    form = ChangeDecisionForm()
    approve = request.form.get("decision") == "approve"
    if form.validate_on_submit():
        if not approve and not form.reason.data:
            form.reason.errors = [*form.reason.errors, _("Give the organizer a reason.")]
        else:
            try:
                if approve:
                    booking_service.approve_change(change, actor=actor())
                else:
                    booking_service.reject_change(change, reason=form.reason.data, actor=actor())
            except DomainError as error:
                form_error(form, error)
            else:
                flash(
                    _("Change approved; the revised licence is sent to the organizer.")
                    if approve
                    else _("Change rejected; the organizer is told why."),
                    "success",
                )
                if request.form.get("back") == "screening":
                    return redirect(url_for(".screening", screening_id=change.screening_id))
                return redirect(url_for(".approvals"))
    return render_screening_page(change.screening_id, 422, change_form=form)


@bp.route("/screenings/<int:screening_id>/approve", methods=["POST"])
@needs("decide")
def approve(screening_id: int) -> BaseResponse | tuple[str, int]:
    screening = screening_or_404(screening_id)
    if ApproveForm().validate_on_submit():
        try:
            licence = booking_service.approve_booking(screening, actor=actor())
        except DomainError as error:
            if request.form.get("back") != "screening":  # the queue, the reason beside it
                return _approvals_page(
                    BulkDecisionForm(formdata=None),
                    row_errors={screening_id: error.message},
                    status=422,
                )
            flash(error.message, "error")
        else:
            flash(
                _(
                    "Approved. Licence %(number)s is sent to the organizer.",
                    number=licence.number,
                ),
                "success",
            )
    return _back()


@bp.route("/screenings/<int:screening_id>/reject", methods=["POST"])
@needs("decide")
def reject(screening_id: int) -> BaseResponse | tuple[str, int]:
    screening = screening_or_404(screening_id)
    form = RejectForm()
    if form.validate_on_submit():
        try:
            booking_service.reject_booking(screening, reason=form.reason.data, actor=actor())
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("Rejected. The organizer is told why."), "success")
        return _back()
    if request.form.get("back") == "screening":
        return render_screening_page(screening_id, 422, reject_form=form)
    # From the queue: the queue again, the message beside this booking's reason.
    return _approvals_page(
        BulkDecisionForm(formdata=None), reject_form=form, reject_for=screening_id, status=422
    )
