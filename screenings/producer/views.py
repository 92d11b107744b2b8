"""The producer's pages: upcoming screenings, approvals, distribution, reach, films, outbox."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from .. import worldmap
from ..caching import cached_page
from ..extensions import db
from ..models import (
    ChangeRequest,
    Film,
    Screening,
    ScreeningFormat,
    ScreeningMaterial,
    utcnow,
)
from ..organizer.forms import EditBookingForm
from ..places import country_name
from ..services import (
    DomainError,
    alerts,
    bounces,
    clashes,
    distribution,
    door,
    exports,
    films,
    maps,
    observances,
    privacy,
    producers,
    reports,
    rules,
)
from ..services import bookings as booking_service
from ..services import dashboard as board
from ..urls import external_url
from ..views import form_error
from . import bp, needs
from .charts import bar_list_chart, column_chart
from .forms import (
    AddressForm,
    ApproveForm,
    BulkDecisionForm,
    ChangeDecisionForm,
    EraseAttendeeForm,
    EraseOrganizerForm,
    EraseSubscriberForm,
    FilmForm,
    FormatForm,
    MaterialForm,
    OrganizerDataForm,
    ProducerCancelForm,
    ReissueLinkForm,
    RejectForm,
    RemoveForm,
    RetryForm,
    ReturnForm,
    RevokeForm,
    ScreeningFilterForm,
    SettingsForm,
    ShipForm,
    SubscriberDataForm,
    TrustForm,
)


def _actor() -> str:
    return f"producer:{current_user.email}"


@bp.context_processor
def producer_helpers():
    """Template helpers: the producer's own time, and links that keep the current query."""
    zone = ZoneInfo(getattr(current_user, "timezone", None) or "UTC")

    def producer_time(screening: Screening) -> str:
        local = screening.starts_at.replace(tzinfo=UTC).astimezone(zone)
        return f"{local:%a %Y-%m-%d %H:%M} ({zone.key})"

    def query_with(**changes) -> str:
        args = request.args.to_dict()
        args.update({k: v for k, v in changes.items() if v is not None})
        for key in [k for k, v in changes.items() if v is None]:
            args.pop(key, None)
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    return {
        "producer_time": producer_time,
        "producer_zone": zone.key,
        "query_with": query_with,
        "pending_total": board.pending_count,
    }


# ---------------------------------------------------------------- upcoming
def _filters() -> tuple[ScreeningFilterForm, board.ScreeningFilter, dict]:
    """The filter form from the query string; invalid entries fall back to the defaults."""
    form = ScreeningFilterForm(formdata=request.args if request.args else None)
    options = board.filter_choices()
    form.set_choices(options["films"], options["countries"], country_name)
    form.validate()
    default = board.ScreeningFilter.upcoming()
    given = "date_from" in request.args or "date_to" in request.args
    filters = board.ScreeningFilter(
        film_id=form.film.data if not form.film.errors else None,
        country=(form.country.data or "") if not form.country.errors else "",
        status=form.status.data if not form.status.errors else "active",
        date_from=form.date_from.data if given else default.date_from,
        date_to=form.date_to.data if given else default.date_to,
        q=(form.q.data or "") if not form.q.errors else "",
        sort=form.sort.data if not form.sort.errors else "starts_at",
        descending=bool(form.desc.data),
        page=form.page.data if (form.page.data and not form.page.errors) else 1,
    )
    if not given:
        form.date_from.data, form.date_to.data = filters.date_from, filters.date_to
    return form, filters, options


def _dashboard_version() -> tuple:
    # Times are shown in the producer's zone; the navigation follows the producer's role.
    return (*board.version(), current_user.timezone, current_user.role)


@bp.route("/")
@cached_page(_dashboard_version, per_user=True)
def dashboard():
    """Upcoming screenings (next 90 days by default), filtered, sorted and paged."""
    form, filters, _options = _filters()
    page = board.screening_page(filters)
    return render_template(
        "producer/dashboard.html",
        form=form,
        page=page,
        filters=filters,
        cancel_causes=alerts.cancellation_causes(),
    )


