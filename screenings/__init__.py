"""Screenings: a community screening and distribution manager."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel import Locale
from flask import Flask, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.routing import IntegerConverter, Map

from .config import load_config
from .extensions import csrf, db, init_migrations, limiter, login_manager, mail

if TYPE_CHECKING:
    from .outbox import DeliveryHooks

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("en", "fr", "he")
# Parsed once: Flask-Babel parses whatever the selector returns on every request otherwise.
_LOCALES = {code: Locale.parse(code) for code in LANGUAGES}


class CachedSigningSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signer built once per secret key.

    Flask builds the serializer afresh for every request (it tests it with a dumps() call);
    on a cached public page that is a measurable share of the request.
    """

    _secrets: tuple | None = None
    _serializer: URLSafeTimedSerializer | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        secrets = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if secrets != self._secrets or self._serializer is None:
            self._serializer = super().get_signing_serializer(app)
            self._secrets = secrets
        return self._serializer


class DatabaseIdConverter(IntegerConverter):
    """``<int:…>`` in routes: 0 to 2**31 - 1, the range of an INTEGER primary key."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = 2**31 - 1,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, CLI and error handlers."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    os.makedirs(app.instance_path, exist_ok=True)
    # Ids in URLs fit the database's integer columns: a larger number is a 404, not an error.
    app.url_map.converters["int"] = DatabaseIdConverter
    load_config(app, test_config)
    app.session_interface = CachedSigningSessionInterface()
    register_extensions(app)
    register_blueprints(app)
    register_cli(app)
    from .views import register_error_handlers, register_template_helpers

    register_error_handlers(app)
    register_template_helpers(app)
    from .caching import CachedPagesFront
    from .views import SecurityHeaders

    # Middleware wraps app.wsgi_app, as Flask documents it; mypy sees the assignment to a
    # method (python/mypy#2427), hence the targeted ignores.
    app.wsgi_app = CachedPagesFront(app, app.wsgi_app)  # type: ignore[method-assign]
    app.wsgi_app = SecurityHeaders(  # type: ignore[method-assign]
        app.wsgi_app, https=bool(app.config["SESSION_COOKIE_SECURE"])
    )
    if app.config["PROXY_FIX"]:
        # Outermost: everything inside sees the client's address and scheme. The host is
        # never taken from a header (links are built from PUBLIC_BASE_URL).
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_FIX"]
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0
        )
    return app


def select_locale() -> Locale:
    """The language chosen with the switcher, else the browser's best match."""
    if not has_request_context():  # a command or a test outside a request: English
        return _LOCALES["en"]
    chosen = session.get("language")
    if chosen not in LANGUAGES:
        chosen = browser_language(request.headers.get("Accept-Language", ""))
    return _LOCALES[chosen]


@lru_cache(maxsize=1024)
def browser_language(accept_language: str) -> str:
    """Our best language for an Accept-Language header. Browsers send a handful of distinct
    headers, so each is parsed once, not on every request (a cached page's hit included)."""
    return parse_accept_header(accept_language, LanguageAccept).best_match(LANGUAGES) or "en"


def register_extensions(app: Flask) -> None:
    from flask_babel import Babel
    from flask_babel import refresh as refresh_locale

    from .caching import init_cache
    from .outbox import init_outbox

    db.init_app(app)
    init_migrations(app, str(PROJECT_ROOT / "migrations"))
    mail.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    limiter.init_app(app)
    Babel(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(PROJECT_ROOT / "screenings" / "translations"),
    )
    # Flask-Babel caches the locale on g, and g outlives a request when an app context was
    # already pushed (tests, scripts): choose the language afresh for every request.
    app.before_request(refresh_locale)
    init_cache(app)
    with app.app_context():
        init_outbox(app, delivery_hooks())


def delivery_hooks() -> DeliveryHooks:
    """What the outbox calls back into at delivery, so it imports no service: licence mail
    composed and its PDF rendered (services/licences.py), dead mail alerted (alerts.py)."""
    from .outbox import DeliveryHooks
    from .services import alerts, licences

    return DeliveryHooks(
        composers=licences.COMPOSERS, renderers=licences.RENDERERS, on_dead=alerts.dead_mail
    )


def register_blueprints(app: Flask) -> None:
    from .attendee import bp as attendee_bp
    from .door import bp as door_bp
    from .ops import bp as ops_bp
    from .organizer import bp as organizer_bp
    from .producer import bp as producer_bp
    from .producer.accounts import account_bp
    from .producer.auth import auth_bp
    from .public import bp as public_bp

    app.register_blueprint(ops_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(organizer_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(producer_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(attendee_bp)
    app.register_blueprint(door_bp)
    from .devmail import register as register_dev_pages

    register_dev_pages(app)


def register_cli(app: Flask) -> None:
    from .cli import register

    register(app)
