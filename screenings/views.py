"""What every blueprint's views share: form errors, private pages, headers, error pages."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from babel import Locale
from babel.support import NullTranslations
from flask import Flask, current_app, g, has_request_context, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, get_translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.wrappers import Response as BaseResponse

from .calendar import subscribe_links, webcal_url
from .extensions import db, login_manager
from .formatting import (
    bdi,
    format_date,
    format_datetime,
    format_number,
    format_time,
    localized_address_line,
    localized_country_name,
    localized_start_display,
    paragraphs,
    plain_delivery_error,
    plural_samples,
    readable_changes,
)
from .forms import install_html_params
from .identity import producer_identity
from .places import country_zones, main_zones, zone_aliases
from .services import DomainError
from .services.visibility import label as visibility_label
from .urls import external_url

if TYPE_CHECKING:
    from types import TracebackType

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask_wtf import FlaskForm

_P = ParamSpec("_P")


def form_error(form: FlaskForm, error: DomainError) -> None:
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


def private_page(view: Callable[_P, ResponseReturnValue]) -> Callable[_P, BaseResponse]:
    """A capability-link page: never cached, never leaks its URL through Referer."""

    @wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> BaseResponse:
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


class SecurityHeaders:
    """WSGI middleware: the security headers every response carries, unless a view set its own.

    X-Frame-Options is the old browsers' form of the policy's frame-ancestors, so it is sent
    only when the policy actually sent forbids framing (the embed page's allows it). Done on
    the raw header list, this costs a fraction of werkzeug's header methods on every request.
    """

    def __init__(self, wsgi_app: WSGIApplication, *, https: bool) -> None:
        self.wsgi_app = wsgi_app
        self.headers = [
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
        ]
        if https:
            self.headers.append(
                ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
            )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def add_headers(
            status: str,
            headers: list[tuple[str, str]],
            exc_info: tuple[type[BaseException], BaseException, TracebackType]
            | tuple[None, None, None]
            | None = None,
        ) -> Callable[[bytes], object]:
            present = {name.lower(): value for name, value in headers}
            policy = present.get("content-security-policy")
            if policy is None:
                headers.append(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
                policy = CONTENT_SECURITY_POLICY
            headers.extend(header for header in self.headers if header[0].lower() not in present)
            if "frame-ancestors 'none'" in policy and "x-frame-options" not in present:
                headers.append(("X-Frame-Options", "DENY"))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, add_headers)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        if error.response is not None:  # the view or its limit made its own answer
            return error.response
        code = error.code or 500  # every exception Werkzeug raises has one
        if request.path.startswith("/api/"):
            return {"error": error.name, "description": error.description}, code
        return render_template("error.html", error=error), code

    @app.errorhandler(DataError)
    def value_out_of_range(error: DataError) -> ResponseReturnValue:
        """A value the database refuses (e.g. a number past its column's range): bad input."""
        db.session.rollback()
        app.logger.info("database refused a value: %s", error.orig)
        return render_template("error.html", error=BadRequest()), 400

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(error: OperationalError | PoolTimeout) -> BaseResponse:
        db.session.rollback()
        app.logger.warning("database unavailable: %s", error)
        # The page must not need the database: the header would look the producer up (or
        # reload the one the rollback just expired), so it is drawn for nobody logged in.
        g._login_user = login_manager.anonymous_user()
        response = current_app.make_response(
            (render_template("error.html", error=None, unavailable=True), 503)
        )
        response.headers["Retry-After"] = "5"
        return response


def install_template_gettext(app: Flask) -> None:
    """Templates' _(), ngettext() and their context forms through Flask-Babel's catalogues,
    each found once per language a template is rendered in (a request's, or an e-mail's
    under force_locale) rather than looked up again for every message: three lookups on g
    and a locale written out were half of each message's cost, a tenth of a cold page."""
    found: dict[Locale, NullTranslations] = {}

    def catalogue() -> NullTranslations:
        locale = get_locale()
        if locale is None:  # outside a request or app context: Flask-Babel's null catalogue
            return get_translations()
        translations = found.get(locale)
        if translations is None:
            translations = found[locale] = get_translations()
        return translations

    # A method the i18n extension (loaded by Flask-Babel) adds to the environment; it sets
    # newstyle for {% trans %}. Its wrappers are then replaced by the same steps without the
    # call through the context, nor `_`'s second lookup of gettext (a third of a message).
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: catalogue().ugettext(s),
        ngettext=lambda s, p, n: catalogue().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: catalogue().upgettext(c, s),
        npgettext=lambda c, s, p, n: catalogue().unpgettext(c, s, p, n),
    )

    def formatted(context: Context, message: str, variables: dict[str, Any]) -> str:
        """Jinja's newstyle rule: always a format string, a Markup one where autoescaping."""
        safe = Markup(message) if context.eval_ctx.autoescape else message  # noqa: S704 # nosec B704: a catalogue message, as Jinja marks it
        return safe % variables

    @pass_context
    def gettext(context: Context, string: str, **variables: Any) -> str:
        return formatted(context, catalogue().ugettext(string), variables)

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        return formatted(context, catalogue().ungettext(singular, plural, num), variables)

    @pass_context
    def pgettext(context: Context, string_ctx: str, string: str, **variables: Any) -> str:
        variables.setdefault("context", string_ctx)
        return formatted(context, catalogue().upgettext(string_ctx, string), variables)

    @pass_context
    def npgettext(
        context: Context, string_ctx: str, singular: str, plural: str, num: int, **variables: Any
    ) -> str:
        variables.setdefault("context", string_ctx)
        variables.setdefault("num", num)
        message = catalogue().unpgettext(string_ctx, singular, plural, num)
        return formatted(context, message, variables)

    app.jinja_env.globals.update(
        _=gettext, gettext=gettext, ngettext=ngettext, pgettext=pgettext, npgettext=npgettext
    )


_Key = TypeVar("_Key", bound=Hashable)


class KeptMarkup:
    """Rendered parts of pages, each kept under everything it is made of: its name, the
    language, the app's root path (links) and the key its caller gives, which must hold all
    else the part reads (no counter to wait for: a change to anything it shows is a new key,
    so a kept part is the part rendered now). An LRU of at most `max_chars` characters, one
    per app, shared by the worker's threads."""

    def __init__(self, max_chars: int) -> None:
        # An OrderedDict, least recently used first: cachetools' LRU, in Python, cost a tenth
        # of a page's fifty rows' lookups.
        self.parts: OrderedDict[tuple, Markup] = OrderedDict()
        self.chars = 0
        self.max_chars = max_chars
        self.lock = threading.Lock()

    def _get(self, key: tuple) -> Markup | None:
        markup = self.parts.get(key)
        if markup is not None:
            self.parts.move_to_end(key)
        return markup

    def _keep(self, key: tuple, markup: Markup) -> None:
        if len(markup) > self.max_chars:
            return
        old = self.parts.pop(key, None)
        self.chars += len(markup) - (len(old) if old is not None else 0)
        self.parts[key] = markup
        while self.chars > self.max_chars:
            _key, dropped = self.parts.popitem(last=False)
            self.chars -= len(dropped)

    def __call__(self, name: str, key: tuple, render: Callable[[], Markup]) -> Markup:
        return self.joined(name, (key,), lambda _key: render())

    def joined(self, name: str, keys: Iterable[_Key], render: Callable[[_Key], Markup]) -> Markup:
        """The parts kept under each key (`render(key)` for those not kept), joined: a
        page's rows, their language and root path found once."""
        if not has_request_context():  # an e-mail or a command: nothing of a page to share
            return Markup("").join(render(key) for key in keys)
        around = (name, str(get_locale()), request.script_root)
        wanted = [(key, (*around, key)) for key in keys]
        with self.lock:
            found = [self._get(full_key) for _key, full_key in wanted]
        parts = []
        for (key, full_key), markup in zip(wanted, found, strict=True):
            if markup is None:
                markup = render(key)
                with self.lock:
                    self._keep(full_key, markup)
            parts.append(markup)
        return Markup("").join(parts)

    def __len__(self) -> int:
        return len(self.parts)

    def clear(self) -> None:
        with self.lock:
            self.parts.clear()
            self.chars = 0


def kept_part(name: str, key: tuple, render: Callable[[], Markup]) -> Markup:
    """A part of a page from the app's KeptMarkup (see there): `render()` only the first time
    this name, key, language and root path are asked for, or after the LRU let it go."""
    kept: KeptMarkup = current_app.extensions["kept_parts"]
    return kept(name, key, render)


def kept_parts(name: str, keys: Iterable[_Key], render: Callable[[_Key], Markup]) -> Markup:
    """Many parts of a page (its rows) from the app's KeptMarkup, joined; `render(key)` for
    each key not kept."""
    kept: KeptMarkup = current_app.extensions["kept_parts"]
    return kept.joined(name, keys, render)


def macro_of(template: str, name: str) -> Callable[..., Markup]:
    """A template's macro, to render a kept part with: it reads its arguments and the
    environment's globals (gettext in the current language, url_for), nothing of a request."""
    return getattr(current_app.jinja_env.get_template(template).module, name)


def subscribe_section(
    feeds: Iterable[Mapping[str, str]], target: str | None = None, copy: bool = True
) -> Markup:
    """macros/subscribe.html's section for these feeds (each its address and calendar name),
    kept rendered by them, the links' target and `copy` (kept_part): four links per feed,
    each the feed's address encoded into another, on every list page."""
    key = (tuple((feed["address"], feed["name"]) for feed in feeds), target, copy)
    return kept_part(
        "subscribe",
        key,
        lambda: macro_of("macros/subscribe.html", "subscribe_section")(
            [{"address": address, "name": name} for address, name in key[0]],
            target=target,
            copy=copy,
        ),
    )


def install_kept_layout(app: Flask) -> None:
    """base.html's parts that depend only on the language (macros/layout.html: header links,
    the language switcher but its "next", the footer), each rendered once per language, the
    app's root path and the macro's arguments, and kept: their url_for and gettext were a
    tenth of a cold page. The key is all a part reads, so a kept part is the part rendered.
    Other pages' parts are kept the same way (kept_part), in an LRU of their own."""
    kept = KeptMarkup(KEPT_LAYOUT_CHARS)
    app.extensions["kept_layout"] = kept
    app.extensions["kept_parts"] = KeptMarkup(app.config["KEPT_PARTS_CHARS"])

    def kept_layout(name: str, *args: Hashable) -> Markup:
        return kept(name, args, lambda: macro_of("macros/layout.html", name)(*args))

    app.jinja_env.globals["kept_layout"] = kept_layout


# The layout's parts times languages times root paths (one, but for a WSGI server mounting
# the app twice) and producer identities: a few kB each.
KEPT_LAYOUT_CHARS = 1 << 20


def register_template_helpers(app: Flask) -> None:
    """Presentation helpers every template may call."""
    zones_json = json.dumps(country_zones(), separators=(",", ":"))
    zone_defaults_json = json.dumps(
        {"main": main_zones(), "aliases": zone_aliases()}, separators=(",", ":")
    )

    def field_attributes(
        attrs: dict[str, object], described: list[str], errors: list[str]
    ) -> dict[str, object]:
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
        country_name=localized_country_name,
        address_line=localized_address_line,
        local_start_display=localized_start_display,
        country_zones_json=lambda: zones_json,
        zone_defaults_json=lambda: zone_defaults_json,
        producer_identity=producer_identity,
        webcal_url=webcal_url,
        subscribe_links=subscribe_links,
        subscribe_section=subscribe_section,
        # Absolute links from PUBLIC_BASE_URL, never the request's Host: cached pages hold them.
        external_url=external_url,
        visibility_label=visibility_label,
        readable_changes=readable_changes,
        plural_samples=plural_samples,
        # A film's synopsis or advisory in the page's (or e-mail's) language, else English.
        film_text=lambda film, name: film.text_in(name, str(get_locale() or "en")),
    )
    install_template_gettext(app)
    install_kept_layout(app)
    install_html_params()
    app.add_template_filter(plain_delivery_error, "plain_delivery_error")
    app.add_template_filter(format_datetime, "format_datetime")
    app.add_template_filter(format_date, "format_date")
    app.add_template_filter(format_time, "format_time")
    app.add_template_filter(format_number, "format_number")
    app.add_template_filter(bdi, "bdi")
    app.add_template_filter(paragraphs, "paragraphs")
