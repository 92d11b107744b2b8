"""The dashboard: what needs a decision and what is coming up."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Screening, ScreeningStatus, utcnow
from ..services import DomainError
from ..services import bookings as booking_service
from . import bp
from .forms import ApproveForm, RejectForm


def _actor() -> str:
    return f"producer:{current_user.email}"


@bp.route("/")
def dashboard():
    pending = db.session.scalars(
        select(Screening)
        .where(Screening.status == ScreeningStatus.PENDING)
        .options(selectinload(Screening.film))
        .order_by(Screening.starts_at)
        .limit(100)
    ).all()
    upcoming = db.session.scalars(
        select(Screening)
        .where(Screening.status == ScreeningStatus.APPROVED, Screening.starts_at >= utcnow())
        .options(selectinload(Screening.film), selectinload(Screening.licences))
        .order_by(Screening.starts_at)
        .limit(100)
    ).all()
    return render_template(
        "producer/dashboard.html",
        pending=pending,
        upcoming=upcoming,
        approve_form=ApproveForm(),
        reject_form=RejectForm(),
    )


def _screening(screening_id: int) -> Screening:
    screening = db.session.get(Screening, screening_id)
    if screening is None:
        abort(404)
    return screening


@bp.route("/screenings/<int:screening_id>")
def screening(screening_id: int):
    return render_template(
        "producer/screening.html",
        screening=_screening(screening_id),
        approve_form=ApproveForm(),
        reject_form=RejectForm(),
    )


@bp.route("/screenings/<int:screening_id>/approve", methods=["POST"])
def approve(screening_id: int):
    screening = _screening(screening_id)
    if ApproveForm().validate_on_submit():
        try:
            booking_service.approve_booking(screening, actor=_actor())
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(
                _(
                    "Approved. Licence %(number)s is sent to the organizer.",
                    number=screening.current_licence.number,
                ),
                "success",
            )
    return redirect(url_for(".dashboard"))


@bp.route("/screenings/<int:screening_id>/reject", methods=["POST"])
def reject(screening_id: int):
    screening = _screening(screening_id)
    form = RejectForm()
    if form.validate_on_submit():
        try:
            booking_service.reject_booking(screening, reason=form.reason.data, actor=_actor())
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("Rejected. The organizer is told why."), "success")
        return redirect(url_for(".dashboard"))
    return render_template(
        "producer/screening.html",
        screening=screening,
        approve_form=ApproveForm(),
        reject_form=form,
    ), 422
