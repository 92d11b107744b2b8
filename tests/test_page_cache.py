"""Public pages are rendered once per version stamp, never stale and never someone else's."""

from __future__ import annotations

import re

import pytest
from flask import request
from sqlalchemy import update

from screenings import caching
from screenings.models import Screening, utcnow

from .conftest import hidden_fields
from .factories import make_screening
from .producer_helpers import count_queries, producer  # noqa: F401 (a fixture)
from .rsvp_helpers import post_rsvp


def seats_left(client, screening) -> int:
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    return int(re.search(r'class="seats-left">(\d+)<', page).group(1))


@pytest.mark.config(CACHE_STAMP_TTL=60)
def test_an_unchanged_page_is_served_from_the_cache_without_a_query(client, db):
    screening = make_screening(capacity=40)
    for url in ("/screenings", f"/screenings/{screening.id}", "/"):
        first = client.get(url)
        with count_queries() as statements:
            again = client.get(url)
        assert again.status_code == 200
        assert statements == [], url
        assert re.sub(r'value="[^"]{40,}"', "", again.get_data(as_text=True)) == re.sub(
            r'value="[^"]{40,}"', "", first.get_data(as_text=True)
        )
        assert "Accept-Language" in again.headers["Vary"]


@pytest.mark.config(CACHE_STAMP_TTL=60)
def test_an_rsvp_in_this_worker_shows_at_once(app, db):
    screening = make_screening(capacity=40)
    visitor, attendee = app.test_client(), app.test_client()
    assert seats_left(visitor, screening) == 40
    response = post_rsvp(attendee, screening, party_size=3)
    assert response.status_code == 302
    assert seats_left(visitor, screening) == 37


@pytest.mark.config(CACHE_STAMP_TTL=60)
def test_a_change_from_another_worker_shows_once_the_stamp_is_a_second_old(client, db, monkeypatch):
    screening = make_screening(venue_name="Old Hall")
    assert "Old Hall" in client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    # Another worker's commit: straight through the engine, unseen by this worker's session.
    with db.engine.begin() as connection:
        connection.execute(
            update(Screening)
            .where(Screening.id == screening.id)
            .values(venue_name="New Hall", updated_at=utcnow())
        )
    db.session.expire_all()  # as a new request's session would be (the test's one lives on)
    # Within the stamp's lifetime the page may lag (CACHE_STAMP_TTL, one second by default)…
    assert "Old Hall" in client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    # …and once it has passed the page is rendered afresh.
    later = caching.time.monotonic() + 61
    monkeypatch.setattr(caching.time, "monotonic", lambda: later)
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert "New Hall" in page
    assert "Old Hall" not in page


def test_each_visitor_gets_their_own_form_token_from_a_cached_page(app, db):
    screening = make_screening(capacity=40)
    ann, bob = app.test_client(), app.test_client()
    ann_page = ann.get(f"/screenings/{screening.id}").get_data(as_text=True)
    bob_page = bob.get(f"/screenings/{screening.id}").get_data(as_text=True)
    ann_token, bob_token = (
        hidden_fields(ann_page)["csrf_token"],
        hidden_fields(bob_page)["csrf_token"],
    )
    assert ann_token != bob_token
    assert caching.CSRF_PLACEHOLDER not in ann_page + bob_page
    # Each token is good for its own session only.
    data = {"name": "Bob", "email": "bob@example.org", "party_size": "1", "consent": "y"}
    refused = bob.post(f"/screenings/{screening.id}", data={**data, "csrf_token": ann_token})
    assert refused.status_code in (400, 422)
    for who, email in ((ann, "ann@example.org"), (bob, "bob@example.org")):
        assert post_rsvp(who, screening, email=email).status_code == 302
    assert seats_left(app.test_client(), screening) == 38


def test_a_waiting_message_is_shown_not_cached_away(client, db):
    screening = make_screening(capacity=40)
    client.get(f"/screenings/{screening.id}")  # cached for anonymous visitors
    page = post_rsvp(client, screening, follow_redirects=True).get_data(as_text=True)
    assert "on the guest list" in page
    assert "on the guest list" not in client.get(f"/screenings/{screening.id}").get_data(
        as_text=True
    )


def test_a_logged_in_producer_sees_their_own_header(client, db, producer):  # noqa: F811
    anonymous_page = client.application.test_client().get("/screenings").get_data(as_text=True)
    assert 'href="/producer/"' not in anonymous_page
    assert 'href="/producer/"' in client.get("/screenings").get_data(as_text=True)


