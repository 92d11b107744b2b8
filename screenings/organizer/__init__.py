"""The organizer's side: the booking form and the private manage link."""

from flask import Blueprint

bp = Blueprint("organizer", __name__)

from . import views  # noqa: E402,F401  (routes register on import)
