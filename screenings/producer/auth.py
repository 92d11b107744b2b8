"""Producer log in and log out (outside the login-required blueprint)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ..extensions import limiter, login_manager
from ..services import producers
from ..views import rate_limit_login
from .forms import LoginForm

auth_bp = Blueprint("auth", __name__, url_prefix="/producer")


@login_manager.user_loader
def load_producer(session_nonce: str):
    return producers.load_by_session_nonce(session_nonce)


def is_safe_next(target: str | None) -> bool:
    """Only a path on this site: no scheme, no host, no protocol-relative or backslash trick."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and "\\" not in target


@auth_bp.route("/login", methods=["GET", "POST"])
@limiter.limit(rate_limit_login, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("producer.dashboard"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    elif form.validate_on_submit():
        producer = producers.authenticate(form.email.data, form.password.data)
        if producer is not None:
            login_user(producer)
            flash(_("Welcome back."), "success")
            target = form.next.data if is_safe_next(form.next.data) else None
            return redirect(target or url_for("producer.dashboard"))
        form.password.errors = [_("That e-mail and password do not match an account.")]
    status = 422 if request.method == "POST" else 200
    return render_template("producer/login.html", form=form), status


@auth_bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        producers.log_out(current_user._get_current_object())
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))
