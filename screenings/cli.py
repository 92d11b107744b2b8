"""flask --app screenings … commands."""

from __future__ import annotations

import gc
import imaplib
import os
import secrets
import time
from collections.abc import Callable
from typing import BinaryIO

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from imap_tools.errors import ImapToolsError
from sqlalchemy.exc import OperationalError

from . import jobs
from .extensions import app_object, db
from .jobs import send_near_me_alerts, send_producer_digests
from .outbox import deliver_pending
from .services import DomainError
from .services.feeds import FeedPasses
from .services.films import seed_catalogue
from .services.inbound import imap_configured, lmtp_server, poll_mailbox, receive_message
from .services.producers import create_producer, producer_count

producer_cli = AppGroup("producer", help="Producer accounts.")
outbox_cli = AppGroup("outbox", help="The e-mail outbox.")
feeds_cli = AppGroup("feeds", help="The calendar feeds.")


@feeds_cli.command("build")
@click.option("--watch", type=float, default=0, help="Keep going, looking every S seconds.")
def feeds_build(watch: float) -> None:
    """Build every feed, in every language, that a change has made stale (or never built).
    With --watch, a line after the first pass and after each pass that built a feed. Runs
    at FEED_BUILDER_NICE (lower priority: the web workers on the host come first)."""
    if nice := int(current_app.config["FEED_BUILDER_NICE"]):
        os.nice(nice)
    first = True
    passes = FeedPasses()  # one for the run: it remembers what the last pass stored
    while True:
        started = time.monotonic()
        built = passes.run()
        # What a pass keeps (its events and segments, for the next) lives long: frozen, the
        # collector's full passes skip it and walk only what the next pass makes (at 100,000
        # screenings they cost a pass 0.1-0.3 s of CPU otherwise; README "Performance").
        gc.freeze()
        if first or built or not watch:
            click.echo(f"{built} feeds built in {time.monotonic() - started:.1f} s.")
        if not watch:
            return
        first = False
        db.session.remove()  # the next look sees the latest commits
        time.sleep(watch)


@producer_cli.command("create")
@click.argument("email")
@click.option("--password", help="Prompted for (hidden) when not given.")
def producer_create(email: str, password: str | None) -> None:
    """Create a producer account."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        create_producer(email, password)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Producer {email} created.")


@producer_cli.command("bootstrap")
@click.option("--email", default="producer@localhost", show_default=True)
def producer_bootstrap(email: str) -> None:
    """On a new install only: create a first producer with a one-time random password."""
    if producer_count():
        click.echo("A producer account exists already; nothing to do.")
        return
    password = secrets.token_urlsafe(18)
    create_producer(email, password)
    banner = "*" * 72
    click.echo(
        f"\n{banner}\nFirst producer account created (shown once, not stored in clear):\n"
        f"  e-mail:   {email}\n  password: {password}\n"
        f"Log in at /producer/login. Create your own account with\n"
        f"  flask --app screenings producer create YOU@EXAMPLE.ORG\n{banner}\n"
    )


@outbox_cli.command("deliver")
@click.option("--limit", type=int, default=None, help="At most this many messages.")
def outbox_deliver(limit: int | None) -> None:
    """Send every due message once (for cron); failures wait for the next run."""
    outcome = deliver_pending(limit=limit)
    suppressed = outcome.get("suppressed", 0)
    click.echo(
        f"sent {outcome['sent']}, failed {outcome['failed']}"
        + (f", not sent to suppressed addresses {suppressed}" if suppressed else "")
    )


@outbox_cli.command("run")
@click.option("--interval", type=float, default=5.0, show_default=True)
@click.option("--iterations", type=int, default=0, help="Stop after N rounds (0: run forever).")
def outbox_run(interval: float, iterations: int) -> None:
    """Keep delivering: a long-running worker; run as many as you like."""
    try:
        _deliver_forever(interval, iterations)
    except KeyboardInterrupt:  # Ctrl-C: a message being sent now is retried once stale
        return


def _deliver_forever(interval: float, iterations: int) -> None:
    rounds = 0
    while True:
        outcome = deliver_pending(limit=500)
        if outcome["sent"] or outcome["failed"]:
            click.echo(f"sent {outcome['sent']}, failed {outcome['failed']}")
        rounds += 1
        if iterations and rounds >= iterations:
            return
        db.session.remove()
        if not (outcome["sent"] or outcome["failed"]):
            time.sleep(interval)


@click.command("seed")
def seed() -> None:
    """Add the film catalogue (idempotent)."""
    films = seed_catalogue()
    click.echo(f"Catalogue: {', '.join(film.title for film in films)}")


def register(app: Flask) -> None:
    app.cli.add_command(producer_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(feeds_cli)
    app.cli.add_command(seed)
    app.cli.add_command(reminders_cli)
    app.cli.add_command(reports_cli)
    app.cli.add_command(privacy_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(mail_catcher)
    app.cli.add_command(laptop)
    app.cli.add_command(demo_data)
    app.cli.add_command(alerts_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(near_me_cli)
    app.cli.add_command(inbound_cli)


reminders_cli = AppGroup("reminders", help="Reminder e-mails before screenings.")


@reminders_cli.command("send")
@click.option(
    "--lead-hours",
    type=float,
    default=None,
    help="Remind screenings starting within this many hours (default: REMINDER_LEAD_HOURS).",
)
def reminders_send(lead_hours: float | None) -> None:
    """E-mail organizers and attendees of screenings that start soon (idempotent; for cron)."""
    click.echo(jobs.send_due_reminders(lead_hours))


reports_cli = AppGroup("reports", help="Post-screening reports.")


@reports_cli.command("request")
@click.option(
    "--since-days",
    type=int,
    default=30,
    show_default=True,
    help="Only screenings that started within this many days (older ones are left alone).",
)
def reports_request(since_days: int) -> None:
    """E-mail each organizer whose screening ended the link to its report (idempotent; cron)."""
    click.echo(jobs.request_due_reports(since_days))


privacy_cli = AppGroup("privacy", help="Personal data.")


@privacy_cli.command("purge")
@click.option(
    "--days",
    type=int,
    default=None,
    help="Days after a screening (default: PRIVACY_RETENTION_DAYS, 30).",
)
def privacy_purge(days: int | None) -> None:
    """Remove attendees' personal data and old e-mail copies after their screening (for cron)."""
    click.echo(jobs.purge_old_personal_data(days))


