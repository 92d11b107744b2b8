"""Privacy: subject-access exports and erasure of organizers', attendees' and subscribers'
personal data."""

from __future__ import annotations

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response as BaseResponse

from ...services import DomainError, privacy
from ...views import form_error
from .. import bp
from ..forms import (
    EraseAttendeeForm,
    EraseOrganizerForm,
    EraseSubscriberForm,
    OrganizerDataForm,
    SubscriberDataForm,
)
from .base import actor


def _json_download(data: dict, filename: str) -> Response:
    """A subject-access export: JSON to save, never stored by a cache."""
    response = jsonify(data)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/privacy", methods=["GET", "POST"])
def privacy_page() -> BaseResponse | tuple[str, int]:
    """Subject-access export and erasure of an organizer's personal data."""
    export_form = OrganizerDataForm(prefix="export")
    erase_form = EraseOrganizerForm(prefix="erase")
    attendee_form = EraseAttendeeForm(prefix="attendee")
    subscriber_export = SubscriberDataForm(prefix="subscriber-export")
    subscriber_erase = EraseSubscriberForm(prefix="subscriber-erase")
    if export_form.submit_data_in(request) and export_form.validate_on_submit():
        try:
            data = privacy.export_organizer_data(export_form.email.data)
        except DomainError as error:
            form_error(export_form, error)
        else:
            return _json_download(data, "organizer-data.json")
    elif erase_form.submit_data_in(request) and erase_form.validate_on_submit():
        try:
            count = privacy.erase_organizer_data(erase_form.email.data, actor=actor())
        except DomainError as error:
            form_error(erase_form, error)
        else:
            flash(
                ngettext(
                    "Personal data erased from %(num)d booking.",
                    "Personal data erased from %(num)d bookings.",
                    count,
                ),
                "success",
            )
            return redirect(url_for(".privacy_page"))
    elif attendee_form.submit_data_in(request) and attendee_form.validate_on_submit():
        try:
            count = privacy.erase_attendee_everywhere(attendee_form.email.data, actor=actor())
        except DomainError as error:
            form_error(attendee_form, error)
        else:
            flash(
                _("The attendee's %(n)s reply(ies) and personal data are erased.", n=count),
                "success",
            )
            return redirect(url_for(".privacy_page"))
    elif subscriber_export.submit_data_in(request) and subscriber_export.validate_on_submit():
        try:
            data = privacy.export_subscriber_data(subscriber_export.email.data)
        except DomainError as error:
            form_error(subscriber_export, error)
        else:
            return _json_download(data, "subscriber-data.json")
    elif subscriber_erase.submit_data_in(request) and subscriber_erase.validate_on_submit():
        try:
            count = privacy.erase_subscriber_data(subscriber_erase.email.data)
        except DomainError as error:
            form_error(subscriber_erase, error)
        else:
            flash(
                ngettext(
                    "%(num)d near-me subscription and its e-mails are erased.",
                    "%(num)d near-me subscriptions and their e-mails are erased.",
                    count,
                ),
                "success",
            )
            return redirect(url_for(".privacy_page"))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "producer/privacy.html",
        export_form=export_form,
        erase_form=erase_form,
        attendee_form=attendee_form,
        subscriber_export=subscriber_export,
        subscriber_erase=subscriber_erase,
    ), status
