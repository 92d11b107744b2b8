"""What every blueprint's views share: form errors, private pages, headers, error pages."""

from __future__ import annotations

from functools import wraps

from flask import Flask, current_app, render_template, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from .extensions import db
from .services import DomainError


def form_error(form, error: DomainError) -> None:
    """Put a service's refusal beside the field it concerns (or on the form)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def rate_limit_forms() -> str:
    return current_app.config["RATELIMIT_FORMS"]


def rate_limit_login() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def private_page(view):
    """A capability-link page: never cached, never leaks its URL through Referer."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = current_app.make_response(view(*args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return wrapper


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith("/api/"):
            return {"error": error.name, "description": error.description}, error.code
        return render_template("error.html", error=error), error.code

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(error):
        db.session.rollback()
        app.logger.warning("database unavailable: %s", error)
        response = current_app.make_response(
            (render_template("error.html", error=None, unavailable=True), 503)
        )
        response.headers["Retry-After"] = "5"
        return response

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response


def register_template_helpers(app: Flask) -> None:
    """Presentation helpers every template may call."""
    import json

    from flask_babel import get_locale

    from .places import country_name, country_zones
    from .services.licences import local_start_display

    zones_json = json.dumps(country_zones(), separators=(",", ":"))

    def field_attributes(attrs: dict, described: list[str], errors) -> dict:
        """HTML attributes of an input: its own, plus the ARIA links to hint and error."""
        merged = dict(attrs)
        if described:
            merged["aria-describedby"] = " ".join(described)
        if errors:
            merged["aria-invalid"] = "true"
        return merged

    # Globals rather than a context processor, so imported macros see them too.
    app.jinja_env.globals.update(
        get_locale=get_locale,
        field_attributes=field_attributes,
        country_name=country_name,
        local_start_display=local_start_display,
        country_zones_json=lambda: zones_json,
    )
