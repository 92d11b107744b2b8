"""Configuration: defaults, then instance/config.py, then FLASK_* environment, then tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from flask import Config, Flask

from .safetext import FIXED_FROM, FIXED_PYTHON, interpreter_is_vulnerable

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": "dev-only-not-secret",
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "MAIL_SERVER": "localhost",
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": "Screenings <screenings@localhost>",
    # Seconds an SMTP attempt may take before the message waits for the next retry.
    "MAIL_TIMEOUT": 10,
    # Attempts before an outbox message is marked dead and shown to the producer.
    "OUTBOX_MAX_ATTEMPTS": 8,
    # Seconds after which a message stuck "sending" (a crashed worker) is retried.
    "OUTBOX_STALE_AFTER": 600,
    # Web processes hand messages they just committed to a background thread that sends them
    # (never the request itself); False: only the worker (`flask outbox run`) sends.
    "OUTBOX_DELIVER_IN_BACKGROUND": True,
    # A request that queued more mails to compose than this (licence mails: a PDF each) leaves
    # those to the worker (outbox run): a bulk approval's mail is not a web process's work.
    "OUTBOX_BACKGROUND_MAX": 20,
    # Absolute base for links in e-mails and calendar files (no request outside a view).
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    "PRODUCER_NAME": "Chutzpa Productions",
    # Who is behind the site, shown in every page's footer, every e-mail and the licence PDF:
    # an address people can write to (unset: the sender of MAIL_DEFAULT_SENDER), a postal
    # address and an imprint line (company registration, responsible person) where the law
    # of your country asks for one; the privacy page names them too.
    "PRODUCER_CONTACT_EMAIL": None,
    "PRODUCER_ADDRESS": "",
    "PRODUCER_IMPRINT": "",
    # "E-mail me my links" (/links): requests per client address, and e-mails per address a
    # day (past that, the same answer and no e-mail).
    "RATELIMIT_LINKS": "10 per hour",
    "LINKS_MAILS_PER_ADDRESS_PER_DAY": 3,
    "WTF_CSRF_TIME_LIMIT": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_LOGIN": "10 per minute",
    "RATELIMIT_FORMS": "30 per minute",
    # Wrong passwords in a row before a producer account is locked (its owner is e-mailed an
    # unlock link), and for how many minutes.
    "LOGIN_LOCKOUT_FAILURES": 10,
    "LOGIN_LOCKOUT_MINUTES": 15,
    # Owners must enrol TOTP two-factor before using the producer pages; None: in production.
    "TWO_FACTOR_REQUIRED_FOR_OWNERS": None,
    # Messages an organizer may send to their screening's guests in any 24 hours (all groups
    # together; services/guest_messages.py), and form posts per client address.
    "GUEST_MESSAGES_PER_DAY": 3,
    "RATELIMIT_GUEST_MESSAGES": "10 per hour",
    # Licence verification pages per client address (a miss counts like a hit).
    "RATELIMIT_LICENCES": "30 per minute",
    # Near-me alerts: confirmation e-mails to one address a day (past that, the same answer
    # and no e-mail), and days before an unconfirmed subscription is forgotten.
    "NEARBY_CONFIRMATIONS_PER_ADDRESS_PER_DAY": 3,
    "NEARBY_UNCONFIRMED_DAYS": 3,
    # The "near" type-ahead (/places?q=…) per client address: a request a keystroke or two.
    "RATELIMIT_PLACES": "120 per minute",
    # The booking form's live holiday and Shabbat hint (/book/warnings) per client address:
    # one request as the date, time or place changes.
    "RATELIMIT_WARNINGS": "60 per minute",
    # The door page's JSON calls (look-ups, name searches, check-ins) per client address,
    # both door links together: beyond the link's secret, a leaked link cannot be used to
    # try ticket codes or names at speed. A busy door with a few helpers stays well below.
    "RATELIMIT_DOOR": "240 per minute",
    # Minutes added to a film's runtime for the discussion, for the default duration.
    "DISCUSSION_MINUTES": 30,
    # "development" or "production" (any case); anything else refuses to start.
    "ENV_NAME": "development",
    # Number of proxies in front of the app that are trusted to set X-Forwarded-For and
    # X-Forwarded-Proto (werkzeug's ProxyFix); 0: the socket's address is the client's.
    "PROXY_FIX": 0,
    # Keys that capability links (manage, RSVP, download, report) are derived with, newest
    # first. New links use the first; a link already sent is re-derived with whichever key
    # made it, so adding a key (or changing SECRET_KEY) never breaks one. Unset: SECRET_KEY
    # (development only). See "Secrets and their rotation" in the README.
    "LINK_KEYS": (),
    # Film files behind nginx's secure_link: the secret it checks, and how long a signed
    # file URL (given at each use of a personal download link) works. Unset: URLs unsigned.
    "DOWNLOAD_URL_SECRET": None,
    "DOWNLOAD_URL_SECONDS": 3600,
    # Days after a screening before `flask privacy purge` anonymises its attendees.
    "PRIVACY_RETENTION_DAYS": 30,
    # Hours before a screening that `flask reminders send` e-mails its organizer and attendees.
    "REMINDER_LEAD_HOURS": 24,
    # How long an RSVP that must confirm its e-mail address holds its seats (services/guests.py).
    "ADDRESS_HOLD_MINUTES": 30,
    # The cache (caching.py): one Redis for every worker and host when set, else per process.
    "CACHE_REDIS_URL": "",
    "CACHE_KEY_PREFIX": "screenings",
    "CACHE_RELEASE": "",  # empty: a digest of the code (caching.code_release)
    "CACHE_MEMORY_BYTES": 128 << 20,
    # With Redis: each worker's copies of the pages (and .ics) it read there (versioned_get).
    "CACHE_COPY_BYTES": 32 << 20,
    "CACHE_MAX_VALUE_BYTES": 64 << 20,
    "CACHE_PAGE_SECONDS": 3600,
    # Serve public pages (and the dashboard) from the cache.
    "PAGE_CACHE_ENABLED": True,
    # Parts of pages kept rendered in each process, keyed by all they show (views.KeptMarkup:
    # the dashboard's rows, the lists' items and forms), in characters: a few MB.
    "KEPT_PARTS_CHARS": 4 << 20,
    # Feeds: how long a build may hold its lock, how long a request waits for the very first
    # build of a feed (then 503 with Retry-After), and how long a built feed is kept.
    "FEED_BUILD_LOCK_SECONDS": 120,
    "FEED_WAIT_SECONDS": 25,
    "FEED_KEEP_SECONDS": 7 * 24 * 3600,
    # A `flask feeds build --watch` process runs beside the web workers (the Procfile's feeds,
    # `flask laptop`): a web worker then serves a stale feed's last build until that process
    # stores the next, never rebuilding it itself (a build's events and peak stay out of the
    # web workers). Only a feed with no build at all is still built on a request.
    "FEED_BUILDER_RUNS": False,
    # How much `flask feeds build` lowers its own CPU priority (os.nice; 0: not at all): on a
    # host it shares with the web workers, a pass after a change gives way to their requests.
    "FEED_BUILDER_NICE": 10,
    # Without Redis: the folder each built feed is written to, read by every worker on the
    # host (empty: instance/feeds).
    "FEED_FILES_DIR": "",
    # Without Redis: the bytes of each VEVENT the feeds built, kept per process (LRU).
    "FEED_EVENTS_BYTES": 160 << 20,
    # The feeds' events as deflated segments, kept in the building process's memory (LRU).
    "FEED_SEGMENTS_BYTES": 96 << 20,
    # Secret for the producer's private calendar feed (/feeds/producer/<token>.ics); unset: off.
    "PRODUCER_FEED_TOKEN": None,
    # Start in production on a Python without the CVE-2024-6923 fix (safetext.py) only when
    # your distribution backported it without changing the version number.
    "TRUST_PATCHED_PYTHON": False,
    # Development: the folder of the local mail catcher, shown at /dev/mail (`flask laptop`
    # sets it to instance/mail); unset or in production, there is no such page.
    "DEV_MAIL_DIR": None,
    # Where `flask jobs run` records when each job last ran; None: instance/jobs-state.json.
    "JOBS_STATE_FILE": None,
    # Address attendees' calendars reply to (ORGANIZER of their invites), as replies+<token>@…
    # per RSVP; mail to it must reach `flask inbound serve` or `receive`. Unset: the sender.
    "CALENDAR_REPLY_ADDRESS": None,
    # Where `flask inbound serve` listens for LMTP from the MTA (loopback only).
    "INBOUND_LMTP_HOST": "127.0.0.1",
    "INBOUND_LMTP_PORT": 8024,
    # The envelope sender (Return-Path) of every outgoing message becomes
    # bounce+<token>@… of this address, a token per message, so a bounce names the message it
    # is about (VERP). Unset: bounce@ the domain of CALENDAR_REPLY_ADDRESS; neither: the
    # sender, as before (bounces are then only noted, never acted on).
    "BOUNCE_ADDRESS": None,
    # `flask mail poll`: an IMAP mailbox the reply and bounce addresses deliver to, for hosts
    # without their own MTA. Unset host: no polling.
    "INBOUND_IMAP_HOST": None,
    "INBOUND_IMAP_PORT": 993,
    "INBOUND_IMAP_USER": None,
    "INBOUND_IMAP_PASSWORD": None,
    "INBOUND_IMAP_FOLDER": "INBOX",
    # True: IMAPS (TLS from the start); False: plain IMAP upgraded with STARTTLS, or not at
    # all on loopback.
    "INBOUND_IMAP_SSL": True,
    # Where a processed message is moved to; unset: it stays, marked seen.
    "INBOUND_IMAP_DONE_FOLDER": None,
    "INBOUND_IMAP_INTERVAL": 60,
    # People's answers forwarded to one screening's organizer in a day, at most (past that,
    # they are logged and dropped: a leaked reply address cannot flood the organizer).
    "INBOUND_FORWARDS_PER_DAY": 20,
}


class ConfigurationError(RuntimeError):
    """The app was asked to start with a configuration that is unsafe."""


def load_config(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    """Fill app.config in the documented order, then refuse unsafe production settings."""
    app.config.from_mapping(DEFAULTS)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
        app.instance_path, "screenings.db"
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env()
    if test_config is not None:
        app.config.from_mapping(test_config)
    if "OUTBOX_DELIVER_ON_COMMIT" in app.config:  # the setting's former name
        app.config["OUTBOX_DELIVER_IN_BACKGROUND"] = app.config.pop("OUTBOX_DELIVER_ON_COMMIT")
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Writers queue for SQLite's single write lock instead of failing at once (RSVP races).
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.setdefault("connect_args", {"timeout": 30})
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    _check_settings(app.config)
    if app.config["TWO_FACTOR_REQUIRED_FOR_OWNERS"] is None:
        app.config["TWO_FACTOR_REQUIRED_FOR_OWNERS"] = app.config["ENV_NAME"] == "production"
    _check_interpreter(app)


ENVIRONMENTS = ("development", "production")


def _check_settings(config: Config) -> None:
    """Normalise the settings read as text or JSON, then refuse unsafe production settings."""
    name = str(config["ENV_NAME"]).strip().lower()
    if name not in ENVIRONMENTS:
        raise ConfigurationError(
            f"FLASK_ENV_NAME must be one of {', '.join(ENVIRONMENTS)}, not {config['ENV_NAME']!r}."
        )
    config["ENV_NAME"] = name
    hops = config["PROXY_FIX"]
    if isinstance(hops, str) and hops.strip().isdigit():
        hops = int(hops)
    if isinstance(hops, bool) or not isinstance(hops, int) or not 0 <= hops <= 10:
        raise ConfigurationError(
            "FLASK_PROXY_FIX must be the number of trusted proxies in front of the app (0-10)."
        )
    config["PROXY_FIX"] = hops
    _check_imap(config)
    for setting in ("LINK_KEYS", "SECRET_KEY_FALLBACKS"):
        value = config.get(setting)
        keys = [value] if isinstance(value, str) else list(value or ())
        if not all(isinstance(key, str) and key for key in keys):
            raise ConfigurationError(f"FLASK_{setting} must be a JSON list of keys: '[\"…\"]'.")
        config[setting] = keys if setting == "SECRET_KEY_FALLBACKS" else tuple(keys)
    keys = config["LINK_KEYS"]
    if name == "production":
        config["SESSION_COOKIE_SECURE"] = True
        config["REMEMBER_COOKIE_SECURE"] = True
        secret = config.get("SECRET_KEY") or ""
        if secret == DEFAULTS["SECRET_KEY"] or len(secret) < 32:
            raise ConfigurationError(
                "FLASK_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production (python -c 'import secrets; print(secrets.token_hex(32))')."
            )
        if not keys or any(len(key) < 32 for key in keys):
            raise ConfigurationError(
                "FLASK_LINK_KEYS must list at least one random key of 32 characters or more "
                "in production; see the README's deployment section."
            )


def _check_imap(config: Config) -> None:
    """The IMAP settings as numbers and a boolean, whether they came as text or JSON."""
    for setting in ("INBOUND_IMAP_PORT", "INBOUND_IMAP_INTERVAL"):
        value = config[setting]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise ConfigurationError(f"FLASK_{setting} must be a whole number above 0.")
        config[setting] = value
    value = config["INBOUND_IMAP_SSL"]
    if isinstance(value, str):
        value = value.strip().lower() not in ("false", "0", "no", "off", "")
    config["INBOUND_IMAP_SSL"] = bool(value)


def _check_interpreter(app: Flask) -> None:
    """Refuse a Python whose e-mail package allows header injection in production; warn else."""
    if not interpreter_is_vulnerable() or app.config["TRUST_PATCHED_PYTHON"]:
        return
    minimum = ", ".join(".".join(map(str, v)) for v in [*FIXED_PYTHON.values(), FIXED_FROM])
    running = ".".join(map(str, tuple(sys.version_info)[:3]))
    explanation = (
        f"Python {running} has CVE-2024-6923 (e-mail header injection); use at least "
        f"{minimum} (or set FLASK_TRUST_PATCHED_PYTHON=true if your distribution backported "
        "the fix)."
    )
    if app.config["ENV_NAME"] == "production":
        raise ConfigurationError(explanation)
    app.logger.warning(
        "%s The app defends itself, but do not run it like this in production.", explanation
    )
