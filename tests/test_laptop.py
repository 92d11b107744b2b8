"""The laptop that works: `flask laptop` (make run) runs web, worker, jobs and a mail catcher."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from screenings import create_app
from screenings.devmail import start_catcher
from screenings.extensions import db as _db
from screenings.jobs import Job, Scheduler
from screenings.services.films import seed_catalogue

from .conftest import app_config, booking_data, dispose_app_engine, free_port, submit
from .factories import make_screening
from .rsvp_helpers import reply

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- the periodic jobs
@pytest.mark.config(REMINDER_LEAD_HOURS=72)
def test_jobs_run_once_runs_every_job(runner, db, smtp):
    soon = make_screening(start_date=(datetime.now(UTC) + timedelta(hours=30)).date())
    reply(soon, "ann@example.org")
    result = runner.invoke(args=["jobs", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "reminders: reminded 1 screening(s), queued 2 e-mail(s)" in result.output
    assert "reports: requested 0 report(s)" in result.output
    assert "privacy purge: anonymised 0 RSVPs" in result.output
    recipients = {m["To"].addresses[0].addr_spec for m in smtp.wait_for(4)}
    assert {"ann@example.org", "miriam@example.org"} <= recipients


def test_each_job_runs_on_its_own_schedule_and_a_failure_stops_none(app):
    now = [0.0]
    runs: list[str] = []

    def broken() -> str:
        runs.append("broken")
        raise RuntimeError("boom")

    scheduler = Scheduler(
        (
            Job("often", timedelta(minutes=1), lambda: runs.append("often") or "ok"),
            Job("broken", timedelta(hours=1), broken),
            Job("daily", timedelta(days=1), lambda: runs.append("daily") or "ok"),
        ),
        clock=lambda: now[0],
    )
    lines: list[str] = []
    assert scheduler.run_due(lines.append) == 1
    assert runs == ["often", "broken", "daily"]
    assert "broken: failed (see the log); retried at the next tick" in lines
    now[0] = 61
    runs.clear()
    scheduler.run_due(lines.append)
    assert runs == ["often", "broken"]  # the failed job is retried, the daily one waits
    now[0] = 86_400
    runs.clear()
    scheduler.run_due(lines.append)
    assert runs == ["often", "broken", "daily"]


def test_jobs_run_once_runs_only_what_is_due_since_the_last_run(runner, app):
    first = runner.invoke(args=["jobs", "run", "--once"])
    assert first.exit_code == 0, first.output
    assert "alerts digest:" in first.output
    again = runner.invoke(args=["jobs", "run", "--once"])
    assert again.exit_code == 0
    assert again.output == ""  # nothing due: the daily digest is not sent every 15 minutes
    assert Path(app.config["JOBS_STATE_FILE"]).is_file()


def test_the_schedule_survives_a_restart_and_a_broken_state_file(app, tmp_path):
    state = tmp_path / "state.json"
    runs: list[str] = []
    job = (Job("daily", timedelta(days=1), lambda: runs.append("daily") or "ok"),)
    Scheduler(job, clock=lambda: 1000.0, state_file=state).run_due(lambda line: None)
    Scheduler(job, clock=lambda: 2000.0, state_file=state).run_due(lambda line: None)
    assert runs == ["daily"]
    Scheduler(job, clock=lambda: 1000.0 + 86_400, state_file=state).run_due(lambda line: None)
    assert runs == ["daily", "daily"]
    state.write_text("not json")
    Scheduler(job, clock=lambda: 0.0, state_file=state).run_due(lambda line: None)
    assert runs == ["daily", "daily", "daily"]


def test_jobs_run_once_fails_when_a_job_fails(runner, monkeypatch):
    from screenings import jobs

    monkeypatch.setattr(jobs, "JOBS", (Job("broken", timedelta(hours=1), lambda: 1 / 0),))
    result = runner.invoke(args=["jobs", "run", "--once"])
    assert result.exit_code == 1
    assert "broken: failed" in result.output


# ---------------------------------------------------------------- the mail catcher and its page
@pytest.fixture
def catcher(app, tmp_path):
    """The development mail catcher on a free port, with the app sending to it."""
    folder = tmp_path / "mail"
    controller = start_catcher(folder, port=free_port())
    state = app.extensions["mail"]
    real_port, state.port = state.port, controller.port
    app.config["DEV_MAIL_DIR"] = str(folder)
    yield folder
    state.port = real_port
    controller.stop()


def test_the_catcher_stores_and_the_page_lists_what_was_sent(app, catcher, database_uri, tmp_path):
    client = app.test_client()
    submit(client, "/book", booking_data())
    stored = list(catcher.glob("*.eml"))
    assert len(stored) == 1
    assert b"miriam@example.org" in stored[0].read_bytes()

    dev = create_app(
        app_config(database_uri, 1, DEV_MAIL_DIR=str(catcher), PAGE_CACHE_ENABLED=False)
    )
    with dev.test_client() as browser:
        listing = browser.get("/dev/mail")
        assert listing.status_code == 200
        page = listing.get_data(as_text=True)
        assert "Miriam Cohen" in page
        assert "The Killing Roads" in page
        detail = browser.get(f"/dev/mail/{stored[0].name}")
        assert detail.status_code == 200
        assert "http://screenings.test/manage/" in detail.get_data(as_text=True)
        assert browser.get("/dev/mail/..%2Fscreenings.db").status_code == 404
        assert browser.get("/dev/mail/x.eml").status_code == 404
        remote = browser.get("/dev/mail", environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert remote.status_code == 404  # only this machine may read the caught mail


def test_no_dev_page_without_a_catcher_folder(client):
    assert client.get("/dev/mail").status_code == 404


def test_no_dev_page_in_production(database_uri, tmp_path, patched_python):
    app = create_app(app_config(database_uri, 1, ENV_NAME="production", DEV_MAIL_DIR=str(tmp_path)))
    assert "dev" not in app.blueprints
    assert not [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/dev")]
    assert app.test_client().get("/dev/mail").status_code == 404


# ---------------------------------------------------------------- make run, end to end
def _wait_for(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _page(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def test_laptop_delivers_a_queued_message_and_stops_everything_on_ctrl_c(tmp_path, smtp_server):
    """What `make run` starts: a message queued before it started reaches the catcher
    (worker), reminders go out (jobs), /dev/mail shows them (web), Ctrl-C stops all five."""
    uri = f"sqlite:///{tmp_path}/laptop.db"
    setup = create_app(app_config(uri, smtp_server.port))
    with setup.app_context():
        _db.create_all()
        seed_catalogue()
        make_screening(start_date=(datetime.now(UTC) + timedelta(hours=30)).date())
        _db.session.remove()
        dispose_app_engine()
    web_port, mail_port, mail_dir = free_port(), free_port(), tmp_path / "caught"
    env = {
        **os.environ,
        "FLASK_SQLALCHEMY_DATABASE_URI": uri,
        "FLASK_SECRET_KEY": "laptop-test-" + "x" * 32,
        "FLASK_REMINDER_LEAD_HOURS": "72",
        "FLASK_JOBS_STATE_FILE": str(tmp_path / "jobs-state.json"),
    }
    laptop = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "screenings",
            "laptop",
            "--port",
            str(web_port),
            "--mail-port",
            str(mail_port),
            "--mail-dir",
            str(mail_dir),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # The licence e-mail queued above, and the organizer's reminder from the jobs.
        # Generous: five processes start beside whatever else the suite runs (a CI run took
        # 45 s at load 4 where the test alone takes 15 s).
        caught = _wait_for(lambda: len(list(mail_dir.glob("*.eml"))) >= 2 or None, 90)
        assert caught, "nothing reached the mail catcher"
        page = _wait_for(lambda: _page(f"http://127.0.0.1:{web_port}/dev/mail"), 30)
        assert page is not None, "the web server did not answer"
        assert "Reminder" in page
        assert "screening licence" in page
        # Queued while it runs, outside any request: only the delivery worker sends it.
        with setup.app_context():
            make_screening(venue_name="Second Hall")
            _db.session.remove()
            dispose_app_engine()
        assert _wait_for(lambda: len(list(mail_dir.glob("*.eml"))) >= 3 or None, 60)
    finally:
        laptop.send_signal(signal.SIGINT)
        output, _ = laptop.communicate(timeout=30)
    assert laptop.returncode == 0, output
    for name in ("mail", "worker", "jobs", "feeds", "web"):
        assert f"{name:>6} | " in output, output
    assert not _port_open(web_port)
    assert not _port_open(mail_port)
