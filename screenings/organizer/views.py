"""Booking a screening and managing it through the private link."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from ..door.forms import HelperForm
from ..door.views import helper_links
from ..extensions import db, limiter
from ..formatting import format_time
from ..forms import ConfirmForm
from ..models import Film, RsvpStatus, Screening, ScreeningFormat
from ..places import NonexistentLocalTime
from ..security import new_token
from ..services import (
    DomainError,
    distribution,
    door,
    guest_messages,
    guests,
    licences,
    observances,
    reports,
    rules,
    visibility,
)
from ..services import bookings as booking_service
from ..services import reports as report_service
from ..services import rsvps as rsvp_service
from ..services.films import active_films
from ..services.inbound import bounced_addresses
from ..services.sharing import poster_pdf as render_poster
from ..services.sharing import share_of
from ..urls import external_url
from ..views import form_error, private_page, rate_limit_forms
from . import bp
from .forms import (
    BookingForm,
    CancelForm,
    EditBookingForm,
    GuestDecisionForm,
    GuestMessageForm,
    ReportForm,
    WarningQueryForm,
)


def _film_from_query() -> Film | None:
    slug = request.args.get("film", "")
    return next((film for film in active_films() if film.slug == slug), None)


def _actor(screening: Screening) -> str:
    """Who acts through a manage link, as the history records it."""
    return f"organizer:{screening.contact_email}"


@bp.route("/book", methods=["GET", "POST"])
@limiter.limit(rate_limit_forms, methods=["POST"])
def book() -> BaseResponse | tuple[str, int]:
    """The booking form; a valid booking leads to its manage page."""
    films = active_films()
    form = BookingForm(films=films)
    if request.method == "GET":
        film = _film_from_query() or (films[0] if films else None)
        form.submission_key.data = new_token()
        if film is not None:
            form.film_id.data = film.id
            form.duration_minutes.data = booking_service.default_duration(film)
    form.preselect_listing()
    if request.method == "POST" and form.validate_on_submit():
        try:
            result = booking_service.create_booking(
                form.to_details(),
                submission_key=form.submission_key.data or new_token(),
                language=str(get_locale()),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            _flash_booking_result(result)
            return redirect(url_for(".manage", token=result.manage_token))
    selected = next((film for film in films if film.id == form.film_id.data), None)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "organizer/book.html",
        form=form,
        films=films,
        film=selected,
        film_rules={film.id: rules.describe(film) for film in films},
    ), status


def rate_limit_warnings() -> str:
    return current_app.config["RATELIMIT_WARNINGS"]


@bp.route("/book/warnings")
@limiter.limit(rate_limit_warnings)
def booking_warnings() -> Response | tuple[str, int]:
    """The booking form's live hint: holidays and Shabbat on the chosen date and place (an
    HTML fragment; bad input: 400 and nothing). Observances only: never other bookings."""
    form = WarningQueryForm(request.args)
    if not form.validate():
        return "", 400
    try:
        found = observances.warnings(
            observances.draft(
                form.date.data,
                form.time.data,
                country=form.country.data,
                timezone=form.timezone.data,
                city=form.city.data or "",
                region=form.region.data or "",
                duration_minutes=form.duration.data or 120,
            )
        )
    except NonexistentLocalTime:
        return "", 400
    response = current_app.make_response(
        render_template("organizer/_observances.html", observances=found)
    )
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.vary.update(("Accept-Language",))
    return response


def _flash_booking_result(result: booking_service.BookingResult) -> None:
    screening = result.screening
    if not result.is_new:
        flash(_("This booking was already received; here it is."), "info")
    elif screening.status == "approved" and (licence := screening.current_licence) is not None:
        flash(
            _(
                "Your screening is booked and licence %(number)s is issued. "
                "We've e-mailed it to %(email)s.",
                number=licence.number,
                email=screening.contact_email,
            ),
            "success",
        )
    else:
        flash(
            _(
                "Your booking is received. The producer will review it; "
                "we've e-mailed you this page's link."
            ),
            "success",
        )
    if result.broken_rules:
        flash(
            _(
                "The producer will look at these points, where your booking differs from the "
                "film's licence rules: %(rules)s",
                rules=" ".join(result.broken_rules),
            ),
            "warning",
        )
    for note in result.notes:
        flash(note, "info")
    if result.was_ambiguous:
        flash(
            _(
                "The start time occurs twice that night (the clocks go back); "
                "we used the first occurrence, %(when)s.",
                when=format_time(screening.starts_at, screening.timezone, with_zone=True),
            ),
            "warning",
        )


def _screening_for(token: str) -> Screening:
    screening = booking_service.find_by_manage_token(token)
    if screening is None:
        abort(404)
    return screening


@bp.route("/manage/<token>")
@private_page
def manage(token: str) -> tuple[str, int]:
    """The organizer's private page: status, licence, what happens next."""
    screening = _screening_for(token)
    return _manage_page(screening, token, CancelForm())


