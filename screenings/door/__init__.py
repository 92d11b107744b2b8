"""The door: check-in pages for the organizer (manage link) and their helpers (helper links)."""

from flask import Blueprint

bp = Blueprint("door", __name__)

from . import views  # noqa: E402,F401  (routes register on import)
