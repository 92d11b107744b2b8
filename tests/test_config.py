"""Configuration: environment variables, and production's refusal of unsafe defaults."""

from __future__ import annotations

import pytest

from screenings import create_app
from screenings.config import ConfigurationError


def test_environment_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("FLASK_MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("FLASK_MAIL_PORT", "2525")
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path}/env.db")
    app = create_app()
    assert app.config["MAIL_SERVER"] == "smtp.example.org"
    assert app.config["MAIL_PORT"] == 2525
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("env.db")


def test_default_database_is_sqlite_in_instance_folder(monkeypatch):
    monkeypatch.delenv("FLASK_SQLALCHEMY_DATABASE_URI", raising=False)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        "sqlite:///" + app.instance_path + "/screenings.db"
    )


@pytest.mark.parametrize("secret", [None, "short", "dev-only-not-secret"])
def test_production_refuses_to_start_without_a_real_secret(monkeypatch, secret):
    monkeypatch.setenv("FLASK_ENV_NAME", "production")
    if secret is None:
        monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("FLASK_SECRET_KEY", secret)
    with pytest.raises(ConfigurationError, match="FLASK_SECRET_KEY"):
        create_app()


def _production(monkeypatch, name: str = "production") -> None:
    monkeypatch.setenv("FLASK_ENV_NAME", name)
    monkeypatch.setenv("FLASK_SECRET_KEY", "k" * 64)
    monkeypatch.setenv("FLASK_LINK_KEYS", '["' + "l" * 64 + '"]')


def test_production_with_a_real_secret_sets_secure_cookies(monkeypatch, patched_python):
    _production(monkeypatch)
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


@pytest.mark.parametrize("name", ["Production", "PRODUCTION", " production ", "production\n"])
def test_production_is_production_in_any_case_and_spacing(monkeypatch, patched_python, name):
    _production(monkeypatch, name)
    monkeypatch.setenv("FLASK_SECRET_KEY", "dev-only-not-secret")
    with pytest.raises(ConfigurationError, match="FLASK_SECRET_KEY"):
        create_app()
    monkeypatch.setenv("FLASK_SECRET_KEY", "k" * 64)
    app = create_app()
    assert app.config["ENV_NAME"] == "production"
    assert app.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("name", ["prod", "staging", "", "produc tion"])
def test_an_unknown_environment_refuses_to_start(monkeypatch, name):
    _production(monkeypatch, name)
    with pytest.raises(ConfigurationError, match="FLASK_ENV_NAME"):
        create_app()


@pytest.mark.parametrize("keys", [None, "[]", '["short"]', '["' + "l" * 64 + '", "short"]', "[1]"])
def test_production_refuses_to_start_without_link_keys(monkeypatch, patched_python, keys):
    _production(monkeypatch)
    if keys is None:
        monkeypatch.delenv("FLASK_LINK_KEYS")
    else:
        monkeypatch.setenv("FLASK_LINK_KEYS", keys)
    with pytest.raises(ConfigurationError, match="FLASK_LINK_KEYS"):
        create_app()


def test_link_keys_may_be_one_plain_key(monkeypatch, patched_python):
    _production(monkeypatch)
    monkeypatch.setenv("FLASK_LINK_KEYS", "m" * 40)
    assert create_app().config["LINK_KEYS"] == ("m" * 40,)


@pytest.mark.parametrize("value", ["-1", "true", "two", "11", "1.5"])
def test_proxy_fix_must_be_a_number_of_proxies(monkeypatch, value):
    monkeypatch.setenv("FLASK_PROXY_FIX", value)
    with pytest.raises(ConfigurationError, match="FLASK_PROXY_FIX"):
        create_app()


def test_proxy_fix_wraps_the_app_only_when_set(monkeypatch):
    from werkzeug.middleware.proxy_fix import ProxyFix

    assert not isinstance(create_app().wsgi_app, ProxyFix)
    monkeypatch.setenv("FLASK_PROXY_FIX", "2")
    wrapped = create_app().wsgi_app
    assert isinstance(wrapped, ProxyFix)
    assert (wrapped.x_for, wrapped.x_proto, wrapped.x_host) == (2, 2, 0)


def test_one_plain_fallback_secret_is_one_key(monkeypatch):
    monkeypatch.setenv("FLASK_SECRET_KEY_FALLBACKS", "old-secret-" + "o" * 30)
    assert create_app().config["SECRET_KEY_FALLBACKS"] == ["old-secret-" + "o" * 30]