jobs_cli = AppGroup("jobs", help="The periodic jobs: reminders, report requests, privacy purge.")


@jobs_cli.command("run")
@click.option("--once", is_flag=True, help="Run the due jobs once and exit (for a timer or cron).")
@click.option("--tick", type=float, default=30.0, show_default=True, help="Seconds between checks.")
def jobs_run(once: bool, tick: float) -> None:
    """Run each periodic job when it is due, for ever (or once); jobs.py lists them."""
    scheduler = jobs.default_scheduler()
    try:
        while True:
            failures = scheduler.run_due(click.echo)
            if once:
                if failures:
                    raise SystemExit(1)
                return
            time.sleep(tick)
    except KeyboardInterrupt:
        return


@click.command("mail-catcher")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=1025, show_default=True)
@click.option("--folder", default=None, help="Where to store messages (default: DEV_MAIL_DIR).")
def mail_catcher(host: str, port: int, folder: str | None) -> None:
    """Development: an SMTP server that keeps every message as a file (read them at /dev/mail)."""
    from .devmail import start_catcher  # noqa: PLC0415 a development command's own module

    folder = folder or current_app.config.get("DEV_MAIL_DIR") or _default_mail_dir()
    controller = start_catcher(folder, host, port)
    click.echo(f"Catching mail on {host}:{port} into {folder}")
    _wait_for_ctrl_c(controller.stop)


def _default_mail_dir() -> str:
    return os.path.join(current_app.instance_path, "mail")


@click.command("laptop")
@click.option("--port", type=int, default=5000, show_default=True, help="The web server's port.")
@click.option("--mail-port", type=int, default=1025, show_default=True)
@click.option("--mail-dir", default=None, help="Caught mail (default: instance/mail).")
def laptop(port: int, mail_port: int, mail_dir: str | None) -> None:
    """Development: the web server, delivery worker, periodic jobs and a mail catcher, together
    (and `mail poll` when an IMAP mailbox is configured).

    Stops them all on Ctrl-C, or when any one of them stops.
    """
    from .laptop import run_together  # noqa: PLC0415 a development command's own module

    raise SystemExit(
        run_together(
            port=port,
            mail_port=mail_port,
            mail_dir=mail_dir or _default_mail_dir(),
            poll=imap_configured(),
        )
    )