def _manage_page(
    screening: Screening,
    token: str,
    cancel_form: CancelForm,
    status: int = 200,
    decision_form: GuestDecisionForm | None = None,
    message_form: GuestMessageForm | None = None,
) -> tuple[str, int]:
    return render_template(
        "organizer/manage.html",
        screening=screening,
        token=token,
        cancel_form=cancel_form,
        share_form=ConfirmForm(),
        **_attendee_context(screening),
        **_guest_requests_context(screening, decision_form),
        **_door_context(screening),
        **_messages_context(screening, message_form),
        held=booking_service.pending_change(screening),
        verify_url=external_url("public.licence", number=screening.current_licence.number)
        if screening.current_licence
        else None,
        delivery=_delivery(screening),
        **_share_context(screening),
    ), status


def _share_context(screening: Screening) -> dict:
    """The Share block and the links in one place (templates/organizer/_share.html)."""
    from ..licence_pdf import qr_svg  # noqa: PLC0415 fpdf and fonts: 40 MB a worker, on demand

    share = share_of(screening)
    return {
        "share": share,
        "share_qr": qr_svg(share.url) if share else "",
        "can_report": reports.can_report(screening),
    }


def _delivery(screening: Screening) -> dict:
    """How the film reaches the host: the chosen format, and its link or shipment once
    licensed (the same facts as the licence e-mail)."""
    chosen = db.session.get(ScreeningFormat, screening.format_id) if screening.format_id else None
    offered = distribution.formats_for([screening.film])
    return {"format": chosen, "offered": offered, **distribution.licence_email_context(screening)}


@bp.route("/manage/<token>/share-link", methods=["POST"])
@private_page
def share_link(token: str) -> BaseResponse:
    """Issue a new share link for a private screening (the old one stops working)."""
    screening = _screening_for(token)
    actor = _actor(screening)
    if ConfirmForm().validate_on_submit() and visibility.issue_share_link(screening, actor=actor):
        flash(_("A new share link is ready; the old one no longer works."), "success")
    return redirect(url_for(".manage", token=token))


@bp.route("/manage/<token>/share-link/revoke", methods=["POST"])
@private_page
def revoke_share_link(token: str) -> BaseResponse:
    """Revoke the share link: its page answers 404 from now on."""
    screening = _screening_for(token)
    actor = _actor(screening)
    if ConfirmForm().validate_on_submit() and visibility.revoke_share_link(screening, actor=actor):
        flash(_("The share link is revoked; nobody can open it any more."), "success")
    return redirect(url_for(".manage", token=token))


@bp.route("/manage/<token>/edit", methods=["GET", "POST"])
@private_page
def edit(token: str) -> BaseResponse | tuple[str, int]:
    screening = _screening_for(token)
    if not screening.is_open_for_changes:
        flash(_("This screening can no longer be changed."), "warning")
        return redirect(url_for(".manage", token=token))
    form = EditBookingForm(films=[screening.film])
    if request.method == "GET":
        form.fill_from(screening)
        form.film_id.data = screening.film_id
    elif form.validate_on_submit():
        try:
            revisions_before = len(screening.licences)
            held_before = booking_service.pending_change(screening)
            booking_service.update_booking(
                screening,
                form.to_details(),
                actor=_actor(screening),
                accept_new_terms=bool(form.accept_new_terms.data),
                terms_language=str(get_locale()),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            held = booking_service.pending_change(screening)
            if held is not None and held is not held_before:
                flash(
                    _(
                        "Your change is sent to the producer for approval. Until then your "
                        "licence stays valid for the particulars as approved."
                    ),
                    "info",
                )
            elif len(screening.licences) > revisions_before:
                flash(
                    _("Changes saved. A revised licence is issued and e-mailed to you."),
                    "success",
                )
            else:
                flash(_("Changes saved."), "success")
            return redirect(url_for(".manage", token=token))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "organizer/edit.html",
        form=form,
        screening=screening,
        token=token,
        new_terms=booking_service.terms_to_accept(screening),
        held=booking_service.pending_change(screening),
    ), status


@bp.route("/manage/<token>/cancel", methods=["POST"])
@private_page
def cancel(token: str) -> BaseResponse | tuple[str, int]:
    screening = _screening_for(token)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            booking_service.cancel_booking(
                screening,
                actor=_actor(screening),
                reason=form.reason.data or "",
                cause=form.cause.data or "",
            )
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("The screening is cancelled. We've e-mailed you a confirmation."), "success")
        return redirect(url_for(".manage", token=token))
    return _manage_page(screening, token, form, 422)


