"""The periodic jobs, each with its schedule: one list that `flask jobs run` works through.

A job is idempotent (running it twice sends nothing twice), so a schedule only says how
soon its work is noticed. Add a job here and both `flask jobs run` (the loop that
`make run` starts, or `--once` from a systemd timer or cron) and the README pick it up.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import current_app

from .extensions import db
from .outbox import deliver_pending
from .services.alerts import send_digests
from .services.bookings import expire_past_bookings as expire_bookings
from .services.near_alerts import send_alerts
from .services.privacy import purge_attendee_data, purge_unconfirmed_subscriptions
from .services.reminders import send_reminders
from .services.reports import request_reports
from .services.rsvps import expire_address_holds as expire_holds


def send_due_reminders(lead_hours: float | None = None) -> str:
    """Remind screenings that start within lead_hours (default REMINDER_LEAD_HOURS)."""
    hours = current_app.config["REMINDER_LEAD_HOURS"] if lead_hours is None else lead_hours
    outcome = send_reminders(lead=timedelta(hours=float(hours)))
    return (
        f"reminded {outcome['screenings']} screening(s), queued {outcome['emails']} e-mail(s); "
        f"{_delivered()}"
    )


def request_due_reports(since_days: int = 30) -> str:
    """Ask organizers of screenings that ended (within since_days) for their report."""
    return f"requested {request_reports(since_days=since_days)} report(s); {_delivered()}"


def purge_old_personal_data(days: int | None = None) -> str:
    """Anonymise attendees and delete e-mail copies days after their screening; forget
    near-me subscriptions left unconfirmed."""
    if days is None:
        days = current_app.config["PRIVACY_RETENTION_DAYS"]
    outcome = purge_attendee_data(older_than_days=days)
    unconfirmed = purge_unconfirmed_subscriptions(
        older_than_days=current_app.config["NEARBY_UNCONFIRMED_DAYS"]
    )
    return (
        f"anonymised {outcome['rsvps']} RSVPs, deleted {outcome['emails']} e-mail copies "
        f"and {unconfirmed} unconfirmed near-me subscription(s)"
    )


def _delivered() -> str:
    delivered = deliver_pending()
    return f"sent {delivered['sent']}, failed {delivered['failed']}"


def send_producer_digests() -> str:
    """The daily digest of alerts for producers who chose it (services/alerts.py)."""
    return f"{send_digests()} digest(s) queued; {_delivered()}"


def expire_address_holds() -> str:
    """Release the seats of RSVPs that did not confirm their address in time."""
    return f"released {expire_holds()} unconfirmed hold(s); {_delivered()}"


def expire_past_bookings() -> str:
    """Decline bookings still waiting for approval when their date passed (organizer told)."""
    return f"expired {expire_bookings()} booking(s); {_delivered()}"


def send_near_me_alerts() -> str:
    """E-mail near-me subscribers the new screenings within their radius (one a day at most)."""
    return f"{send_alerts()} near-me alert(s) queued; {_delivered()}"


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    run: Callable[[], str]


JOBS: tuple[Job, ...] = (
    Job("address holds", timedelta(minutes=5), expire_address_holds),
    Job("reminders", timedelta(minutes=15), send_due_reminders),
    Job("expire bookings", timedelta(minutes=15), expire_past_bookings),
    Job("reports", timedelta(hours=1), request_due_reports),
    Job("privacy purge", timedelta(days=1), purge_old_personal_data),
    Job("alerts digest", timedelta(days=1), send_producer_digests),
    # Hourly: each subscriber's own day is counted from their last alert (near_alerts.py).
    Job("near-me alerts", timedelta(hours=1), send_near_me_alerts),
)


class Scheduler:
    """Runs each job when its interval has passed since it last ran (never run: at once).

    When each job last ran is kept in a small JSON file (``JOBS_STATE_FILE``, by default
    instance/jobs-state.json), so ``jobs run --once`` every 15 minutes still sends the daily
    digest once a day, and a restarted loop does not run everything again.
    """

    def __init__(
        self,
        jobs: tuple[Job, ...] | None = None,
        clock: Callable[[], float] = time.time,
        state_file: str | os.PathLike | None = None,
    ) -> None:
        self.jobs = JOBS if jobs is None else jobs
        self.clock = clock
        self.state_file = Path(state_file) if state_file else None
        self.last_run: dict[str, float] = self._load()

    def _load(self) -> dict[str, float]:
        if self.state_file is None or not self.state_file.is_file():
            return {}
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}  # unreadable: every job is due, which is safe (they are idempotent)
        return {k: float(v) for k, v in state.items() if isinstance(v, int | float)}

    def _save(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.state_file.with_suffix(".part")
        partial.write_text(json.dumps(self.last_run, indent=1, sort_keys=True))
        partial.replace(self.state_file)

    def run_due(self, report: Callable[[str], None]) -> int:
        """Run every due job once; a failing job is reported and retried next time. Failures."""
        failures = 0
        for job in self.jobs:
            last = self.last_run.get(job.name)
            now = self.clock()
            if last is not None and 0 <= now - last < job.every.total_seconds():
                continue
            try:
                report(f"{job.name}: {job.run()}")
                self.last_run[job.name] = now
                self._save()
            except Exception:  # one broken job must not stop the others
                db.session.rollback()
                current_app.logger.exception("job %s failed", job.name)
                report(f"{job.name}: failed (see the log); retried at the next tick")
                failures += 1
            finally:
                db.session.remove()
        return failures


def default_scheduler() -> Scheduler:
    """The app's jobs, with their last runs kept where JOBS_STATE_FILE says."""
    state = current_app.config.get("JOBS_STATE_FILE") or os.path.join(
        current_app.instance_path, "jobs-state.json"
    )
    return Scheduler(state_file=state)
