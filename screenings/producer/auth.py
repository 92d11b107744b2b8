"""Producer log in and log out, and the e-mailed links (outside the login-required blueprint).

Failed logins are limited twice: per client address by Flask-Limiter (only failures count),
and per account in the database (services/producers.py locks it and e-mails an unlock link).
A browser that opened the unlock link is remembered in its signed session and may log in to
that account even while someone elsewhere keeps failing.
"""

from __future__ import annotations

import time
from typing import Protocol
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import OperationalError
from werkzeug.wrappers import Response as BaseResponse

from ..extensions import limiter, login_manager
from ..forms import ConfirmForm
from ..models import LinkPurpose, Producer
from ..services import DomainError, producers
from ..views import form_error, private_page, rate_limit_login
from .account_forms import NewPasswordForm, ResetRequestForm, SecondFactorForm
from .forms import LoginForm

auth_bp = Blueprint("auth", __name__, url_prefix="/producer")

# The signed session's list of account ids this browser unlocked with an e-mailed link.
UNLOCKED = "unlocked_accounts"
# The account whose password was right, waiting for its second factor, and until when.
PENDING = "second_factor_for"
PENDING_SECONDS = 300


class _PasswordFromLink(Protocol):
    """A service that sets a password from an e-mailed link (a reset, an invitation)."""

    def __call__(self, token: str, password: str, *, address: str | None) -> Producer: ...


@login_manager.user_loader
def load_producer(session_token: str) -> Producer | None:
    try:
        return producers.load_session(session_token)
    except OperationalError:
        # The database is down: the 503 page that follows renders for an anonymous visitor
        # instead of asking the database for the user again (a bare 500).
        g._login_user = login_manager.anonymous_user()
        raise


def is_safe_next(target: str | None) -> bool:
    """Only a path on this site: no scheme, no host, no protocol-relative or backslash trick."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and "\\" not in target


def _this_browser() -> dict:
    """What the log-in services learn of the client: address, device, accounts it unlocked."""
    return {
        "address": request.remote_addr,
        "user_agent": request.user_agent.string,
        "unlocked_ids": frozenset(session.get(UNLOCKED, ())),
    }


def _failed(response: BaseResponse) -> bool:
    """Only refused attempts count against an address's login limit."""
    return response.status_code != 302


def _unlocked_here() -> bool:
    """This browser opened the unlock link of the account it logs in to: the address limit
    does not apply (behind a proxy, an attacker may share the producer's address)."""
    unlocked = session.get(UNLOCKED) or []
    return bool(unlocked) and producers.account_id(request.form.get("email", "")) in unlocked


@auth_bp.route("/login", methods=["GET", "POST"])
@limiter.limit(rate_limit_login, methods=["POST"], deduct_when=_failed, exempt_when=_unlocked_here)
def login() -> BaseResponse | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for("producer.dashboard"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    elif form.validate_on_submit():
        try:
            producer = producers.log_in(
                form.email.data,
                form.password.data,
                **_this_browser(),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            target = form.next.data if is_safe_next(form.next.data) else None
            if producer.session_token is None:  # the password was right; now the code
                session[PENDING] = [producer.id, int(time.time()) + PENDING_SECONDS, target]
                return redirect(url_for("auth.second_factor"))
            return _logged_in(producer, target)
    status = 422 if request.method == "POST" else 200
    return render_template("producer/login.html", form=form), status


def _logged_in(producer: Producer, target: str | None) -> BaseResponse:
    session.pop(UNLOCKED, None)
    session.pop(PENDING, None)
    login_user(producer)
    flash(_("Welcome back."), "success")
    if producers.must_enrol(producer):
        return redirect(url_for("account.two_factor"))
    return redirect(target or url_for("producer.dashboard"))


@auth_bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(rate_limit_login, methods=["POST"], deduct_when=_failed)
def second_factor() -> BaseResponse | tuple[str, int]:
    pending = session.get(PENDING)
    if not pending or pending[1] < time.time():
        session.pop(PENDING, None)
        return redirect(url_for("auth.login"))
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            producer = producers.verify_second_factor(
                pending[0],
                form.code.data,
                **_this_browser(),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            return _logged_in(producer, pending[2])
    status = 422 if request.method == "POST" else 200
    return render_template("producer/login_code.html", form=form), status


@auth_bp.route("/logout", methods=["POST"])
def logout() -> BaseResponse:
    if current_user.is_authenticated:
        producers.log_out(current_user._get_current_object(), address=request.remote_addr)
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


def _link_or_404(token: str, purpose: LinkPurpose) -> None:
    if producers.find_link(token, purpose) is None:
        abort(404)


@auth_bp.route("/unlock/<token>", methods=["GET", "POST"])
@private_page
def unlock(token: str) -> BaseResponse | str:
    """A page with a button: mail scanners that open links do not use them up."""
    _link_or_404(token, LinkPurpose.UNLOCK)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            producer = producers.unlock(token, address=request.remote_addr)
        except DomainError:
            abort(404)
        session[UNLOCKED] = sorted({*session.get(UNLOCKED, ()), producer.id})
        flash(_("Your account is unlocked in this browser. Log in."), "success")
        return redirect(url_for("auth.login"))
    return render_template("producer/unlock.html", form=form)


@auth_bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(rate_limit_login, methods=["POST"])
def request_reset() -> BaseResponse | tuple[str, int]:
    form = ResetRequestForm()
    if form.validate_on_submit():
        producers.request_password_reset(form.email.data, address=request.remote_addr)
        # The same answer whether or not the address has an account.
        flash(
            _(
                "If %(email)s is a producer account, we have e-mailed it a link to choose a "
                "new password. The link works once, for an hour.",
                email=form.email.data,
            ),
            "info",
        )
        return redirect(url_for("auth.login"))
    status = 422 if request.method == "POST" else 200
    return render_template("producer/reset_request.html", form=form), status


def _set_password_page(
    token: str, purpose: LinkPurpose, service: _PasswordFromLink, done: str, title: str
) -> BaseResponse | tuple[str, int]:
    _link_or_404(token, purpose)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            service(token, form.password.data, address=request.remote_addr)
        except DomainError as error:
            form_error(form, error)
        else:
            flash(done, "success")
            return redirect(url_for("auth.login"))
    status = 422 if request.method == "POST" else 200
    return render_template("producer/set_password.html", form=form, title=title), status


@auth_bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(rate_limit_login, methods=["POST"])
@private_page
def reset_password(token: str) -> BaseResponse | tuple[str, int]:
    return _set_password_page(
        token,
        LinkPurpose.RESET,
        producers.reset_password,
        _("Your password is changed and every device is logged out. Log in."),
        _("Choose a new password"),
    )


@auth_bp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit(rate_limit_login, methods=["POST"])
@private_page
def accept_invite(token: str) -> BaseResponse | tuple[str, int]:
    return _set_password_page(
        token,
        LinkPurpose.INVITE,
        producers.accept_invite,
        _("Your account is ready. Log in."),
        _("Choose your password"),
    )