def _messages_context(screening: Screening, form: GuestMessageForm | None) -> dict:
    """The manage page's "write to your guests" section: the form and what was sent."""
    if not guest_messages.can_message(screening):
        return {"message_form": None, "sent_messages": []}
    if form is None:
        form = GuestMessageForm(formdata=None, counts=guest_messages.group_sizes(screening))
        form.submission_key.data = new_token()
        form.group.data = guest_messages.groups()[0][0]
    return {
        "message_form": form,
        "sent_messages": guest_messages.sent_messages(screening),
        "group_label": guest_messages.group_label,
        "messages_per_day": guest_messages.daily_limit(),
    }


def rate_limit_guest_messages() -> str:
    return current_app.config["RATELIMIT_GUEST_MESSAGES"]


@bp.route("/manage/<token>/messages", methods=["POST"])
@limiter.limit(rate_limit_guest_messages)
@private_page
def message_guests(token: str) -> BaseResponse | tuple[str, int]:
    """Send the organizer's message to one group of guests; refusals stay beside the form."""
    screening = _screening_for(token)
    form = GuestMessageForm(counts=guest_messages.group_sizes(screening))
    if form.validate_on_submit():
        try:
            sent = guest_messages.message_guests(
                screening,
                group=form.group.data,
                subject=form.subject.data,
                body=form.body.data,
                submission_key=form.submission_key.data or "",
                actor=_actor(screening),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            _flash_sent(sent)
            return redirect(url_for(".manage", token=token) + "#messages-heading")
    return _manage_page(screening, token, CancelForm(formdata=None), 422, message_form=form)


def _flash_sent(sent: guest_messages.SentMessage) -> None:
    if not sent.is_new:
        flash(_("This message was already sent; it was not sent again."), "info")
        return
    flash(
        ngettext(
            "Your message is on its way to %(num)s guest.",
            "Your message is on its way to %(num)s guests.",
            sent.recipients,
        ),
        "success",
    )
    if sent.skipped:
        flash(
            ngettext(
                "%(num)s guest of this group was left out: they did not agree to e-mails, "
                "or their address bounces.",
                "%(num)s guests of this group were left out: they did not agree to e-mails, "
                "or their address bounces.",
                sent.skipped,
            ),
            "info",
        )


def _door_context(screening: Screening) -> dict:
    """The door section of the manage page: the door link and the helper links."""
    return {"helper_links": helper_links(screening), "helper_form": HelperForm()}


def _attendee_context(screening: Screening) -> dict:
    """The attendee list, its counts, and which addresses bounced (services/inbound.py)."""
    attendees = rsvp_service.attendees(
        screening,
        statuses=(RsvpStatus.CONFIRMED, RsvpStatus.UNCONFIRMED, RsvpStatus.WAITLISTED),
    )
    return {
        "attendees": attendees,
        "rsvp_counts": rsvp_service.counts(screening),
        "bounces": bounced_addresses([a.email for a in attendees]),
    }


# -- guest approval (templates/organizer/_guest_requests.html) ----------------------------------


def _guest_requests_context(screening: Screening, form: GuestDecisionForm | None) -> dict:
    """The requests waiting for the organizer's decision, for the manage page's own section."""
    requests = rsvp_service.attendees(screening, statuses=(RsvpStatus.REQUESTED,))
    return {
        "guest_requests": requests,
        "guest_decision_form": form or GuestDecisionForm(),
        "host_question": guests.host_question(screening),
    }


@bp.route("/manage/<token>/guests", methods=["POST"])
@private_page
def decide_guests(token: str) -> BaseResponse | tuple[str, int]:
    """Approve, decline or wait-list the ticked requests."""
    screening = _screening_for(token)
    form = GuestDecisionForm()
    if not form.validate_on_submit():
        return _manage_page(screening, token, CancelForm(), 422, decision_form=form)
    decide = {
        "approve": rsvp_service.approve_requests,
        "decline": rsvp_service.decline_requests,
        "waitlist": rsvp_service.waitlist_requests,
    }[form.decision]
    try:
        decision = decide(screening, form.selected.data)
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for(".manage", token=token))
    _flash_decision(form.decision, decision)
    return redirect(url_for(".manage", token=token) + "#guest-requests-heading")


