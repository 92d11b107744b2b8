"""The flask --app screenings … commands."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, select

from screenings.models import AccountEvent, Film, LicenceTerms, Producer
from screenings.security import password_matches


def test_producer_create_with_password(runner, db):
    result = runner.invoke(args=["producer", "create", "Ada@Example.org", "--password", "x" * 16])
    assert result.exit_code == 0, result.output
    producer = db.session.scalar(select(Producer))
    assert producer.email == "ada@example.org"
    assert password_matches(producer.password_hash, "x" * 16)
    assert producer.password_hash.startswith("$argon2id$")


def test_producer_create_prompts_for_password(runner, db):
    result = runner.invoke(
        args=["producer", "create", "bob@example.org"], input="a-long-password-1\n" * 2
    )
    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert "a-long-password-1" not in result.output


def test_producer_create_refuses_duplicates_and_short_passwords(runner, db):
    runner.invoke(args=["producer", "create", "ada@example.org", "--password", "x" * 16])
    again = runner.invoke(args=["producer", "create", "ada@example.org", "--password", "y" * 16])
    assert again.exit_code != 0
    assert "already exists" in again.output
    short = runner.invoke(args=["producer", "create", "c@example.org", "--password", "short"])
    assert short.exit_code != 0
    assert "at least 12" in short.output


def test_bootstrap_prints_a_random_one_time_password_once(runner, db):
    first = runner.invoke(args=["producer", "bootstrap"])
    assert first.exit_code == 0
    password = re.search(r"password: (\S+)", first.output).group(1)
    assert len(password) >= 20
    producer = db.session.scalar(select(Producer))
    assert password_matches(producer.password_hash, password)
    assert password not in producer.password_hash
    second = runner.invoke(args=["producer", "bootstrap"])
    assert "nothing to do" in second.output
    assert db.session.scalar(select(func.count(Producer.id))) == 1
    # A new install again: the account and its audit trail gone (accounts are only disabled).
    db.session.execute(delete(AccountEvent).where(AccountEvent.producer_id == producer.id))
    db.session.delete(producer)
    db.session.commit()
    other = runner.invoke(args=["producer", "bootstrap"])
    assert re.search(r"password: (\S+)", other.output).group(1) != password


def test_seed_is_idempotent(runner, db):
    for _ in range(2):
        assert runner.invoke(args=["seed"]).exit_code == 0
    assert db.session.scalar(select(func.count(Film.id))) == 1
    assert db.session.scalar(select(func.count(LicenceTerms.id))) == 1
    film = db.session.scalar(select(Film))
    assert (film.title, film.year, film.director) == ("The Killing Roads", 2024, "Igal Hecht")
    assert film.production_company == "Chutzpa Productions"
    assert film.requires_approval is False


def test_outbox_deliver_with_nothing_to_send_exits_zero(runner):
    result = runner.invoke(args=["outbox", "deliver"])
    assert result.exit_code == 0
    assert result.output.strip() == "sent 0, failed 0"
