"""Near me: the list and the embed sorted by distance from a town, and e-mail alerts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from screenings import outbox, places
from screenings.models import NearbySubscription, Screening, utcnow
from screenings.security import hash_token

from .conftest import submit
from .factories import ScreeningFactory

# Gazetteer ids (GeoNames) of the towns the tests use.
LYON = places.find_cities("Lyon", country="FR")[0]
PARIS = places.find_cities("Paris", country="FR")[0]


def _french(city: str, **overrides) -> Screening:
    values = {
        "city": city,
        "country": "FR",
        "region": "",
        "postal_code": "69001",
        "timezone": "Europe/Paris",
        "organization_country": "FR",
        "organization_type": "community_group",
    }
    values.update(overrides)
    return ScreeningFactory(**values)


def _titles_in_order(html: str) -> list[str]:
    return re.findall(r'class="meta">[^·]*· <bdi>([^<]+)</bdi>,', html)


def _distances(html: str) -> list[int]:
    return [int(km) for km in re.findall(r'class="distance">(\d+) km<', html)]


def test_the_list_sorts_by_distance_from_the_chosen_town(client, db):
    for city in ("Marseille", "Villeurbanne", "Grenoble", "Paris", "Lyon"):
        _french(city)
    response = client.get(f"/screenings?near={LYON.id}&km=500")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _titles_in_order(html) == ["Lyon", "Villeurbanne", "Grenoble", "Marseille", "Paris"]
    distances = _distances(html)
    assert distances == sorted(distances)
    assert distances[0] == 0
    assert 90 < distances[2] < 100  # Grenoble, 95 km as the crow flies
    # How many within 50, 100 and 250 km: Lyon and Villeurbanne; and Grenoble; nothing more.
    assert "2 screenings within 50 km" in html
    assert "3 screenings within 100 km" in html
    assert "3 screenings within 250 km" in html


def test_the_radius_cuts_the_list(client, db):
    _french("Lyon")
    _french("Paris")
    html = client.get(f"/screenings?near={LYON.id}&km=100").get_data(as_text=True)
    assert _titles_in_order(html) == ["Lyon"]


def test_a_typed_town_goes_to_its_gazetteer_link_and_an_ambiguous_one_asks(client, db):
    response = client.get("/screenings?near=lyon&km=100&page=3")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/screenings?near={LYON.id}&km=100")
    # Two Londons, no country from the browser: which one?
    response = client.get("/screenings?near=London", headers={"Accept-Language": "en"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Several places have that name" in html
    assert "London, United Kingdom" in html
    assert "London, Canada" in html
    # The browser's country decides.
    response = client.get("/screenings?near=London", headers={"Accept-Language": "en-CA,en;q=0.8"})
    assert response.status_code == 303
    (canadian,) = [c for c in places.find_cities("London") if c.country == "CA"]
    assert f"near={canadian.id}" in response.headers["Location"]


def test_an_unknown_town_is_refused_beside_the_field_and_not_cached(client, app, db):
    for near in ("Nowhereville-sur-Mer", "999999999", "0" + str(LYON.id)):
        response = client.get(f"/screenings?near={near}")
        assert response.status_code == 422, near
        assert 'id="near-error"' in response.get_data(as_text=True)


def test_a_guests_only_screening_is_as_far_as_its_town_and_a_private_one_absent(client, db):
    # Its venue's coordinates would say which street; the list shows only the town.
    guests = _french("Lyon", visibility="guests")
    guests.latitude, guests.longitude = 45.70, 4.90
    public = _french("Villeurbanne")
    public.latitude, public.longitude = 45.77, 4.88
    _french("Lyon", visibility="private", organization_name="Hidden")
    db.session.commit()
    assert (guests.public_latitude, guests.public_longitude) == (LYON.latitude, LYON.longitude)
    assert (public.public_latitude, public.public_longitude) == (45.77, 4.88)
    html = client.get(f"/screenings?near={LYON.id}").get_data(as_text=True)
    assert "Hidden" not in html
    assert _distances(html) == [0, 3]


def test_the_embed_shows_a_partner_region(client, db):
    _french("Lyon")
    _french("Paris")
    response = client.get("/embed?near=Paris", headers={"Accept-Language": "fr-FR"})
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _titles_in_order(html)[0] == "Paris"


def test_the_type_ahead_offers_towns_the_browser_country_first(client):
    response = client.get("/places?q=londo", headers={"Accept-Language": "en-CA"})
    assert response.status_code == 200
    labels = [place["label"] for place in response.get_json()["places"]]
    assert labels[0] == "London, Canada"
    assert "London, United Kingdom" in labels
    assert "max-age" in response.headers["Cache-Control"]
    assert client.get("/places?q=l").get_json() == {"places": []}


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_PLACES="2 per minute")
def test_the_type_ahead_is_rate_limited(client):
    assert client.get("/places?q=lyo").status_code == 200
    assert client.get("/places?q=lyon").status_code == 200
    assert client.get("/places?q=lyons").status_code == 429


@pytest.mark.config(PAGE_CACHE_ENABLED=True)
def test_the_cached_list_is_one_page_per_town_and_moves_with_the_listing(client, db):
    _french("Lyon")
    _french("Paris")
    near_lyon = client.get(f"/screenings?near={LYON.id}&km=500").get_data(as_text=True)
    near_paris = client.get(f"/screenings?near={PARIS.id}&km=500").get_data(as_text=True)
    assert _titles_in_order(near_lyon) == ["Lyon", "Paris"]
    assert _titles_in_order(near_paris) == ["Paris", "Lyon"]
    _french("Villeurbanne")
    near_lyon = client.get(f"/screenings?near={LYON.id}&km=500").get_data(as_text=True)
    assert _titles_in_order(near_lyon) == ["Lyon", "Villeurbanne", "Paris"]


# -- "tell me when there's a screening near me" -------------------------------------------------

SUBSCRIBER = "sam@example.org"


def _link(message, path: str) -> str:
    body = message.get_body(("plain",)).get_content()
    (url,) = re.findall(rf"https?://\S+{path}\S+", body)
    return url.split("screenings.test", 1)[1]


def _subscribe(client, smtp, *, near: str = "Lyon", km: str = "100", email=SUBSCRIBER) -> str:
    """Subscribe through the form; the confirmation link's path."""
    response = submit(client, "/near-me", {"email": email, "near": near, "km": km})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/near-me/sent")
    messages = smtp.wait_for(1)
    (confirmation,) = [m for m in messages if "Confirm" in str(m["Subject"])]
    assert "List-Unsubscribe" not in confirmation  # not an alert: nothing to unsubscribe from
    smtp.clear()
    return _link(confirmation, "/near-me/confirm/")


