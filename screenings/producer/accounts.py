"""Producer accounts in the UI: your devices, password and two-factor (every role), the team."""

from __future__ import annotations

from collections.abc import Callable

import segno
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from ..extensions import db
from ..forms import ConfirmForm
from ..models import Producer
from ..services import DomainError, producers
from ..views import form_error, kept_part, macro_of
from . import bp, needs
from .account_forms import (
    ChangePasswordForm,
    DisableTwoFactorForm,
    EnableTwoFactorForm,
    InviteForm,
    RoleForm,
)
from .views.base import producer_helpers

# Self-service: any logged-in producer, whatever the role, manages their own account.
account_bp = Blueprint("account", __name__, url_prefix="/producer/account")
account_bp.context_processor(producer_helpers)


@account_bp.app_context_processor
def role_helpers() -> dict[str, Callable[..., bool | Markup]]:
    """``producer_may('accounts')`` in templates: what the logged-in producer's role allows;
    ``producer_nav(section, pending)``: the navigation it allows."""

    def producer_may(permission: str) -> bool:
        return current_user.is_authenticated and producers.may(current_user, permission)

    def producer_nav(section: str, pending: int) -> Markup:
        """The producer's navigation (producer/_nav.html), kept rendered per section, badge
        and role (views.kept_part): ten links and their words on every producer page."""
        key = (str(section or ""), pending, producer_may("accounts"))
        return kept_part(
            "producer.nav", key, lambda: macro_of("producer/_nav_links.html", "nav")(*key)
        )

    return {"producer_may": producer_may, "producer_nav": producer_nav}


@account_bp.before_request
@login_required
def require_login() -> None:
    return None


def _me() -> Producer:
    return current_user._get_current_object()


def _account_page(
    password_form: ChangePasswordForm | None = None, status: int = 200
) -> tuple[str, int]:
    me = _me()
    return render_template(
        "producer/account.html",
        sessions=producers.active_sessions(me),
        current_session_id=producers.current_session_id(me),
        password_form=password_form or ChangePasswordForm(),
        button=ConfirmForm(),
        role_label=producers.role_label,
    ), status


@account_bp.route("/")
def sessions() -> tuple[str, int]:
    return _account_page()


@account_bp.route("/sessions/<int:session_id>/revoke", methods=["POST"])
def revoke_session(session_id: int) -> BaseResponse:
    if ConfirmForm().validate_on_submit():
        try:
            producers.revoke_session(_me(), session_id, address=request.remote_addr)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("That device is logged out."), "success")
    return redirect(url_for(".sessions"))


@account_bp.route("/sessions/revoke-others", methods=["POST"])
def revoke_other_sessions() -> BaseResponse:
    if ConfirmForm().validate_on_submit():
        count = producers.revoke_other_sessions(_me(), address=request.remote_addr)
        flash(_("%(count)d other devices are logged out.", count=count), "success")
    return redirect(url_for(".sessions"))