@click.command("demo-data")
@click.option("--screenings", "screening_count", type=click.IntRange(0), default=1000)
@click.option("--rsvps", "rsvp_count", type=click.IntRange(0), default=10_000)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same data.")
def demo_data(screening_count: int, rsvp_count: int, seed: int) -> None:
    """Fill the database with realistic demo data in bulk (for trying it out and benchmarks)."""
    from .demo import generate  # noqa: PLC0415 a development command's own module

    started = time.monotonic()
    with click.progressbar(length=screening_count + rsvp_count, label="Demo data") as bar:
        outcome = generate(screening_count, rsvp_count, seed=seed, progress=bar.update)
    click.echo(
        f"{outcome.films} films, {outcome.screenings} screenings, {outcome.licences} licences, "
        f"{outcome.rsvps} RSVPs, {outcome.reports} reports in {time.monotonic() - started:.1f} s"
    )


alerts_cli = AppGroup("alerts", help="Producers' alerts.")


@alerts_cli.command("digest")
def alerts_digest() -> None:
    """E-mail each digest-reading producer what happened since their last digest (for cron)."""
    click.echo(send_producer_digests())


near_me_cli = AppGroup("near-me", help="Alerts of new screenings near a subscriber's town.")


@near_me_cli.command("alerts")
def near_me_alerts() -> None:
    """E-mail near-me subscribers the new screenings within their radius (one a day at most)."""
    click.echo(send_near_me_alerts())


mail_cli = AppGroup("mail", help="Mail coming back: calendar replies, bounces, people's answers.")
# The commands' first home; kept, hidden, so deployments that pipe to it go on working.
inbound_cli = AppGroup("inbound", help="Old name of `flask mail`.", hidden=True)


@click.command("serve")
@click.option("--host", default=None, help="Default: INBOUND_LMTP_HOST (loopback).")
@click.option("--port", type=int, default=None, help="Default: INBOUND_LMTP_PORT.")
def mail_serve(host: str | None, port: int | None) -> None:
    """Serve LMTP for the MTA to deliver the reply and bounce addresses' mail to (runs until
    stopped)."""
    app = app_object()
    host = host or app.config["INBOUND_LMTP_HOST"]
    port = port or app.config["INBOUND_LMTP_PORT"]
    server = lmtp_server(app, host, port)
    server.start()
    click.echo(f"LMTP on {host}:{port}; Ctrl-C stops")
    _wait_for_ctrl_c(server.stop)


@click.command("receive")
@click.argument("message", type=click.File("rb"), default="-")
@click.option("--recipient", multiple=True, help="Envelope recipient (Postfix: ${recipient}).")
def mail_receive(message: BinaryIO, recipient: tuple[str, ...]) -> None:
    """Read one message (stdin: an MTA's pipe) and act on it; exits 0 unless the database
    fails, so the MTA never bounces a reply back to a possibly forged sender."""
    try:
        outcome = receive_message(message.read(), recipient)
    except OperationalError as error:
        click.echo(f"database unavailable: {error.__class__.__name__}", err=True)
        raise SystemExit(EX_TEMPFAIL) from None  # Postfix and Exim queue it and retry
    click.echo(f"{outcome.kind} {outcome.detail}".strip())


# sysexits.h: a temporary failure; the MTA (or cron's next run) tries again.
EX_TEMPFAIL = 75


@click.command("poll")
@click.option("--once", is_flag=True, help="Read the mailbox once and exit (for cron).")
@click.option(
    "--interval", type=float, default=None, help="Seconds between looks (INBOUND_IMAP_INTERVAL)."
)
def mail_poll(once: bool, interval: float | None) -> None:
    """Fetch unseen messages from the IMAP mailbox (FLASK_INBOUND_IMAP_*) and act on each as
    `mail receive` does, then mark it seen; for hosts without their own MTA."""
    if not imap_configured():
        raise click.ClickException("No mailbox to poll: set FLASK_INBOUND_IMAP_HOST (README).")
    interval = interval or current_app.config["INBOUND_IMAP_INTERVAL"]
    try:
        while True:
            try:
                counts = poll_mailbox()
            except (OSError, imaplib.IMAP4.error, ImapToolsError, OperationalError) as error:
                click.echo(f"mailbox not read: {error.__class__.__name__}: {error}", err=True)
                if once:
                    raise SystemExit(EX_TEMPFAIL) from None
            else:
                if once or counts:
                    click.echo(
                        ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
                        or "no new mail"
                    )
                if once:
                    return
            db.session.remove()
            time.sleep(interval)
    except KeyboardInterrupt:
        return


for _command in (mail_serve, mail_receive, mail_poll):
    mail_cli.add_command(_command)
for _command in (mail_serve, mail_receive):
    inbound_cli.add_command(_command)


def _wait_for_ctrl_c(stop: Callable[[], object]) -> None:
    """Keep a server started in threads running until Ctrl-C, then stop it."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
