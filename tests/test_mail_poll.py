"""`flask mail poll` against a real IMAP server (Debian's Dovecot, started by the test), and
the same REPLY round trip through `flask mail receive`: a decline frees the seat, forgeries
change nothing, and a message read twice changes nothing the second time."""

from __future__ import annotations

import secrets

import pytest
from imap_tools import AND, MailBoxUnencrypted, MailMessageFlags

from screenings import emails
from screenings.extensions import db as _db
from screenings.models import InboundMessage, OutboxMessage, Rsvp, RsvpStatus, Screening

from . import imap_server
from .factories import make_screening
from .inbound_helpers import calendar_reply, deliver, dsn, full_house, state
from .rsvp_helpers import reply

pytestmark = pytest.mark.config(CALENDAR_REPLY_ADDRESS="replies@screenings.test")


@pytest.fixture(scope="module")
def dovecot():
    reason = imap_server.unavailable()
    if reason:
        pytest.skip(reason)
    server = imap_server.start(secrets.token_hex(8))
    yield server
    imap_server.stop(server)


@pytest.fixture
def mailbox(app, dovecot):
    """The app pointed at the Dovecot mailbox, emptied; yields a client to put mail in."""
    app.config.update(
        INBOUND_IMAP_HOST=dovecot.host,
        INBOUND_IMAP_PORT=dovecot.port,
        INBOUND_IMAP_USER=dovecot.user,
        INBOUND_IMAP_PASSWORD=dovecot.password,
        INBOUND_IMAP_SSL=False,
        INBOUND_IMAP_FOLDER="INBOX",
        INBOUND_IMAP_DONE_FOLDER=None,
    )
    with MailBoxUnencrypted(dovecot.host, dovecot.port).login(
        dovecot.user, dovecot.password
    ) as box:
        for folder in box.folder.list():
            box.folder.set(folder.name)
            box.delete(box.uids())
        box.folder.set("INBOX")
        yield box


def _forgeries(invite, organizer: str) -> list:
    """Replies that must change nothing: someone else's calendar with Ann's token, Ann's
    address with a guessed token, and no token at all (the From line says Ann)."""
    guessed = "replies+" + "".join(
        secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(32)
    )
    forged = []
    for attendee, recipient in [
        ("eve@example.org", organizer),
        ("ann@example.org", guessed + "@screenings.test"),
        ("ann@example.org", "replies@screenings.test"),
    ]:
        message = calendar_reply(invite, attendee, "DECLINED")
        del message["To"]
        message["To"] = recipient
        forged.append(message)
    return forged


def _unseen(mailbox) -> list[str]:
    mailbox.folder.set("INBOX")  # see what the poller's own session changed
    return mailbox.uids(AND(seen=False))