@bp.route("/screenings.csv")
def export_screenings():
    form, filters, _options = _filters()
    try:
        exports.check_parameters(form, filters)  # before the first byte is sent
    except DomainError as error:
        abort(400, description=error.message)
    return _csv(exports.screenings_csv(filters), "screenings")


def _csv(lines, name: str) -> Response:
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


# ---------------------------------------------------------------- approvals
@bp.route("/approvals", methods=["GET", "POST"])
@needs("decide")
def approvals():
    form = BulkDecisionForm()
    row_errors: dict[int, str] = {}
    status = 200
    if form.validate_on_submit():
        approving = form.action.data == "approve"
        ids = board.pending_ids() if form.every_pending.data else form.screening_ids.data
        try:
            outcome = board.decide(
                ids, approve=approving, reason=form.reason.data or "", actor=_actor()
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
):
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
def approve_and_trust(screening_id: int):
    """Approve a booking and trust its organizer's later compliant bookings (a standing
    policy, so owners only, like the film's rules)."""
    screening = _screening(screening_id)
    form = TrustForm()
    if form.validate_on_submit():
        try:
            host = rules.approve_and_trust(
                screening, whole_domain=bool(form.whole_domain.data), actor=_actor()
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
def trust_revoke(host_id: int):
    """Stop trusting a host: their next bookings are reviewed again."""
    if ApproveForm().validate_on_submit():
        rules.revoke_trust(host_id)
        flash(_("No longer trusted: their next bookings wait for your approval."), "success")
    return redirect(url_for(".approvals"))


def _screening(screening_id: int) -> Screening:
    screening = db.session.get(Screening, screening_id)
    if screening is None:
        abort(404)
    return screening


def _back(default: str = ".approvals"):
    target = request.form.get("back", "")
    if target == "screening":
        return redirect(url_for(".screening", screening_id=request.view_args["screening_id"]))
    return redirect(url_for(default))


def _screening_page(screening_id: int, status: int = 200, **forms):
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
def screening(screening_id: int):
    return _screening_page(screening_id)


@bp.route("/screenings/<int:screening_id>/cancel", methods=["POST"])
def cancel(screening_id: int):
    """The producer cancels: organizer and guests are e-mailed (guests with a CANCEL)."""
    screening = _screening(screening_id)
    form = ProducerCancelForm()
    if form.validate_on_submit():
        try:
            booking_service.cancel_booking(
                screening, actor=_actor(), reason=form.reason.data, by_producer=True
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Cancelled. The organizer and the guests are told."), "success")
            return redirect(url_for(".screening", screening_id=screening_id))
    return _screening_page(screening_id, 422, cancel_form=form)


@bp.route("/screenings/<int:screening_id>/revoke", methods=["POST"])
def revoke(screening_id: int):
    """The producer revokes the licence: the verification page says revoked."""
    screening = _screening(screening_id)
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            booking_service.revoke_licence(screening, reason=form.reason.data, actor=_actor())
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Licence revoked. The organizer and the guests are told."), "success")
            return redirect(url_for(".screening", screening_id=screening_id))
    return _screening_page(screening_id, 422, revoke_form=form)


@bp.route("/screenings/<int:screening_id>/edit", methods=["GET", "POST"])
def edit_screening(screening_id: int):
    """The producer corrects particulars: a new revision where the licence changes."""
    screening = _screening(screening_id)
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
                screening, form.to_details(), actor=_actor(), by_producer=True
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Saved. The organizer is told of the change."), "success")
            return redirect(url_for(".screening", screening_id=screening_id))
    status = 422 if request.method == "POST" else 200
    return render_template("producer/edit.html", form=form, screening=screening), status


def _change(change_id: int) -> ChangeRequest:
    change = db.session.get(ChangeRequest, change_id)
    if change is None:
        abort(404)
    return change


@bp.route("/changes/<int:change_id>", methods=["POST"])
@needs("decide")
def decide_change(change_id: int):
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
                    booking_service.approve_change(change, actor=_actor())
                else:
                    booking_service.reject_change(change, reason=form.reason.data, actor=_actor())
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
    return _screening_page(change.screening_id, 422, change_form=form)


@bp.route("/screenings/<int:screening_id>/approve", methods=["POST"])
@needs("decide")
def approve(screening_id: int):
    screening = _screening(screening_id)
    if ApproveForm().validate_on_submit():
        try:
            booking_service.approve_booking(screening, actor=_actor())
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
                    number=screening.current_licence.number,
                ),
                "success",
            )
    return _back()


