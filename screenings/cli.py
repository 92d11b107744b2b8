"""flask --app screenings … commands."""

from __future__ import annotations

import secrets
import time

import click
from flask import Flask
from flask.cli import AppGroup

from .extensions import db
from .outbox import deliver_pending
from .services import DomainError
from .services.films import seed_catalogue
from .services.producers import create_producer, producer_count

producer_cli = AppGroup("producer", help="Producer accounts.")
outbox_cli = AppGroup("outbox", help="The e-mail outbox.")
feeds_cli = AppGroup("feeds", help="The calendar feeds.")


@feeds_cli.command("build")
@click.option("--watch", type=float, default=0, help="Keep going, looking every S seconds.")
def feeds_build(watch: float) -> None:
    """Build every feed, in every language, that a change has made stale (or never built)."""
    from .services.feeds import build_stale_feeds

    while True:
        built = build_stale_feeds()
        if not watch:
            click.echo(f"{built} feeds built.")
            return
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
    click.echo(f"sent {outcome['sent']}, failed {outcome['failed']}")


@outbox_cli.command("run")
@click.option("--interval", type=float, default=5.0, show_default=True)
@click.option("--iterations", type=int, default=0, help="Stop after N rounds (0: run forever).")
def outbox_run(interval: float, iterations: int) -> None:
    """Keep delivering: a long-running worker; run as many as you like."""
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
    app.cli.add_command(demo_data)


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
    from datetime import timedelta

    from flask import current_app

    from .services.reminders import send_reminders

    hours = current_app.config["REMINDER_LEAD_HOURS"] if lead_hours is None else lead_hours
    outcome = send_reminders(lead=timedelta(hours=float(hours)))
    delivered = deliver_pending()
    click.echo(
        f"reminded {outcome['screenings']} screening(s), queued {outcome['emails']} e-mail(s); "
        f"sent {delivered['sent']}, failed {delivered['failed']}"
    )


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
    from .services.reports import request_reports

    queued = request_reports(since_days=since_days)
    delivered = deliver_pending()
    click.echo(
        f"requested {queued} report(s); sent {delivered['sent']}, failed {delivered['failed']}"
    )


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
    from flask import current_app

    from .services.privacy import purge_attendee_data

    outcome = purge_attendee_data(
        older_than_days=days if days is not None else current_app.config["PRIVACY_RETENTION_DAYS"]
    )
    click.echo(f"anonymised {outcome['rsvps']} RSVPs, deleted {outcome['emails']} e-mail copies")


@click.command("demo-data")
@click.option("--screenings", "screening_count", type=click.IntRange(0), default=1000)
@click.option("--rsvps", "rsvp_count", type=click.IntRange(0), default=10_000)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same data.")
def demo_data(screening_count: int, rsvp_count: int, seed: int) -> None:
    """Fill the database with realistic demo data in bulk (for trying it out and benchmarks)."""
    from .demo import generate

    started = time.monotonic()
    with click.progressbar(length=screening_count + rsvp_count, label="Demo data") as bar:
        outcome = generate(screening_count, rsvp_count, seed=seed, progress=bar.update)
    click.echo(
        f"{outcome.films} films, {outcome.screenings} screenings, {outcome.licences} licences, "
        f"{outcome.rsvps} RSVPs, {outcome.reports} reports in {time.monotonic() - started:.1f} s"
    )
