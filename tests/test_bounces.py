"""Bounces (RFC 3464) back to each message's own VERP envelope sender, through the real SMTP
server on loopback and `flask mail receive`: a hard bounce stops mail to that address and
tells the organizer (a guest's) or the producers (the organizer's) once; a soft one is only
recorded; a report without the message's token changes nothing."""

from __future__ import annotations

import re

import pytest

from screenings import emails
from screenings.extensions import db as _db
from screenings.models import MailBounce, OutboxMessage, OutboxStatus, SuppressedAddress
from screenings.services import privacy
from screenings.services.producers import create_producer

from .conftest import hidden_fields
from .factories import make_screening
from .inbound_helpers import deliver, dsn
from .producer_helpers import PRODUCER_EMAIL, PRODUCER_PASSWORD, log_in
from .rsvp_helpers import reply

pytestmark = pytest.mark.config(CALENDAR_REPLY_ADDRESS="replies@screenings.test")
VERP = re.compile(r"bounce\+[a-z2-7]{32}@screenings\.test")


def _envelopes_to(smtp, address: str) -> list[str]:
    """The MAIL FROM of every message the SMTP server took for address."""
    return [e.mail_from for e in smtp.envelopes if address in e.rcpt_tos]


def _receive(runner, raw: bytes) -> str:
    result = runner.invoke(args=["mail", "receive"], input=raw)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def _rows(address: str) -> list[OutboxMessage]:
    _db.session.expire_all()
    return list(
        _db.session.scalars(
            _db.select(OutboxMessage)
            .where(OutboxMessage.recipient == address)
            .order_by(OutboxMessage.id)
        )
    )


def _remind(smtp, ann) -> int:
    """Send Ann a reminder through the outbox; how many messages reached her."""
    smtp.clear()
    emails.send_rsvp_reminder(_db.session.get(type(ann), ann.id))
    _db.session.commit()
    deliver()
    return len(smtp.to("ann@example.org"))


def _guest_with_a_sent_invite(smtp):
    screening = make_screening()
    ann = reply(screening, "ann@example.org")
    deliver()
    [envelope_sender] = _envelopes_to(smtp, "ann@example.org")
    return screening, ann, envelope_sender


def test_each_message_leaves_with_its_own_unguessable_envelope_sender(db, smtp):
    screening = make_screening()
    reply(screening, "ann@example.org")
    reply(screening, "bob@example.org")
    deliver()
    senders = [e.mail_from for e in smtp.envelopes]
    assert len(senders) >= 3  # the organizer's mail and the two guests'
    assert all(VERP.fullmatch(sender) for sender in senders), senders
    assert len(set(senders)) == len(senders)
    # The From line people see is still the app's sender.
    assert all("screenings@example.org" in str(m["From"]) for m in smtp.messages)


@pytest.mark.config(CALENDAR_REPLY_ADDRESS=None)
def test_without_a_bounce_address_the_envelope_sender_is_the_sender(db, smtp):
    reply(make_screening(), "ann@example.org")
    deliver()
    assert {e.mail_from for e in smtp.envelopes} == {"screenings@example.org"}


@pytest.mark.config(BOUNCE_ADDRESS="returns@mx.example.net")
def test_a_configured_bounce_address_is_used(db, smtp):
    reply(make_screening(), "ann@example.org")
    deliver()
    assert all(
        re.fullmatch(r"returns\+[a-z2-7]{32}@mx\.example\.net", e.mail_from) for e in smtp.envelopes
    )


def test_a_hard_bounce_stops_mail_to_that_address_and_tells_the_organizer_once(db, smtp, runner):
    _screening, ann, envelope_sender = _guest_with_a_sent_invite(smtp)
    smtp.clear()

    assert _receive(runner, dsn("ann@example.org", "5.1.1", to=envelope_sender)).startswith(
        "bounce"
    )
    [invite] = _rows("ann@example.org")
    assert (invite.status, invite.bounced_at is not None) == (OutboxStatus.BOUNCED, True)
    assert "5.1.1" in invite.last_error
    [suppressed] = _db.session.scalars(_db.select(SuppressedAddress)).all()
    assert suppressed.email_normalized == "ann@example.org"
    deliver()
    [notice] = smtp.to("miriam@example.org")
    assert "ann@example.org" in notice.get_body(("plain",)).get_content()
    assert "Ann Attendee" in notice.get_body(("plain",)).get_content()

    # The next e-mail to Ann is refused by the outbox, and says so; no SMTP server sees it.
    assert _remind(smtp, ann) == 0
    assert _rows("ann@example.org")[-1].status == OutboxStatus.SUPPRESSED

    # A second bounce (another message already on its way) tells no one again.
    earlier = _rows("ann@example.org")[-1]
    earlier.status = OutboxStatus.SENT
    _db.session.commit()
    from screenings.outbox import envelope_sender as sender_of

    assert _receive(runner, dsn("ann@example.org", "5.1.1", to=sender_of(earlier))) == (
        f"bounce message {earlier.id}: bounced"
    )
    assert _rows("ann@example.org")[-1].status == OutboxStatus.BOUNCED
    deliver()
    assert smtp.to("miriam@example.org") == []


