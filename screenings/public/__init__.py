"""The public side: the home page, licence verification, and (later) listings and RSVPs."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from . import views  # noqa: E402,F401  (routes register on import)