@bp.route("/screenings/<int:screening_id>/reject", methods=["POST"])
@needs("decide")
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
        return _back()
    if request.form.get("back") == "screening":
        return _screening_page(screening_id, 422, reject_form=form)
    # From the queue: the queue again, the message beside this booking's reason.
    return _approvals_page(
        BulkDecisionForm(formdata=None), reject_form=form, reject_for=screening_id, status=422
    )


# ---------------------------------------------------------------- distribution
@bp.route("/distribution")
def distribution_page():
    view = request.args.get("view", "to_ship")
    if view not in distribution.QUEUE_VIEWS:
        view = "to_ship"
    return render_template(
        "producer/distribution.html",
        shipments=distribution.fulfilment_queue(view),
        view=view,
        views=distribution.QUEUE_VIEWS,
        ship_form=ShipForm(),
        return_form=ReturnForm(),
        today=utcnow().date(),
    )


def _shipment_action(action):
    try:
        shipment = action()
    except DomainError as error:
        flash(error.message, "error")
        return None
    return shipment


@bp.route("/shipments/<int:shipment_id>/shipped", methods=["POST"])
def mark_shipped(shipment_id: int):
    form = ShipForm()
    if not form.validate_on_submit():
        flash(_("Enter the tracking number."), "error")
    elif _shipment_action(
        lambda: distribution.mark_shipped(
            shipment_id, tracking_number=form.tracking_number.data, actor=_actor()
        )
    ):
        flash(_("Marked shipped."), "success")
    return redirect(url_for(".distribution_page", view=request.args.get("view", "to_ship")))


@bp.route("/shipments/<int:shipment_id>/returned", methods=["POST"])
def mark_returned(shipment_id: int):
    if ReturnForm().validate_on_submit() and _shipment_action(
        lambda: distribution.mark_returned(shipment_id, actor=_actor())
    ):
        flash(_("Marked returned."), "success")
    return redirect(url_for(".distribution_page", view=request.args.get("view", "shipped")))


@bp.route("/shipments/<int:shipment_id>/address", methods=["POST"])
def shipping_address(shipment_id: int):
    form = AddressForm()
    if not form.validate_on_submit():
        flash(_("Enter the address."), "error")
    elif _shipment_action(
        lambda: distribution.set_shipping_address(
            shipment_id, address=form.address.data, actor=_actor()
        )
    ):
        flash(_("Address saved."), "success")
    return redirect(url_for(".distribution_page"))


# ---------------------------------------------------------------- reach
def reach_charts(stats: reports.Reach) -> dict:
    months = [key for key, _n in stats.per_month]
    return {
        "per_month": column_chart(
            _("Licensed screenings per month"),
            months,
            [(_("Screenings"), "series-a", [n for _k, n in stats.per_month])],
        ),
        "audience": column_chart(
            _("Expected and actual audience (reported screenings)"),
            [key for key, _e, _a in stats.audience],
            [
                (_("Expected"), "series-b", [e for _k, e, _a in stats.audience]),
                (_("Actual"), "series-a", [a for _k, _e, a in stats.audience]),
            ],
        ),
        "countries": bar_list_chart(
            _("Screenings by country"),
            [(country_name(c), n) for c, n, _cities in stats.countries[:15]],
        ),
        "organization_types": bar_list_chart(
            _("Screenings by type of organization"),
            [(t.replace("_", " ").capitalize(), n) for t, n in stats.organization_types],
            css="series-b",
        ),
    }


def _past_in_city(city: maps.CityCount) -> str:
    """The dashboard listing a city's licensed screenings up to today, latest first."""
    return url_for(
        ".dashboard",
        q=city.city,
        country=city.country,
        status="approved",
        date_from="",
        date_to=utcnow().date().isoformat(),
        desc="y",
    )