def test_pages_are_cached_by_language(app, db):
    english, french = app.test_client(), app.test_client()
    french.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    assert 'lang="en"' in english.get("/screenings").get_data(as_text=True)
    assert 'lang="fr"' in french.get("/screenings").get_data(as_text=True)
    assert 'lang="en"' in english.get("/screenings").get_data(as_text=True)


def test_a_newer_version_replaces_the_older_at_once():
    cache = caching.VersionedCache(1000)
    cache.put(("feed", "en", 1), b"old")
    cache.put(("feed", "fr", 1), b"ancien")
    cache.put(("feed", "en", 2), b"new!")
    assert cache.get(("feed", "en", 1)) is None
    assert cache.get(("feed", "en", 2)) == b"new!"
    assert cache.get(("feed", "fr", 1)) == b"ancien"
    assert cache.size == len(b"new!") + len(b"ancien")


def test_the_cache_keeps_to_its_size():
    cache = caching.VersionedCache(100, size_of=lambda page: len(page.body))
    for n in range(10):
        cache.put((n, "stamp"), caching.CachedPage("x" * 30, 200, (), False))
    assert cache.size <= 100
    assert cache.get((9, "stamp")) is not None
    assert cache.get((0, "stamp")) is None


# ---------------------------------------------------------------- repeated conditional GETs
GZIP = {"Accept-Encoding": "gzip"}


def _app_runs(app) -> list[str]:
    """Paths the Flask app itself handled (a request answered before it is not counted)."""
    runs: list[str] = []
    app.before_request_funcs.setdefault(None, []).append(lambda: runs.append(request.path))
    return runs


@pytest.mark.config(CACHE_STAMP_TTL=60)
def test_a_repeated_conditional_get_is_answered_without_the_app(app, client, db, monkeypatch):
    make_screening()
    runs = _app_runs(app)
    etag = client.get("/calendar.ics", headers=GZIP).headers["ETag"]
    conditional = {**GZIP, "If-None-Match": etag}
    first = client.get("/calendar.ics", headers=conditional)
    assert first.status_code == 304
    assert len(runs) == 2
    with count_queries() as statements:
        again = client.get("/calendar.ics", headers=conditional)
    assert again.status_code == 304
    assert statements == []
    assert len(runs) == 2  # the app did not run
    assert sorted(again.headers.items()) == sorted(first.headers.items())
    assert again.headers["Content-Security-Policy"]

    # Anything else goes to the app: another language, a cookie, no gzip, another ETag.
    client.get("/calendar.ics", headers={**conditional, "Accept-Language": "fr"})
    with_cookie = app.test_client()
    with_cookie.set_cookie("session", "x")
    with_cookie.get("/calendar.ics", headers=conditional)
    client.get("/calendar.ics", headers={"If-None-Match": etag})
    client.get("/calendar.ics", headers={**GZIP, "If-None-Match": '"other"'})
    assert len(runs) == 6

    # Once the stamp is older than CACHE_STAMP_TTL, the app is asked again.
    later = caching.time.monotonic() + 61
    monkeypatch.setattr(caching.time, "monotonic", lambda: later)
    assert client.get("/calendar.ics", headers=conditional).status_code == 304
    assert len(runs) == 7


@pytest.mark.config(CACHE_STAMP_TTL=60)
def test_a_change_in_this_worker_ends_the_repeated_304s_at_once(app, client, db):
    make_screening()
    etag = client.get("/calendar.ics", headers=GZIP).headers["ETag"]
    conditional = {**GZIP, "If-None-Match": etag}
    assert client.get("/calendar.ics", headers=conditional).status_code == 304
    assert client.get("/calendar.ics", headers=conditional).status_code == 304
    make_screening(venue_name="Another Hall")
    changed = client.get("/calendar.ics", headers=conditional)
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag


def test_without_a_stamp_lifetime_every_request_reaches_the_app(app, client, db):
    """Under test the stamp is read afresh each time (CACHE_STAMP_TTL 0): no replay."""
    make_screening()
    runs = _app_runs(app)
    etag = client.get("/calendar.ics", headers=GZIP).headers["ETag"]
    for _ in range(3):
        assert (
            client.get("/calendar.ics", headers={**GZIP, "If-None-Match": etag}).status_code == 304
        )
    assert len(runs) == 4
