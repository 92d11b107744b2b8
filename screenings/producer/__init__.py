"""The producer's side: login, the dashboard and approvals. Every page requires login.

Roles are enforced here, for every route of the blueprint: a page (GET) needs "read", a
change (any other method) needs "manage" unless its view says otherwise with ``@needs``.
What each role grants is services/producers.py's PERMISSIONS.
"""

from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from ..services.producers import may, must_enrol

bp = Blueprint("producer", __name__, url_prefix="/producer")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

View = TypeVar("View", bound=Callable[..., object])


def needs(permission: str, *, to_read: bool = False) -> Callable[[View], View]:
    """Declare what a route's changes need (and, with ``to_read``, its pages too)."""

    def decorator(view: View) -> View:
        # view.needs_permission = …, which required_permission reads; written through vars()
        # because mypy knows no attributes of a function (functools.wraps copies it on)
        vars(view)["needs_permission"] = (permission, to_read)
        return view

    return decorator


def required_permission(view: Callable[..., object], method: str) -> str:
    """What this view needs for this method: the blueprint's one rule of roles."""
    permission, to_read = getattr(view, "needs_permission", ("manage", False))
    if method in READ_METHODS and not to_read:
        return "read"
    return permission


@bp.before_request
@login_required
def require_login() -> BaseResponse | None:
    """Every producer page needs a logged-in producer whose role allows it."""
    if must_enrol(current_user):
        flash(_("Owners must turn on two-factor log-in before using the producer pages."), "info")
        return redirect(url_for("account.two_factor"))
    view = current_app.view_functions.get(request.endpoint or "")  # None: nothing matched
    if view is not None and not may(current_user, required_permission(view, request.method)):
        abort(403)
    return None


from . import accounts, views  # noqa: E402,F401  (routes register on import)