def _poll(runner) -> str:
    result = runner.invoke(args=["mail", "poll", "--once"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def _outbox_count() -> int:
    return _db.session.scalar(_db.select(_db.func.count(OutboxMessage.id)))


def test_reply_round_trip_through_mail_poll(db, smtp, runner, mailbox):
    screening, ann, bob, invite, organizer = full_house(smtp)
    for forged in _forgeries(invite, organizer):
        mailbox.append(forged.as_bytes(), "INBOX")
    assert _poll(runner) == "ignored 3"
    assert state(ann, bob) == [(RsvpStatus.CONFIRMED, None), (RsvpStatus.WAITLISTED, None)]

    mailbox.append(calendar_reply(invite, "ann@example.org", "DECLINED").as_bytes(), "INBOX")
    assert _poll(runner) == "declined 1"
    assert state(ann, bob) == [(RsvpStatus.CANCELLED, None), (RsvpStatus.CONFIRMED, None)]
    assert _db.session.get(Screening, screening.id).seats_taken == 1
    assert _unseen(mailbox) == []  # every message marked seen once acted on
    assert _poll(runner) == "no new mail"

    # A crash after acting but before marking: every message comes back unseen. Nothing
    # happens twice: no seat, no e-mail, no second cancellation.
    deliver()
    queued = _outbox_count()
    mailbox.flag(mailbox.uids(), MailMessageFlags.SEEN, False)
    assert _poll(runner) == "ignored 4"
    assert state(ann, bob) == [(RsvpStatus.CANCELLED, None), (RsvpStatus.CONFIRMED, None)]
    assert _outbox_count() == queued
    assert _db.session.scalar(_db.select(_db.func.count(InboundMessage.id))) == 4


def test_reply_round_trip_through_mail_receive(db, smtp, runner):
    _screening, ann, bob, invite, organizer = full_house(smtp)
    for forged in _forgeries(invite, organizer):
        result = runner.invoke(args=["mail", "receive"], input=forged.as_bytes())
        assert result.exit_code == 0, result.output
        assert result.output.startswith("ignored"), result.output
    assert state(ann, bob) == [(RsvpStatus.CONFIRMED, None), (RsvpStatus.WAITLISTED, None)]

    declined = calendar_reply(invite, "ann@example.org", "DECLINED").as_bytes()
    result = runner.invoke(args=["mail", "receive"], input=declined)
    assert (result.exit_code, result.output.split()[0]) == (0, "declined")
    assert state(ann, bob) == [(RsvpStatus.CANCELLED, None), (RsvpStatus.CONFIRMED, None)]
    # The MTA delivers it again (a retry after a lost answer): nothing happens twice.
    again = runner.invoke(args=["mail", "receive"], input=declined)
    assert again.output.strip() == "ignored already processed"
    # The old name still works for deployments that pipe to it.
    old = runner.invoke(args=["inbound", "receive"], input=declined)
    assert (old.exit_code, old.output.strip()) == (0, "ignored already processed")


def test_a_bounce_polled_from_the_mailbox_stops_mail_to_that_address(db, smtp, runner, mailbox):
    ann = reply(make_screening(), "ann@example.org")
    deliver()
    [envelope_sender] = [e.mail_from for e in smtp.envelopes if "ann@example.org" in e.rcpt_tos]
    mailbox.append(dsn("ann@example.org", "5.1.1", to=envelope_sender), "INBOX")
    assert _poll(runner) == "bounce 1"
    smtp.clear()
    emails.send_rsvp_reminder(_db.session.get(Rsvp, ann.id))
    _db.session.commit()
    deliver()
    assert smtp.to("ann@example.org") == []


def test_poll_moves_processed_mail_to_the_done_folder(db, smtp, runner, app, mailbox):
    app.config["INBOUND_IMAP_DONE_FOLDER"] = "Processed"
    _screening, ann, _bob, invite, _organizer = full_house(smtp)
    mailbox.append(calendar_reply(invite, "ann@example.org", "TENTATIVE").as_bytes(), "INBOX")
    assert _poll(runner) == "tentative 1"
    assert state(ann) == [(RsvpStatus.CONFIRMED, "TENTATIVE")]
    assert _unseen(mailbox) == []
    assert mailbox.uids() == []
    mailbox.folder.set("Processed")
    assert len(mailbox.uids()) == 1


def test_an_unreachable_mailbox_is_a_temporary_failure(db, runner, app, dovecot):
    app.config.update(
        INBOUND_IMAP_HOST="127.0.0.1",
        INBOUND_IMAP_PORT=dovecot.port,
        INBOUND_IMAP_USER="inbox",
        INBOUND_IMAP_PASSWORD="wrong",
        INBOUND_IMAP_SSL=False,
    )
    result = runner.invoke(args=["mail", "poll", "--once"])
    assert result.exit_code == 75, result.output


def test_poll_without_a_mailbox_says_what_to_set(db, runner):
    result = runner.invoke(args=["mail", "poll", "--once"])
    assert result.exit_code != 0
    assert "FLASK_INBOUND_IMAP_HOST" in result.output


def test_the_laptop_polls_only_when_a_mailbox_is_configured():
    from screenings.laptop import commands

    assert "inbox" not in commands(5000, 1025)
    assert commands(5000, 1025, poll=True)["inbox"][-2:] == ["mail", "poll"]


def test_the_imap_settings_are_read_from_the_environment(monkeypatch, tmp_path):
    from screenings import create_app
    from screenings.config import ConfigurationError

    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("FLASK_INBOUND_IMAP_HOST", "imap.example.org")
    monkeypatch.setenv("FLASK_INBOUND_IMAP_PORT", "143")
    monkeypatch.setenv("FLASK_INBOUND_IMAP_USER", "replies@example.org")
    monkeypatch.setenv("FLASK_INBOUND_IMAP_SSL", "false")
    config = create_app().config
    assert (config["INBOUND_IMAP_HOST"], config["INBOUND_IMAP_PORT"]) == ("imap.example.org", 143)
    assert (config["INBOUND_IMAP_USER"], config["INBOUND_IMAP_SSL"]) == (
        "replies@example.org",
        False,
    )
    monkeypatch.setenv("FLASK_INBOUND_IMAP_PORT", "imap")
    with pytest.raises(ConfigurationError, match="FLASK_INBOUND_IMAP_PORT"):
        create_app()
