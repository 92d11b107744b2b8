"""The producer's side: login, the dashboard and approvals. Every page requires login."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("producer", __name__, url_prefix="/producer")


@bp.before_request
@login_required
def require_login():
    """Every producer page needs a logged-in producer; login itself is on the auth routes."""
    return None


from . import views  # noqa: E402,F401  (routes register on import)