def test_the_same_bounce_twice_changes_nothing_the_second_time(db, smtp, runner):
    _screening, _ann, envelope_sender = _guest_with_a_sent_invite(smtp)
    report = dsn("ann@example.org", "5.1.1", to=envelope_sender)
    _receive(runner, report)
    assert _receive(runner, report) == "ignored already processed"
    [bounce] = _db.session.scalars(_db.select(MailBounce)).all()
    assert bounce.bounces == 1


def test_a_soft_bounce_is_recorded_and_mail_still_goes(db, smtp, runner):
    _screening, ann, envelope_sender = _guest_with_a_sent_invite(smtp)
    _receive(runner, dsn("ann@example.org", "4.2.2", to=envelope_sender))
    [invite] = _rows("ann@example.org")
    assert invite.status == OutboxStatus.BOUNCED
    assert "temporarily" in invite.last_error
    [bounce] = _db.session.scalars(_db.select(MailBounce)).all()
    assert bounce.is_permanent is False
    assert _db.session.scalars(_db.select(SuppressedAddress)).all() == []
    assert _remind(smtp, ann) == 1


@pytest.mark.parametrize(
    "to",
    [
        "screenings@example.org",  # the plain sender: no token
        "bounce+" + "a" * 32 + "@screenings.test",  # a guessed token
    ],
)
def test_a_report_without_the_message_token_suppresses_nothing(db, smtp, runner, to):
    _screening, ann, _sender = _guest_with_a_sent_invite(smtp)
    _receive(runner, dsn("ann@example.org", "5.1.1", to=to))
    assert _db.session.scalars(_db.select(SuppressedAddress)).all() == []
    assert _rows("ann@example.org")[0].status == OutboxStatus.SENT
    assert _remind(smtp, ann) == 1


def test_an_organizer_address_that_bounces_tells_the_producers(db, smtp, runner):
    create_producer(PRODUCER_EMAIL, PRODUCER_PASSWORD)
    make_screening()
    deliver()
    [envelope_sender] = _envelopes_to(smtp, "miriam@example.org")
    smtp.clear()
    _receive(runner, dsn("miriam@example.org", "5.1.1", to=envelope_sender))
    deliver()
    [alert] = smtp.to(PRODUCER_EMAIL)
    assert "miriam@example.org" in alert.get_body(("plain",)).get_content()
    assert smtp.to("miriam@example.org") == []


def test_the_outbox_page_says_it_in_plain_words_and_a_producer_lifts_it(db, smtp, runner, client):
    create_producer(PRODUCER_EMAIL, PRODUCER_PASSWORD, role="owner")
    _screening, ann, envelope_sender = _guest_with_a_sent_invite(smtp)
    _receive(runner, dsn("ann@example.org", "5.1.1", to=envelope_sender))
    _remind(smtp, ann)
    log_in(client)
    page = client.get("/producer/outbox").get_data(as_text=True)
    assert "the address does not accept mail" in page  # the bounced invite
    assert "this address bounced permanently before" in page  # the refused reminder
    assert "ann@example.org" in page.split('id="suppressed"')[1]

    [suppressed] = _db.session.scalars(_db.select(SuppressedAddress)).all()
    token = hidden_fields(page)["csrf_token"]
    response = client.post(
        f"/producer/outbox/suppressed/{suppressed.id}/lift", data={"csrf_token": token}
    )
    assert response.status_code == 302
    assert _db.session.scalars(_db.select(SuppressedAddress)).all() == []
    assert _remind(smtp, ann) == 1


def test_erasing_the_guest_erases_the_suppression(db, smtp, runner):
    _screening, _ann, envelope_sender = _guest_with_a_sent_invite(smtp)
    _receive(runner, dsn("ann@example.org", "5.1.1", to=envelope_sender))
    assert _db.session.scalars(_db.select(SuppressedAddress)).all()
    privacy.erase_attendee_everywhere("ann@example.org", actor="producer")
    assert _db.session.scalars(_db.select(SuppressedAddress)).all() == []
    assert _db.session.scalars(_db.select(MailBounce)).all() == []


def test_purging_old_replies_keeps_a_near_me_subscribers_suppression(app, db, smtp):
    """The purge forgets bounce records of addresses nobody holds any more; a near-me
    subscriber still holds theirs, so it stays suppressed (else the alerts write to it again)."""
    import secrets
    from datetime import timedelta

    from sqlalchemy import select

    from screenings.models import NearbySubscription, Screening, SuppressedAddress
    from screenings.services import bounces
    from screenings.services.privacy import purge_attendee_data

    from .factories import make_screening
    from .rsvp_helpers import reply

    screening = make_screening()
    reply(screening, email="gone@example.org")
    db.session.get(Screening, screening.id).starts_at -= timedelta(days=400)
    db.session.add(
        NearbySubscription(
            email="gone@example.org",
            city_id=6167865,
            radius_km=50,
            key=secrets.token_hex(16),
            confirm_token_hash=secrets.token_hex(16),
            unsubscribe_token_hash=secrets.token_hex(16),
        )
    )
    bounces.suppress("gone@example.org", None, status="5.1.1", diagnostic="no such user")
    db.session.commit()
    purge_attendee_data(older_than_days=30)
    assert db.session.scalar(
        select(SuppressedAddress.id).where(SuppressedAddress.email_normalized == "gone@example.org")
    )
