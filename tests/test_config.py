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


def test_production_with_a_real_secret_sets_secure_cookies(monkeypatch, patched_python):
    monkeypatch.setenv("FLASK_ENV_NAME", "production")
    monkeypatch.setenv("FLASK_SECRET_KEY", "k" * 64)
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