@bp.route("/reach")
def reach():
    stats = reports.reach()
    cities = maps.past_by_city()
    recent = reports.recent_reports()
    return render_template(
        "producer/reach.html",
        stats=stats,
        charts=reach_charts(stats),
        recent=recent,
        door_counts=door.checked_in_by_screening([r.screening_id for r in recent]),
        drawing=worldmap.draw(cities, maps.by_country(cities), _past_in_city),
        shapes=worldmap.countries(),
        size=(worldmap.WIDTH, worldmap.HEIGHT),
        map_rows=[(city, _past_in_city(city)) for city in cities],
    )


@bp.route("/reports.csv")
def export_reports():
    return _csv(exports.reports_csv(), "reports")


# ---------------------------------------------------------------- films
@bp.route("/films")
def films_page():
    catalogue = films.all_films()
    return render_template(
        "producer/films.html", films=catalogue, unserved=films.films_without_format(catalogue)
    )


@bp.route("/films/new", methods=["GET", "POST"])
def film_new():
    form = FilmForm()
    if form.validate_on_submit():
        try:
            film = films.create_film(form.values(), form.terms.data, form.terms_translations())
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Film added."), "success")
            return redirect(url_for(".film_edit", film_id=film.id))
    status = 422 if request.method == "POST" else 200
    return render_template("producer/film_form.html", form=form, film=None), status


def _film(film_id: int) -> Film:
    film = db.session.get(Film, film_id)
    if film is None:
        abort(404)
    return film


def _film_page(film: Film, form: FilmForm, **forms):
    return render_template(
        "producer/film_form.html",
        form=form,
        film=film,
        film_rules=rules.describe(film),
        formats=list(
            db.session.scalars(
                db.select(ScreeningFormat)
                .where(ScreeningFormat.film_id == film.id)
                .order_by(ScreeningFormat.id)
            )
        ),
        materials=distribution.materials_for(film.id),
        format_form=forms.get("format_form") or FormatForm(formdata=None),
        material_form=forms.get("material_form") or MaterialForm(formdata=None),
        remove_form=RemoveForm(),
    )


@bp.route("/films/<int:film_id>", methods=["GET", "POST"])
def film_edit(film_id: int):
    film = _film(film_id)
    form = FilmForm(obj=film)
    if request.method == "GET":
        form.fill_terms(film.current_terms)
        form.fill_film_texts(film)
        form.fill_rules(film)
    elif form.validate_on_submit():
        before = film.current_terms.version if film.current_terms else 0
        try:
            terms = films.update_film(
                film, form.values(), form.terms.data, form.terms_translations()
            )
        except DomainError as error:
            form_error(form, error)
        else:
            if terms.version != before:
                flash(
                    _(
                        "Saved. The terms are now version %(v)s; licences already issued keep "
                        "theirs.",
                        v=terms.version,
                    ),
                    "success",
                )
            else:
                flash(_("Saved."), "success")
            return redirect(url_for(".film_edit", film_id=film.id))
    status = 422 if request.method == "POST" else 200
    return _film_page(film, form), status


@bp.route("/films/<int:film_id>/formats", methods=["POST"])
def format_add(film_id: int):
    film = _film(film_id)
    form = FormatForm()
    if form.validate_on_submit():
        try:
            distribution.add_format(
                film,
                name=form.name.data,
                kind=form.kind.data,
                download_url=form.download_url.data or "",
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Format added."), "success")
            return redirect(url_for(".film_edit", film_id=film.id))
    return _film_page(film, FilmForm(obj=film, formdata=None), format_form=form), 422


@bp.route("/formats/<int:format_id>", methods=["POST"])
def format_edit(format_id: int):
    fmt = db.session.get(ScreeningFormat, format_id)
    if fmt is None:
        abort(404)
    form = FormatForm()
    if form.validate_on_submit():
        try:
            distribution.update_format(
                fmt,
                name=form.name.data,
                kind=form.kind.data,
                download_url=form.download_url.data or "",
                is_active=bool(form.is_active.data),
            )
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("Format saved."), "success")
    else:
        flash(_("Check the format's fields: %(errors)s", errors=form.errors), "error")
    return redirect(url_for(".film_edit", film_id=fmt.film_id))


