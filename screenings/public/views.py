"""Pages anyone may open."""

from __future__ import annotations

import re

from flask import abort, render_template

from ..licence_pdf import qr_svg
from ..services.films import active_films
from ..services.licences import find_licence
from ..urls import external_url
from . import bp

LICENCE_NUMBER = re.compile(r"^[A-Z0-9]{1,8}-\d{4}-\d{5,}$")


@bp.route("/")
def home():
    return render_template("public/home.html", films=active_films())


@bp.route("/licences/<number>")
def licence(number: str):
    """Public verification: is this licence valid? No personal contact data is shown."""
    if not LICENCE_NUMBER.match(number):
        abort(404)
    licence = find_licence(number)
    if licence is None:
        abort(404)
    verify_url = external_url("public.licence", number=licence.number)
    return render_template(
        "public/licence.html", licence=licence, qr=qr_svg(verify_url), verify_url=verify_url
    )


@bp.route("/healthz")
def healthz():
    return {"status": "ok"}