@account_bp.route("/password", methods=["POST"])
def change_password() -> BaseResponse | tuple[str, int]:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            producers.change_password(
                _me(),
                form.current_password.data,
                form.password.data,
                address=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Your password is changed; your other devices are logged out."), "success")
            return redirect(url_for(".sessions"))
    return _account_page(form, 422)


# -- two-factor --------------------------------------------------------------------------------
# The secret being enrolled, kept in this browser's signed session until a code confirms it.
PENDING_SECRET = "totp_secret_pending"  # noqa: S105 a session key name, not a secret


def _two_factor_page(
    enable_form: EnableTwoFactorForm | None = None,
    disable_form: DisableTwoFactorForm | None = None,
    codes: list[str] | None = None,
    status: int = 200,
) -> Response:
    me = _me()
    context: dict[str, object] = {"codes": codes, "section": "account"}
    if me.has_two_factor:
        context["codes_left"] = producers.recovery_codes_left(me)
    else:
        secret = session.get(PENDING_SECRET) or producers.new_totp_secret()
        session[PENDING_SECRET] = secret
        uri = producers.totp_uri(me, secret)
        context.update(
            secret=secret,
            qr=segno.make(uri, error="m").png_data_uri(scale=5, border=4),
        )
    response = current_app.make_response(
        (
            render_template(
                "producer/two_factor.html",
                enable_form=enable_form or EnableTwoFactorForm(),
                disable_form=disable_form or DisableTwoFactorForm(),
                **context,
            ),
            status,
        )
    )
    response.headers["Cache-Control"] = "no-store"  # a secret or recovery codes are on it
    return response


@account_bp.route("/two-factor", methods=["GET", "POST"])
def two_factor() -> Response:
    form = EnableTwoFactorForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            codes = producers.enable_two_factor(
                _me(), session.get(PENDING_SECRET, ""), form.code.data, address=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
            return _two_factor_page(enable_form=form, status=422)
        session.pop(PENDING_SECRET, None)
        flash(_("Two-factor log-in is on."), "success")
        return _two_factor_page(codes=codes)
    return _two_factor_page(enable_form=form, status=422 if request.method == "POST" else 200)


@account_bp.route("/two-factor/disable", methods=["POST"])
def disable_two_factor() -> BaseResponse:
    form = DisableTwoFactorForm()
    if form.validate_on_submit():
        try:
            producers.disable_two_factor(
                _me(), form.current_password.data, address=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Two-factor log-in is off."), "info")
            return redirect(url_for(".two_factor"))
    return _two_factor_page(disable_form=form, status=422)


# -- the team: owners only ----------------------------------------------------------------------


def _team_page(invite_form: InviteForm | None = None, status: int = 200) -> tuple[str, int]:
    members = producers.team()
    return render_template(
        "producer/team.html",
        members=members,
        role_forms={m.id: RoleForm(prefix=f"m{m.id}", role=m.role) for m in members},
        invite_form=invite_form or InviteForm(),
        button=ConfirmForm(),
        role_label=producers.role_label,
        section="team",
    ), status


def _member(producer_id: int) -> Producer:
    return db.get_or_404(Producer, producer_id)


@bp.route("/team")
@needs("accounts", to_read=True)
def team() -> tuple[str, int]:
    return _team_page()


@bp.route("/team/invite", methods=["POST"])
@needs("accounts")
def invite() -> BaseResponse | tuple[str, int]:
    form = InviteForm()
    if form.validate_on_submit():
        try:
            member = producers.invite_producer(
                _me(), form.email.data, form.role.data, address=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("We have e-mailed an invitation to %(email)s.", email=member.email), "success")
            return redirect(url_for(".team"))
    return _team_page(form, 422)


@bp.route("/team/<int:producer_id>/role", methods=["POST"])
@needs("accounts")
def change_role(producer_id: int) -> BaseResponse:
    member = _member(producer_id)
    form = RoleForm(prefix=f"m{member.id}")
    if form.validate_on_submit():
        try:
            producers.change_role(_me(), member, form.role.data, address=request.remote_addr)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("The role of %(email)s is saved.", email=member.email), "success")
    else:
        flash(_("Choose a role from the list."), "error")
    return redirect(url_for(".team"))


def _set_disabled(producer_id: int, disabled: bool, done: str) -> BaseResponse:
    member = _member(producer_id)
    if ConfirmForm().validate_on_submit():
        try:
            producers.set_disabled(_me(), member, disabled, address=request.remote_addr)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(done % {"email": member.email}, "success")
    return redirect(url_for(".team"))


@bp.route("/team/<int:producer_id>/disable", methods=["POST"])
@needs("accounts")
def disable(producer_id: int) -> BaseResponse:
    return _set_disabled(producer_id, True, _("%(email)s is disabled and logged out everywhere."))


@bp.route("/team/<int:producer_id>/enable", methods=["POST"])
@needs("accounts")
def enable(producer_id: int) -> BaseResponse:
    return _set_disabled(producer_id, False, _("%(email)s may log in again."))


@bp.route("/team/log")
@needs("accounts", to_read=True)
def audit_log() -> str:
    return render_template("producer/audit_log.html", events=producers.audit_log(), section="team")
