"""Check-in at the door: the page, its JSON calls, and the organizer's helper links.

The same page and calls answer under two capability links: the organizer's manage link
(``/manage/<token>/door``) and a helper link (``/door/<token>``), which opens this and nothing
else. The page sends JSON with the CSRF token in a header; a miss is a 404 either way.
"""

from __future__ import annotations

import time

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_limiter import RequestLimit
from werkzeug.wrappers import Response as BaseResponse

from ..extensions import limiter
from ..forms import ConfirmForm
from ..models import Screening
from ..services import DomainError, door
from ..services import bookings as booking_service
from ..urls import external_url
from ..views import private_page
from . import bp
from .forms import HelperForm


def _organizer_door(token: str) -> door.DoorSession:
    screening = booking_service.find_by_manage_token(token)
    if screening is None:
        abort(404)
    return door.DoorSession(screening, actor=_("the organizer"))


def _helper_door(token: str) -> door.DoorSession:
    helper = door.find_helper(token)
    if helper is None:
        abort(404)
    return door.DoorSession(helper.screening, actor=helper.label, helper=helper)


def _page(session: door.DoorSession, api_url: str) -> str:
    return render_template(
        "organizer/door.html",
        screening=session.screening,
        helper=session.helper,
        api_url=api_url,
        counts=door.door_counts(session.screening),
    )


@bp.route("/manage/<token>/door")
@private_page
def organizer_page(token: str) -> str:
    """The door page for the organizer."""
    return _page(_organizer_door(token), url_for(".organizer_api", token=token))


@bp.route("/door/<token>")
@private_page
def helper_page(token: str) -> str:
    """The door page through a helper link (check-in only)."""
    return _page(_helper_door(token), url_for(".helper_api", token=token))


def _answer(session: door.DoorSession) -> Response | tuple[Response, int]:
    """One JSON call of the door page: look a code up, search names, check in, undo."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify(ok=False, message=_("The request could not be read.")), 400
    action = data.get("action")
    payload: dict = {}
    try:
        if action == "search":
            guests = door.search(session, str(data.get("q") or ""))
            payload["guests"] = [door.guest_json(g) for g in guests]
        elif action in ("lookup", "check_in", "undo"):
            if data.get("code"):
                guest = door.find_ticket(session, str(data["code"]))
            else:
                guest = door.guest_at_door(session, _int(data.get("id")))
            if action == "check_in":
                guest = door.check_in(session, guest, members=_int(data.get("members"), 1))
                payload["message"] = _(
                    "%(name)s: %(n)s of %(party)s in.",
                    name=guest.name,
                    n=guest.checked_in_count,
                    party=guest.party_size,
                )
            elif action == "undo":
                guest = door.undo_check_in(session, guest)
                payload["message"] = _(
                    "Undone: %(name)s has %(n)s of %(party)s in.",
                    name=guest.name,
                    n=guest.checked_in_count,
                    party=guest.party_size,
                )
            payload["guest"] = door.guest_json(guest)
        else:
            return jsonify(ok=False, message=_("Unknown action.")), 400
    except DomainError as error:
        guest_data = None
        if isinstance(error, door.DoorError) and action != "lookup" and data.get("code"):
            guest_data = _guest_or_none(session, str(data["code"]))
        return jsonify(
            ok=False,
            message=error.message,
            guest=guest_data,
            counts=door.door_counts(session.screening),
        ), 409
    return jsonify(ok=True, counts=door.door_counts(session.screening), **payload)


def _guest_or_none(session: door.DoorSession, code: str) -> dict | None:
    try:
        return door.guest_json(door.find_ticket(session, code))
    except DomainError:
        return None


def _int(value: object, default: int = 0) -> int:
    """A JSON value as a whole number; ``default`` for none, a list or an object."""
    if not isinstance(value, str | int | float):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _rate_limit_door() -> str:
    return current_app.config["RATELIMIT_DOOR"]


def _too_many(limit: RequestLimit) -> Response:
    """The door page's answer past the limit: JSON it shows in words, and when to try again."""
    response = jsonify(
        ok=False,
        limited=True,
        message=_("Too many requests from this connection. Wait a minute, then try again."),
    )
    response.status_code = 429
    response.headers["Cache-Control"] = "no-store"  # as private_page, which it never reaches
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Retry-After"] = str(max(int(limit.reset_at - time.time()), 1))
    return response


# Both door links share one budget per client address (security.client_address).
door_limit = limiter.shared_limit(_rate_limit_door, scope="door-api", on_breach=_too_many)


@bp.route("/manage/<token>/door/api", methods=["POST"])
@door_limit
@private_page
def organizer_api(token: str) -> Response | tuple[Response, int]:
    return _answer(_organizer_door(token))


@bp.route("/door/<token>/api", methods=["POST"])
@door_limit
@private_page
def helper_api(token: str) -> Response | tuple[Response, int]:
    return _answer(_helper_door(token))


# -- the organizer's helper links (manage page) ---------------------------------------------------


@bp.route("/manage/<token>/helpers", methods=["POST"])
@private_page
def create_helper(token: str) -> BaseResponse:
    """A new check-in-only link for a volunteer, shown on the manage page."""
    session = _organizer_door(token)
    form = HelperForm()
    if form.validate_on_submit():
        try:
            door.create_helper(session.screening, form.label.data)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("The helper link is ready: send it to your volunteer."), "success")
    else:
        for errors in form.errors.values():
            for message in errors:
                flash(message, "error")
    return redirect(url_for("organizer.manage", token=token) + "#door-heading")


@bp.route("/manage/<token>/helpers/<int:helper_id>/revoke", methods=["POST"])
@private_page
def revoke_helper(token: str, helper_id: int) -> BaseResponse:
    """Revoke a helper link: it opens nothing from now on."""
    session = _organizer_door(token)
    if ConfirmForm().validate_on_submit():
        try:
            door.revoke_helper(session.screening, helper_id)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("The helper link is revoked."), "success")
    return redirect(url_for("organizer.manage", token=token) + "#door-heading")


def helper_links(screening: Screening) -> list[dict[str, object]]:
    """The manage page's list of helper links (with their URLs while active)."""
    return [
        {
            "helper": helper,
            "url": external_url("door.helper_page", token=door.helper_token(helper))
            if helper.is_active
            else None,
        }
        for helper in door.helpers_of(screening)
    ]
