""" "Tell me when there's a screening near me": subscribe, confirm, alerts, unsubscribe.

A person gives an e-mail address, a town and a radius. Nothing is sent to the address but a
confirmation link until its owner follows it (double opt-in). Once a day at most, the
``near-me alerts`` job (jobs.py) e-mails each confirmed subscriber the listed screenings
approved since their last alert within their radius (distances from the public point only,
visibility.public_point). Every alert carries a one-click unsubscribe link (RFC 8058).
The confirmation and unsubscribe links are derived from a random key and stored as digests
(security.link_token). Export, erasure and the purge of unconfirmed subscriptions are in
privacy.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, select, update

from ..emails import NEARBY_CONFIRMATION_KIND, send_nearby_alert, send_nearby_confirmation
from ..extensions import db, rows_changed
from ..models import Licence, NearbySubscription, Screening, normalize_email, utcnow
from ..places import City, city_by_id, distance_km
from ..security import derived_token, hash_token, link_token, new_token, tokens_match
from ..urls import external_url
from .links import sent_today
from .listings import listed_upcoming

CONFIRM = "nearby-confirm"
UNSUBSCRIBE = "nearby-unsubscribe"
ALERT_INTERVAL = timedelta(days=1)  # one alert a day at most, per subscription


def confirm_token(subscription: NearbySubscription) -> str:
    return link_token(CONFIRM, subscription.key, subscription.confirm_token_hash)


def unsubscribe_token(subscription: NearbySubscription) -> str:
    return link_token(UNSUBSCRIBE, subscription.key, subscription.unsubscribe_token_hash)


def subscribe(address: str, city: City, radius_km: int, *, language: str) -> bool:
    """Record an unconfirmed subscription and e-mail its confirmation link; False when the
    address's daily allowance of confirmation e-mails is spent (the caller answers the same,
    so the form tells nobody whether an address is subscribed)."""
    email = normalize_email(address)
    allowance = current_app.config["NEARBY_CONFIRMATIONS_PER_ADDRESS_PER_DAY"]
    if sent_today(email, NEARBY_CONFIRMATION_KIND) >= allowance:
        current_app.logger.info("near-me confirmation not sent: the daily allowance is spent")
        return False
    key = new_token()
    subscription = NearbySubscription(
        email=email,
        city_id=city.id,
        radius_km=radius_km,
        language=language,
        key=key,
        confirm_token_hash=hash_token(derived_token(CONFIRM, key)),
        unsubscribe_token_hash=hash_token(derived_token(UNSUBSCRIBE, key)),
    )
    db.session.add(subscription)
    db.session.flush()
    confirm_url = external_url("public.near_me_confirm", token=confirm_token(subscription))
    send_nearby_confirmation(subscription, city, confirm_url=confirm_url)
    db.session.commit()
    return True


def _by_token(purpose: str, token: str) -> NearbySubscription | None:
    if not token or len(token) > 100:
        return None
    column = (
        NearbySubscription.confirm_token_hash
        if purpose == CONFIRM
        else NearbySubscription.unsubscribe_token_hash
    )
    subscription = db.session.scalar(select(NearbySubscription).where(column == hash_token(token)))
    if subscription is None or not tokens_match(token, getattr(subscription, column.key)):
        return None
    return subscription


def find_to_confirm(token: str) -> NearbySubscription | None:
    """The subscription a confirmation link names, or None (unknown, purged, unsubscribed)."""
    return _by_token(CONFIRM, token)


def confirm(token: str) -> NearbySubscription | None:
    """Confirm the subscription (its owner followed the link); alerts start with screenings
    approved from now on. Confirming twice changes nothing."""
    subscription = _by_token(CONFIRM, token)
    if subscription is None:
        return None
    if subscription.confirmed_at is None:
        now = utcnow()
        subscription.confirmed_at = now
        subscription.considered_until = now
        db.session.commit()
    return subscription


def unsubscribe(token: str) -> bool:
    """End the one subscription the link belongs to (its row goes: nothing is kept); False
    for an unknown link (the page answers the same)."""
    subscription = _by_token(UNSUBSCRIBE, token)
    if subscription is None:
        return False
    db.session.delete(subscription)
    db.session.commit()
    return True


def _offered() -> Select:
    """(town, radius) of the confirmed subscriptions: what a near-me feed is served for."""
    return select(NearbySubscription.city_id, NearbySubscription.radius_km).where(
        NearbySubscription.confirmed_at.is_not(None)
    )


def offered_feeds() -> list[tuple[City, int]]:
    """(town, radius) of each near-me calendar feed served: one per town and radius that a
    confirmed subscriber chose. Only those are built and kept fresh (a feed for every town
    and radius anyone could type would be a build per request)."""
    pairs = db.session.execute(
        _offered().distinct().order_by(NearbySubscription.city_id, NearbySubscription.radius_km)
    )
    return [(city, km) for city_id, km in pairs if (city := city_by_id(city_id)) is not None]


def offered_town(city_id: int, km: int) -> City | None:
    """The town, if its near-me feed of this radius is served (see offered_feeds)."""
    chosen = _offered().where(
        NearbySubscription.city_id == city_id, NearbySubscription.radius_km == km
    )
    if db.session.execute(chosen.limit(1)).first() is None:
        return None
    return city_by_id(city_id)


def _approved_since(
    since: datetime, until: datetime
) -> list[tuple[Screening, datetime, tuple[float, float]]]:
    """Listed upcoming screenings first approved (licence revision 1) in (since, until], with
    when, and the public point (latitude, longitude) to measure from."""
    query = (
        listed_upcoming()
        .join(Licence, (Licence.screening_id == Screening.id) & (Licence.revision == 1))
        .where(
            Licence.issued_at > since,
            Licence.issued_at <= until,
            Screening.public_latitude.is_not(None),
            Screening.public_longitude.is_not(None),
        )
        .add_columns(Licence.issued_at)
        .order_by(Screening.starts_at, Screening.id)
    )
    return [
        (screening, issued_at, (latitude, longitude))
        for screening, issued_at in db.session.execute(query)
        if (latitude := screening.public_latitude) is not None
        and (longitude := screening.public_longitude) is not None
    ]


def send_alerts(now: datetime | None = None) -> int:
    """E-mail each confirmed subscriber whose last alert is a day old (or who has had none)
    the screenings approved since their last look within their radius; how many e-mails.

    Each subscriber's look is claimed by a conditional UPDATE of its watermark, in the
    transaction that queues its e-mail: a second run, or a concurrent one, sends nothing twice.
    """
    now = now or utcnow()
    due = db.session.scalars(
        select(NearbySubscription)
        .where(
            NearbySubscription.confirmed_at.is_not(None),
            NearbySubscription.considered_until.is_not(None),
            (NearbySubscription.last_sent_at.is_(None))
            | (NearbySubscription.last_sent_at <= now - ALERT_INTERVAL),
        )
        .order_by(NearbySubscription.id)
    ).all()
    watermarks = [since for s in due if (since := s.considered_until) is not None]
    if not watermarks:
        return 0
    approved = _approved_since(min(watermarks), now)
    sent = 0
    for subscription in due:
        # Read after the previous subscription's commit, as the claim below compares it.
        since = subscription.considered_until
        if since is None:  # the query asked for a watermark; nothing sets it back to none
            continue
        city = city_by_id(subscription.city_id)
        found = []
        if city is not None:
            for screening, issued_at, (latitude, longitude) in approved:
                if issued_at <= since:
                    continue
                distance = distance_km(city.latitude, city.longitude, latitude, longitude)
                if distance <= subscription.radius_km:
                    found.append((screening, distance))
        claimed = rows_changed(
            update(NearbySubscription)
            .where(
                NearbySubscription.id == subscription.id,
                NearbySubscription.considered_until == since,
            )
            .values(
                considered_until=now,
                last_sent_at=now if found else NearbySubscription.last_sent_at,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed != 1:
            db.session.rollback()
            continue
        if found and city is not None:  # (only a known city finds anything)
            found.sort(key=lambda pair: (pair[1], pair[0].starts_at))
            unsubscribe_url = external_url(
                "public.near_me_unsubscribe", token=unsubscribe_token(subscription)
            )
            send_nearby_alert(subscription, city, found, unsubscribe_url=unsubscribe_url)
            sent += 1
        db.session.commit()
    return sent
