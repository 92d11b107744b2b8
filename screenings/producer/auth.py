"""Producer log in and log out, and the e-mailed links (outside the login-required blueprint).

Failed logins are limited twice: per client address by Flask-Limiter (only failures count),
and per account in the database (services/producers.py locks it and e-mails an unlock link).
A browser that opened the unlock link is remembered in its signed session and may log in to
that account even while someone elsewhere keeps failing.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ..extensions import limiter, login_manager
from ..models import LinkPurpose
from ..services import DomainError, producers
from ..views import form_error, private_page, rate_limit_login
from .account_forms import EmptyForm, NewPasswordForm, ResetRequestForm
from .forms import LoginForm

auth_bp = Blueprint("auth", __name__, url_prefix="/producer")

# The signed session's list of account ids this browser unlocked with an e-mailed link.
UNLOCKED = "unlocked_accounts"


@login_manager.user_loader
def load_producer(session_token: str):
    return producers.load_session(session_token)


def is_safe_next(target: str | None) -> bool:
    """Only a path on this site: no scheme, no host, no protocol-relative or backslash trick."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and "\\" not in target


def _failed(response) -> bool:
    """Only refused attempts count against an address's login limit."""
    return response.status_code != 302


@auth_bp.route("/login", methods=["GET", "POST"])
@limiter.limit(rate_limit_login, methods=["POST"], deduct_when=_failed)
def login():
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
                address=request.remote_addr,
                user_agent=request.user_agent.string,
                unlocked_ids=frozenset(session.get(UNLOCKED, ())),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            session.pop(UNLOCKED, None)
            login_user(producer)
            flash(_("Welcome back."), "success")
            target = form.next.data if is_safe_next(form.next.data) else None
            return redirect(target or url_for("producer.dashboard"))
    status = 422 if request.method == "POST" else 200
    return render_template("producer/login.html", form=form), status


@auth_bp.route("/logout", methods=["POST"])
def logout():
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
def unlock(token: str):
    """A page with a button: mail scanners that open links do not use them up."""
    _link_or_404(token, LinkPurpose.UNLOCK)
    form = EmptyForm()
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
def request_reset():
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


def _set_password_page(token: str, purpose: LinkPurpose, service, done: str, title: str):
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
def reset_password(token: str):
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
def accept_invite(token: str):
    return _set_password_page(
        token,
        LinkPurpose.INVITE,
        producers.accept_invite,
        _("Your account is ready. Log in."),
        _("Choose your password"),
    )