def _flash_decision(kind: str, decision: rsvp_service.Decision) -> None:
    done = len(decision.done)
    if kind == "approve" and done:
        flash(
            ngettext(
                "%(num)d guest approved: they have their seats and their invitation.",
                "%(num)d guests approved: they have their seats and their invitation.",
                done,
            ),
            "success",
        )
    elif kind == "decline" and done:
        flash(
            ngettext(
                "%(num)d request declined; we've e-mailed a polite note.",
                "%(num)d requests declined; we've e-mailed a polite note.",
                done,
            ),
            "success",
        )
    elif kind == "waitlist" and done:
        flash(
            ngettext(
                "%(num)d request moved to the waiting list: seats go to it as they free up.",
                "%(num)d requests moved to the waiting list: seats go to it as they free up.",
                done,
            ),
            "success",
        )
    if decision.full:
        flash(
            _(
                "Not enough seats left for: %(names)s. They are still waiting for your answer; "
                "move them to the waiting list to let them in as seats free up, or raise the "
                "capacity.",
                names=", ".join(f"{row.name} ({row.party_size})" for row in decision.full),
            ),
            "warning",
        )
    elif not done:
        flash(_("Nothing changed: those requests were already decided."), "info")


@bp.route("/manage/<token>/licence.pdf")
@private_page
def licence_pdf(token: str) -> tuple[bytes, int, dict[str, str]]:
    screening = _screening_for(token)
    licence = screening.current_licence
    if licence is None:
        abort(404)
    pdf = licences.licence_pdf(licence)
    return (
        pdf,
        200,
        {
            "Content-Type": "application/pdf",
            "Content-Disposition": f'attachment; filename="licence-{licence.number}.pdf"',
        },
    )


@bp.route("/manage/<token>/poster.pdf")
@private_page
def poster_pdf(token: str) -> tuple[bytes, int, dict[str, str]]:
    """A one-page poster to print: film, date, place as the public may know it, and a QR code
    to the link this screening is shared by (services/sharing.py)."""
    screening = _screening_for(token)
    share = share_of(screening)
    if share is None:
        abort(404)
    return (
        render_poster(screening, share),
        200,
        {
            "Content-Type": "application/pdf",
            "Content-Disposition": f'attachment; filename="poster-{screening.id}.pdf"',
        },
    )


def _csv_cell(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.route("/manage/<token>/attendees.csv")
@private_page
def attendees_csv(token: str) -> tuple[str, int, dict[str, str]]:
    """The attendee list (every reply still open, in reply order) as CSV for the organizer,
    with the answers to the host question."""
    screening = _screening_for(token)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "status",
            "name",
            "email",
            "party_size",
            "replied_at_utc",
            "checked_in",
            "no_show",
            "answer",
        ]
    )
    door_used = door.door_counts(screening)["checked_in"] > 0
    for row in rsvp_service.attendees(screening, statuses=rsvp_service.OPEN_STATUSES):
        no_show = door.no_show(row, door_used=door_used)
        writer.writerow(
            [
                row.status,
                _csv_cell(row.name),
                _csv_cell(row.email),
                row.party_size,
                row.created_at.isoformat(timespec="seconds"),
                row.checked_in_count,
                "" if no_show is None else ("yes" if no_show else "no"),
                _csv_cell(row.answer),
            ]
        )
    return (
        "\ufeff" + out.getvalue(),
        200,
        {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="attendees-{screening.id}.csv"',
        },
    )


# -- after the screening: the organizer's report; the personal download link ----------------------


@bp.route("/manage/<token>/report", methods=["GET", "POST"])
@private_page
def report(token: str) -> BaseResponse | tuple[str, int]:
    """The post-screening report: attendance, feedback, an optional quote for the producer."""
    screening = _screening_for(token)
    if not report_service.can_report(screening):
        flash(_("You can write the report once the screening has taken place."), "info")
        return redirect(url_for(".manage", token=token))
    existing = report_service.report_of(screening)
    form = ReportForm(obj=existing)
    checked_in = door.door_counts(screening)["checked_in"]
    if existing is None and request.method == "GET" and checked_in:
        form.actual_attendance.data = checked_in  # the door's count, to correct if need be
    if form.validate_on_submit():
        try:
            report_service.submit_report(
                screening,
                actual_attendance=form.actual_attendance.data,
                feedback=form.feedback.data or "",
                quote=form.quote.data or "",
                actor=_actor(screening),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Thank you! Your report is saved."), "success")
            return redirect(url_for(".report", token=token))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "organizer/report.html",
        form=form,
        screening=screening,
        token=token,
        report=existing,
        checked_in=checked_in,
    ), status


@bp.route("/downloads/<token>")
@private_page
def download(token: str) -> BaseResponse:
    """A personal, expiring download link: counted, then sent on to the file's location."""
    try:
        target = distribution.open_download(token)
    except DomainError as error:
        abort(410, description=error.message)
    if target is None:
        abort(404)
    return redirect(target, code=303)
