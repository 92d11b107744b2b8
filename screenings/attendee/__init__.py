"""The attendee's side: their RSVP through the private link in their e-mails."""

from flask import Blueprint

bp = Blueprint("attendee", __name__)

from . import views  # noqa: E402,F401  (routes register on import)