@bp.route("/films/<int:film_id>/materials", methods=["POST"])
def material_add(film_id: int):
    film = _film(film_id)
    form = MaterialForm()
    if form.validate_on_submit():
        try:
            distribution.add_material(
                film, kind=form.kind.data, label=form.label.data, url=form.url.data
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Material added; it goes into every licence e-mail."), "success")
            return redirect(url_for(".film_edit", film_id=film.id))
    return _film_page(film, FilmForm(obj=film, formdata=None), material_form=form), 422


@bp.route("/materials/<int:material_id>/delete", methods=["POST"])
def material_delete(material_id: int):
    material = db.session.get(ScreeningMaterial, material_id)
    if material is None:
        abort(404)
    film_id = material.film_id
    if RemoveForm().validate_on_submit():
        distribution.remove_material(material)
        flash(_("Material removed."), "success")
    return redirect(url_for(".film_edit", film_id=film_id))


# ---------------------------------------------------------------- outbox and settings
@bp.route("/outbox")
def outbox():
    view = request.args.get("view", "problems")
    if view not in board.OUTBOX_VIEWS:
        view = "problems"
    page_number = request.args.get("page", 1, type=int) or 1
    return render_template(
        "producer/outbox.html",
        page=board.outbox_page(view, page_number),
        counts=board.outbox_counts(),
        view=view,
        views=board.OUTBOX_VIEWS,
        retry_form=RetryForm(),
        suppressed=bounces.suppressed_addresses(),
    )


@bp.route("/outbox/suppressed/<int:suppression_id>/lift", methods=["POST"])
def lift_suppression(suppression_id: int):
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
def outbox_retry(message_id: int):
    if RetryForm().validate_on_submit():
        try:
            board.retry(message_id)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("The message is queued again."), "success")
    return redirect(url_for(".outbox", view=request.args.get("view", "problems")))


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    form = SettingsForm()
    if request.method == "GET":
        form.timezone.data = current_user.timezone
        form.alert_mode.data = current_user.alert_mode
    elif form.validate_on_submit():
        try:
            producers.set_timezone(current_user._get_current_object(), form.timezone.data)
            alerts.set_alert_mode(current_user._get_current_object(), form.alert_mode.data)
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Settings saved."), "success")
            return redirect(url_for(".settings"))
    status = 422 if request.method == "POST" else 200
    return render_template("producer/settings.html", form=form, **_sharing()), status


def _sharing() -> dict:
    """The embed snippet for the film's website and the private feed's address, if set."""
    secret = current_app.config.get("PRODUCER_FEED_TOKEN") or ""
    feed_url = external_url("public.feed_producer", token=secret) if len(secret) >= 16 else None
    embed_url = external_url("public.embed")
    snippet = (
        f'<iframe src="{embed_url}" title="Screenings near you" width="100%" height="640" '
        'loading="lazy" style="border:0"></iframe>'
    )
    return {"feed_url": feed_url, "embed_snippet": snippet}


@bp.route("/screenings/<int:screening_id>/manage-link", methods=["POST"])
def reissue_manage_link(screening_id: int):
    """Revoke the organizer's manage links (e.g. one was forwarded) and send a new one."""
    screening = _screening(screening_id)
    if ReissueLinkForm().validate_on_submit():
        booking_service.reissue_manage_link(screening, actor=_actor())
        flash(
            _("The old manage links no longer work; a new one is e-mailed to the organizer."),
            "success",
        )
    return redirect(url_for(".screening", screening_id=screening_id))


def _json_download(data: dict, filename: str):
    """A subject-access export: JSON to save, never stored by a cache."""
    response = jsonify(data)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/privacy", methods=["GET", "POST"])
def privacy_page():
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
            count = privacy.erase_organizer_data(erase_form.email.data, actor=_actor())
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
            count = privacy.erase_attendee_everywhere(attendee_form.email.data, actor=_actor())
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