def _confirm(client, path: str) -> None:
    response = submit(client, path, {})
    assert response.status_code == 200


def _alerts(smtp, **kwargs) -> list:
    from screenings.services.near_alerts import send_alerts

    send_alerts(**kwargs)
    outbox.deliver_pending()  # as the job does
    return [m for m in smtp.messages if "near" in str(m["Subject"]).lower()]


@pytest.mark.config(PUBLIC_BASE_URL="https://screenings.test")
def test_near_me_double_opt_in_one_alert_near_none_far_and_one_click_unsubscribe(
    app, client, db, smtp
):
    confirm_path = _subscribe(client, smtp)
    # Not confirmed yet: a screening next door sends nothing.
    _french("Villeurbanne", organization_name="Before confirming")
    assert _alerts(smtp) == []
    (subscription,) = db.session.scalars(select(NearbySubscription)).all()
    assert subscription.email == SUBSCRIBER
    assert subscription.city_id == LYON.id
    assert subscription.confirmed_at is None
    assert subscription.key not in confirm_path  # the link is derived, its digest stored
    assert hash_token(confirm_path.rsplit("/", 1)[1]) == subscription.confirm_token_hash

    # A scanner that opens the link confirms nothing: it takes the button.
    assert client.get(confirm_path).status_code == 200
    db.session.refresh(subscription)
    assert subscription.confirmed_at is None
    _confirm(client, confirm_path)
    db.session.refresh(subscription)
    assert subscription.confirmed_at is not None

    _french("Villeurbanne", organization_name="Near Lyon")
    _french("Paris", organization_name="Far from Lyon")
    (alert,) = _alerts(smtp)
    body = alert.get_body(("plain",)).get_content()
    assert "Near Lyon" in body
    assert "Far from Lyon" not in body
    assert "Before confirming" not in body  # approved before the subscription started
    assert alert["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    (unsubscribe_url,) = re.findall(r"<([^>]+)>", alert["List-Unsubscribe"])
    assert unsubscribe_url.startswith("https://screenings.test/near-me/unsubscribe/")
    assert unsubscribe_url in body

    # Nothing new: nothing sent again.
    smtp.clear()
    assert _alerts(smtp) == []

    # RFC 8058: a POST with only the one-click body, no cookie, no CSRF token.
    stranger = app.test_client(use_cookies=False)
    path = unsubscribe_url.split("screenings.test", 1)[1]
    response = stranger.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert db.session.scalars(select(NearbySubscription)).all() == []
    _french("Villeurbanne", organization_name="After unsubscribing")
    assert _alerts(smtp, now=utcnow() + timedelta(days=2)) == []


def test_a_far_screening_sends_nothing_and_a_day_holds_one_alert(client, db, smtp):
    _confirm(client, _subscribe(client, smtp, km="50"))
    _french("Grenoble", organization_name="95 km away")  # beyond 50 km
    _french("Paris", organization_name="390 km away")
    assert _alerts(smtp) == []
    _french("Villeurbanne", organization_name="First")
    (first,) = _alerts(smtp)
    # A second one the same day waits for tomorrow's alert, and comes then.
    _french("Lyon", organization_name="Second")
    assert len(_alerts(smtp)) == 1
    later = _alerts(smtp, now=utcnow() + timedelta(days=1, minutes=1))
    assert len(later) == 2
    body = later[1].get_body(("plain",)).get_content()
    assert "Second" in body
    assert "First" not in body
    assert "First" in first.get_body(("plain",)).get_content()


def test_unsubscribing_ends_that_one_subscription_only(app, client, db, smtp):
    _confirm(client, _subscribe(client, smtp, near="Lyon"))
    _confirm(client, _subscribe(client, smtp, near="Paris, France"))
    _french("Lyon", organization_name="In Lyon")
    _french("Paris", organization_name="In Paris")
    alerts = _alerts(smtp)
    assert len(alerts) == 2
    (lyon,) = [m for m in alerts if "In Lyon" in m.get_body(("plain",)).get_content()]
    (url,) = re.findall(r"<([^>]+)>", lyon["List-Unsubscribe"])
    stranger = app.test_client(use_cookies=False)
    path = url.split("screenings.test", 1)[1]
    assert stranger.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    (left,) = db.session.scalars(select(NearbySubscription)).all()
    assert left.city_id == PARIS.id
    # A bogus or spent link is answered the same way, and changes nothing.
    assert stranger.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert stranger.post("/near-me/unsubscribe/" + "A" * 43).status_code == 200
    assert len(db.session.scalars(select(NearbySubscription)).all()) == 1


def test_the_form_asks_which_town_and_keeps_the_entries(client, db, smtp):
    response = submit(client, "/near-me", {"email": SUBSCRIBER, "near": "London", "km": "50"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="near-error"' in html
    assert SUBSCRIBER in html
    (canadian,) = [c for c in places.find_cities("London") if c.country == "CA"]
    assert f'name="choice" value="{canadian.id}"' in html
    # Choosing one subscribes to that one.
    response = submit(
        client,
        "/near-me",
        {"email": SUBSCRIBER, "near": "London", "km": "50", "choice": str(canadian.id)},
    )
    assert response.status_code == 302
    assert db.session.scalar(select(NearbySubscription.city_id)) == canadian.id
    # An unknown town, a bad address and a radius not offered: each beside its field.
    response = submit(client, "/near-me", {"email": "not-an-address", "near": "Xq", "km": "7"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for name in ("email", "km"):
        assert f'id="{name}-error"' in html


def test_subscribers_are_exported_erased_and_unconfirmed_ones_purged(client, db, smtp):
    from screenings.services import privacy

    from .test_privacy_erasure import traces_of

    _confirm(client, _subscribe(client, smtp, near="Lyon"))
    _subscribe(client, smtp, near="Paris, France", email="pat@example.org")
    exported = privacy.export_subscriber_data(SUBSCRIBER)
    assert exported["subscriptions"][0]["town"] == "Lyon, France"
    assert exported["emails"][0]["kind"] == "nearby_confirm"
    assert traces_of(SUBSCRIBER)
    assert privacy.erase_subscriber_data(SUBSCRIBER) == 1
    assert traces_of(SUBSCRIBER) == []
    # The unconfirmed one is forgotten after NEARBY_UNCONFIRMED_DAYS.
    assert privacy.purge_unconfirmed_subscriptions(older_than_days=3) == 0
    db.session.execute(update(NearbySubscription).values(created_at=utcnow() - timedelta(days=4)))
    db.session.commit()
    assert privacy.purge_unconfirmed_subscriptions(older_than_days=3) == 1
    assert db.session.scalars(select(NearbySubscription)).all() == []


def test_the_job_and_the_command_send_the_alerts(client, db, smtp, runner):
    from screenings.jobs import JOBS

    assert "near-me alerts" in {job.name for job in JOBS}
    _confirm(client, _subscribe(client, smtp))
    _french("Lyon", organization_name="Tonight in Lyon")
    result = runner.invoke(args=["near-me", "alerts"])
    assert result.exit_code == 0, result.output
    assert "1 near-me alert(s) queued" in result.output
    (alert,) = smtp.to(SUBSCRIBER)
    assert "Tonight in Lyon" in alert.get_body(("plain",)).get_content()
    assert "0 near-me alert(s) queued" in runner.invoke(args=["near-me", "alerts"]).output


def test_the_api_sorts_near_a_town_with_distances(client, db):
    _french("Paris")
    _french("Lyon")
    body = client.get(f"/api/screenings?near={LYON.id}&km=500").get_json()
    assert [s["venue"]["city"] for s in body["screenings"]] == ["Lyon", "Paris"]
    assert body["screenings"][0]["distance_km"] == 0
    assert 380 < body["screenings"][1]["distance_km"] < 400
    assert "distance_km" not in client.get("/api/screenings").get_json()["screenings"][0]
    refused = client.get("/api/screenings?near=London")
    assert refused.status_code == 422
    assert {c["label"] for c in refused.get_json()["did_you_mean"]} >= {
        "London, United Kingdom",
        "London, Canada",
    }


def _feed_summaries(response) -> list[str]:
    import icalendar

    calendar = icalendar.Calendar.from_ical(response.get_data())
    return sorted(str(event["SUMMARY"]) for event in calendar.walk("VEVENT"))


@pytest.mark.config(PUBLIC_BASE_URL="https://screenings.test")
def test_a_confirmed_subscriber_s_town_has_a_near_me_feed_offered_on_its_list(
    client, db, smtp, runner
):
    feed = f"/near/{LYON.id}/100/calendar.ics"
    near_list = f"/screenings?near={LYON.id}&km=100"
    _french("Villeurbanne", organization_name="Near Lyon")
    _french("Paris", organization_name="Far from Lyon")
    assert "Paris" in client.get(f"/screenings?near={LYON.id}&km=500").get_data(as_text=True)
    # Nobody asked for Lyon: no feed (a build per town anyone types would be a build per
    # request), and the list offers none; not even once someone has only subscribed.
    assert client.get(feed).status_code == 404
    assert feed not in client.get(near_list).get_data(as_text=True)
    confirm_path = _subscribe(client, smtp)
    assert client.get(feed).status_code == 404
    response = submit(client, confirm_path, {})
    # Confirmed: the page offers the feed, and the cached list near Lyon now does too.
    assert feed in response.get_data(as_text=True)
    html = client.get(near_list).get_data(as_text=True)
    assert f"webcal://screenings.test{feed}" in html
    assert "Screenings within 100 km of Lyon" in html
    assert feed not in client.get(f"/screenings?near={LYON.id}&km=250").get_data(as_text=True)

    response = client.get(feed)
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert "Accept-Language" in response.headers["Vary"]
    summaries = _feed_summaries(response)
    assert len(summaries) == 1
    assert "Near Lyon" in summaries[0]
    assert "Screenings within 100 km of Lyon" in response.get_data(as_text=True)

    # `flask feeds build` keeps it fresh: a new screening near Lyon is in the next build.
    _french("Lyon", organization_name="In Lyon")
    result = runner.invoke(args=["feeds", "build"])
    assert result.exit_code == 0, result.output
    assert len(_feed_summaries(client.get(feed))) == 2

    # The alert e-mail leads to the list whose buttons subscribe.
    (alert,) = _alerts(smtp)
    body = alert.get_body(("plain",)).get_content()
    assert f"https://screenings.test/screenings?near={LYON.id}&km=100" in body

    # The last subscriber there leaves: the feed goes, and the list stops offering it.
    (unsubscribe_url,) = re.findall(r"<([^>]+)>", alert["List-Unsubscribe"])
    submit(client, unsubscribe_url.split("screenings.test", 1)[1], {})
    assert db.session.scalars(select(NearbySubscription)).all() == []
    assert client.get(feed).status_code == 404
    assert feed not in client.get(near_list).get_data(as_text=True)
