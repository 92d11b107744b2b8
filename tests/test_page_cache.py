"""Public pages are rendered once per version, never stale and never someone else's."""

from __future__ import annotations

import re
import threading

import pytest

from screenings import caching
from screenings.services import visibility

from .conftest import hidden_fields
from .factories import ScreeningFactory
from .producer_helpers import count_queries, producer  # noqa: F401 (a fixture)
from .rsvp_helpers import post_rsvp


def seats_left(client, screening) -> int:
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    return int(re.search(r'class="seats-left">(\d+)<', page).group(1))


def test_an_unchanged_page_is_served_from_the_cache_with_one_query(client, db):
    screening = ScreeningFactory(capacity=40)
    for url in ("/screenings", f"/screenings/{screening.id}", "/"):
        first = client.get(url)
        with count_queries() as statements:
            again = client.get(url)
        assert again.status_code == 200
        assert len(statements) == 1, url  # the numbers of the key; the page came from the cache
        assert re.sub(r'value="[^"]{40,}"', "", again.get_data(as_text=True)) == re.sub(
            r'value="[^"]{40,}"', "", first.get_data(as_text=True)
        )
        assert "Accept-Language" in again.headers["Vary"]


def test_an_rsvp_in_this_worker_shows_at_once(app, db):
    screening = ScreeningFactory(capacity=40)
    visitor, attendee = app.test_client(), app.test_client()
    assert seats_left(visitor, screening) == 40
    response = post_rsvp(attendee, screening, party_size=3)
    assert response.status_code == 302
    assert seats_left(visitor, screening) == 37


def test_each_visitor_gets_their_own_form_token_from_a_cached_page(app, db):
    screening = ScreeningFactory(capacity=40)
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
    screening = ScreeningFactory(capacity=40)
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
    # The page's own language, not the language switcher's links (which name every language).
    assert '<html lang="en"' in english.get("/screenings").get_data(as_text=True)
    assert '<html lang="fr"' in french.get("/screenings").get_data(as_text=True)
    assert '<html lang="en"' in english.get("/screenings").get_data(as_text=True)


def test_a_forged_host_header_never_reaches_a_cached_page(app, db):
    """Cached pages are shared: every absolute link in them comes from PUBLIC_BASE_URL."""
    ScreeningFactory()
    forged = app.test_client().get("/screenings", headers={"Host": "evil.example"})
    assert forged.status_code == 200
    assert "evil.example" not in forged.get_data(as_text=True)
    page = app.test_client().get("/screenings").get_data(as_text=True)
    assert "evil.example" not in page
    assert "webcal://screenings.test/calendar.ics" in page


def test_a_new_release_never_serves_a_page_rendered_by_the_old_one(app, client, db, monkeypatch):
    """Hosts sharing Redis across a deploy: the key carries the code's release, so a page
    cached by the previous release is rendered afresh (not served with its old markup)."""
    screening = ScreeningFactory(capacity=40)
    url = f"/screenings/{screening.id}"
    stored = []
    store = caching.store()
    original_set = store.set
    monkeypatch.setattr(
        store, "set", lambda key, *rest: stored.append(key) or original_set(key, *rest)
    )
    client.get(url)
    client.get(url)
    assert len(stored) == 1  # rendered once, then served from the cache under this release
    app.config["CACHE_RELEASE"] = "the-next-release"
    assert client.get(url).status_code == 200
    assert len(stored) == 2  # rendered again…
    assert stored[1] != stored[0]  # …under a new key


def test_the_release_is_a_digest_of_the_files_served(tmp_path):
    for folder in ("screenings", "templates"):
        (tmp_path / folder).mkdir()
    page = tmp_path / "templates" / "page.html"
    page.write_text("<p>one</p>")
    first = caching.code_release.__wrapped__(tmp_path)
    assert caching.code_release.__wrapped__(tmp_path) == first  # the same files agree
    page.write_text("<p>two</p>")
    assert caching.code_release.__wrapped__(tmp_path) != first


def test_a_page_says_whether_it_came_from_the_cache(client, db):
    """X-Cache (what the benchmark counts for its hit rates): a miss, then hits until a change."""
    screening = ScreeningFactory()
    url = f"/screenings/{screening.id}"
    assert client.get(url).headers["X-Cache"] == "miss"
    assert client.get(url).headers["X-Cache"] == "hit"
    screening.venue_name = "Another Hall"
    db.session.commit()
    assert client.get(url).headers["X-Cache"] == "miss"
    assert client.get(url).headers["X-Cache"] == "hit"


# -- the front: hits for visitors without a cookie, answered before Flask -----------------------


@pytest.fixture
def front_answers(monkeypatch):
    """What CachedPagesFront answered itself, request by request (None: it passed it on)."""
    answers = []
    original = caching.CachedPagesFront._hit

    def recorded(front, environ):
        answer = original(front, environ)
        answers.append(answer)
        return answer

    monkeypatch.setattr(caching.CachedPagesFront, "_hit", recorded)
    return answers


def _without_token(response) -> tuple:
    """Status, body and headers, the visitor's own CSRF token and session cookie value aside."""
    body = re.sub(r'value="[^"]{40,}"', 'value=""', response.get_data(as_text=True))
    headers = sorted(
        (name, re.sub(r"^session=[^;]*", "session=", value))
        for name, value in response.headers.items()
    )
    return response.status_code, body, headers


def test_the_front_serves_exactly_what_flask_serves_a_visitor_without_a_cookie(
    app, db, front_answers, monkeypatch
):
    screening = ScreeningFactory(capacity=40)
    urls = ("/", "/screenings", "/screenings?country=CA", f"/screenings/{screening.id}", "/embed")
    visitor = app.test_client(use_cookies=False)
    for url in urls:
        assert visitor.get(url).headers["X-Cache"] == "miss"  # rendered (and stored) by Flask
    front_answers.clear()
    fronted = [visitor.get(url) for url in urls]
    assert all(front_answers), "the front answered every hit itself"
    monkeypatch.setattr(caching.CachedPagesFront, "_hit", lambda front, environ: None)
    through_flask = [visitor.get(url) for url in urls]
    for url, ours, flasks in zip(urls, fronted, through_flask, strict=True):
        assert ours.headers["X-Cache"] == flasks.headers["X-Cache"] == "hit", url
        assert _without_token(ours) == _without_token(flasks), url
        assert "Content-Security-Policy" in ours.headers


def test_a_form_token_from_the_front_is_accepted_with_its_session(app, db, front_answers):
    screening = ScreeningFactory(capacity=40)
    url = f"/screenings/{screening.id}"
    app.test_client().get(url)  # cached
    visitor = app.test_client()
    page = visitor.get(url)
    assert front_answers[-1] is not None
    assert page.headers["X-Cache"] == "hit"
    token = hidden_fields(page.get_data(as_text=True))["csrf_token"]
    assert caching.CSRF_PLACEHOLDER not in page.get_data(as_text=True)
    data = {"name": "Ann", "email": "ann@example.org", "party_size": "1", "consent": "y"}
    response = visitor.post(url, data={**data, "csrf_token": token})
    assert response.status_code == 302
    assert seats_left(app.test_client(), screening) == 39


def test_the_front_never_answers_a_request_with_a_cookie(app, client, producer, front_answers):  # noqa: F811
    app.test_client().get("/screenings")  # the anonymous page, cached
    front_answers.clear()
    # The logged-in producer (session cookie) gets their own header, through Flask.
    assert 'href="/producer/"' in client.get("/screenings").get_data(as_text=True)
    # A language chosen with the switcher lives in the session cookie.
    chooser = app.test_client()
    chooser.get("/language?language=fr")
    assert '<html lang="fr"' in chooser.get("/screenings").get_data(as_text=True)
    # A remember cookie alone (no session) is a login too: Flask decides.
    remembered = app.test_client()
    remembered.set_cookie("remember_token", "1|x")
    remembered.get("/screenings")
    assert not any(front_answers)  # Flask answered each (the front passed them on)


def test_the_front_answers_in_the_browsers_language(app, db, front_answers):
    english, french = app.test_client(), app.test_client()
    french.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr-CA,fr;q=0.9"
    english.get("/screenings")
    french.get("/screenings")  # both cached
    front_answers.clear()
    assert '<html lang="fr"' in french.get("/screenings").get_data(as_text=True)
    assert '<html lang="en"' in english.get("/screenings").get_data(as_text=True)
    assert len(front_answers) == 2
    assert all(front_answers)


def test_a_screening_made_private_is_never_served_by_the_front(app, db, front_answers):
    screening = ScreeningFactory(capacity=40)
    url = f"/screenings/{screening.id}"
    visitor = app.test_client(use_cookies=False)
    visitor.get(url)
    assert visitor.get(url).headers["X-Cache"] == "hit"
    visibility.apply(screening, "private")
    db.session.commit()
    assert visitor.get(url).status_code == 404
    assert front_answers[-1] is None


def test_a_cached_dashboard_costs_the_login_and_the_numbers_two_queries(db, client, producer):  # noqa: F811
    """Flask-Login loads the producer with their session row in one query (every producer
    page starts there), then the page's version: nothing else on a hit."""
    client.get("/producer/")  # shows the login's welcome (never cached)
    client.get("/producer/")  # cached
    db.session.remove()  # each request of a server starts with a new session (no loaded rows)
    with count_queries() as statements:
        again = client.get("/producer/")
    assert again.headers["X-Cache"] == "hit"
    assert len(statements) == 2, statements


def test_the_front_serves_a_screenings_ics_and_its_304_as_flask_does(
    app, db, front_answers, monkeypatch
):
    screening = ScreeningFactory(capacity=40)
    url = f"/screenings/{screening.id}.ics"
    visitor = app.test_client(use_cookies=False)
    etag = visitor.get(url).headers["ETag"]  # built (and stored) by Flask
    requests = ({}, {"If-None-Match": etag}, {"Accept-Language": "fr"})
    visitor.get(url, headers=requests[2])
    front_answers.clear()
    fronted = [visitor.get(url, headers=headers) for headers in requests]
    assert all(front_answers), "the front answered each itself"
    monkeypatch.setattr(caching.CachedPagesFront, "_hit", lambda front, environ: None)
    through_flask = [visitor.get(url, headers=headers) for headers in requests]
    assert [r.status_code for r in fronted] == [200, 304, 200]
    for ours, flasks in zip(fronted, through_flask, strict=True):
        assert _without_token(ours) == _without_token(flasks)
    assert fronted[2].headers["ETag"] != etag  # another language, another file
    screening.venue_name = "Another Hall"
    db.session.commit()
    monkeypatch.undo()
    assert visitor.get(url, headers={"If-None-Match": etag}).status_code == 200


def test_a_version_read_on_postgresql_opens_no_transaction(app, db, monkeypatch):
    """A cached hit's one read runs in autocommit on PostgreSQL: no BEGIN before it and no
    ROLLBACK after it, two of the four round trips it made (caching._HeldReads)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's transaction status only (the CI run's second pass)")
    from psycopg.pq import TransactionStatus

    screening_id = ScreeningFactory().id
    db.session.remove()
    statuses = []
    fetch = caching._DirectRead.fetch

    def noted(direct, kept, parameters):
        row = fetch(direct, kept, parameters)
        statuses.append(kept.cursor.connection.info.transaction_status)
        return row

    monkeypatch.setattr(caching._DirectRead, "fetch", noted)
    assert caching.screening_version(screening_id) is not None
    caching.counter_versions("feeds")
    assert statuses == [TransactionStatus.IDLE, TransactionStatus.IDLE]


def test_the_front_serves_a_feeds_304_as_flask_does(app, db, front_answers, monkeypatch):
    """A subscribed calendar's conditional GET (the busiest answer a feed gives) is answered
    before Flask, with Flask's very status and headers, in each language and for each kind of
    public feed; after a change the front leaves it to Flask (the old build, a rebuild)."""
    screening = ScreeningFactory(capacity=40)
    visitor = app.test_client(use_cookies=False)
    requests = []
    for url in (
        "/calendar.ics",
        "/films/the-killing-roads/calendar.ics",
        "/countries/ca/calendar.ics",
    ):
        for language in ("en", "fr", "he"):
            for encoding in ("gzip", ""):
                headers = {"Accept-Language": language, "Accept-Encoding": encoding}
                etag = visitor.get(url, headers=headers).headers["ETag"]  # built by Flask
                requests.append((url, {**headers, "If-None-Match": etag}))
    assert len({headers["If-None-Match"] for _url, headers in requests}) == len(requests)
    front_answers.clear()
    fronted = [visitor.get(url, headers=headers) for url, headers in requests]
    assert all(front_answers), "the front answered each itself"
    recording = caching.CachedPagesFront._hit
    monkeypatch.setattr(caching.CachedPagesFront, "_hit", lambda front, environ: None)
    through_flask = [visitor.get(url, headers=headers) for url, headers in requests]
    for (url, headers), ours, flasks in zip(requests, fronted, through_flask, strict=True):
        assert ours.status_code == flasks.status_code == 304, (url, headers)
        assert list(ours.headers.items()) == list(flasks.headers.items()), (url, headers)
    monkeypatch.setattr(caching.CachedPagesFront, "_hit", recording)
    url, headers = requests[0]
    screening.venue_name = "Another Hall"
    db.session.commit()
    front_answers.clear()
    assert visitor.get(url, headers=headers).status_code == 304  # Flask: the last build
    caching.wait_for_builds()
    assert visitor.get(url, headers=headers).status_code == 200  # the new build
    assert front_answers == [None, None]


def test_the_front_never_answers_for_a_film_withdrawn_from_the_catalogue(app, db, front_answers):
    """Even with a build at the feeds' version now (a rebuild that began before the film was
    withdrawn, and ended after), the front leaves a withdrawn film's feed to Flask: 404."""
    from screenings.models import Film
    from screenings.services import feeds as feed_service

    screening = ScreeningFactory(capacity=40)
    url = "/films/the-killing-roads/calendar.ics"
    visitor = app.test_client(use_cookies=False)
    etag = visitor.get(url).headers["ETag"].strip('"')
    film = db.session.get(Film, screening.film_id)
    film.is_active = False
    db.session.commit()
    key = "film-the-killing-roads-en"
    name_stored = feed_service.stored_name(key)
    with app.test_request_context():
        caching.keep_built(
            name_stored,
            feed_service.build_feed(key, "x", feed_service.Filters(film="the-killing-roads")),
        )
    built = caching.built_meta(name_stored)
    assert built.version == repr(feed_service.feed_state(key)[1])
    front_answers.clear()
    assert visitor.get(url, headers={"If-None-Match": f'"{built.etag}"'}).status_code == 404
    assert visitor.get(url, headers={"If-None-Match": f'"{etag}"'}).status_code == 404
    assert front_answers == [None, None]


def _postgresql_only(db) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's kept connection only (the CI run's second pass)")


def _change_committed_elsewhere(db, screening_id: int) -> None:
    """Another worker's change to the screening: its cache_version raised and committed."""
    from sqlalchemy import update

    from screenings.models import Screening

    with db.engine.begin() as connection:
        connection.execute(
            update(Screening)
            .where(Screening.id == screening_id)
            .values(cache_version=Screening.cache_version + 1)
        )


def test_version_reads_keep_their_connection_and_see_each_commit(app, db):
    """After the first, a version read checks nothing out of the pool (on PostgreSQL no
    pre-ping round trip; on SQLite no checkout and checkin), and still sees a change
    committed on another connection at once."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    screening = ScreeningFactory()
    screening_id = screening.id
    db.session.remove()
    first = caching.screening_version(screening_id)  # checks out the connection kept
    checkouts = []

    def note(*args):
        checkouts.append(args)

    event.listen(Pool, "checkout", note)  # any pool's
    try:
        versions = [caching.screening_version(screening_id) for _ in range(3)]
        caching.counter_versions("listing")
        read_checkouts = len(checkouts)  # before the write below checks one out
        _change_committed_elsewhere(db, screening_id)
        changed = caching.screening_version(screening_id)
    finally:
        event.remove(Pool, "checkout", note)
    assert read_checkouts == 0
    assert versions == [first] * 3
    assert changed[2] == first[2] + 1


def test_an_in_memory_database_reads_its_versions_on_its_own_connection():
    """An SQLite database in memory is its engine's own: a kept connection from a second
    engine would open another, empty one ("no such table"). Its reads use the app's pool."""
    from screenings import create_app
    from screenings.extensions import db as _db

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    with app.app_context():
        _db.create_all()
        try:
            assert caching.screening_version(1) is None  # no such screening, and no error
            assert caching.counter_versions("listing")[0][1] == 0
        finally:
            _db.engine.dispose()


def test_a_kept_connection_lost_is_replaced_within_the_read(app, db):
    """A database restart cuts the kept connection: the next read makes a new one and
    answers, instead of a 503 for the first visitor after it."""
    _postgresql_only(db)
    from sqlalchemy import text

    screening_id = ScreeningFactory().id
    db.session.remove()
    assert caching.screening_version(screening_id) is not None
    kept = caching._held_reads(db.engine).local.kept.connection
    backend = kept.execute(text("SELECT pg_backend_pid()")).scalar()
    with db.engine.begin() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend}).scalar()
    assert caching.screening_version(screening_id) is not None
    assert caching._held_reads(db.engine).local.kept.connection is not kept


def test_a_kept_connection_given_back_while_the_engine_is_disposed_is_closed(app, db):
    """A thread that ends gives its kept connection back to the pool (its __del__); if the
    app's engine is disposed at that moment (a worker shutting down, a test's teardown), the
    connection is closed either way, never left open in a pool that is being thrown away
    (psycopg's 'connection deleted while still open')."""
    _postgresql_only(db)
    from sqlalchemy import event

    screening_id = ScreeningFactory().id
    db.session.remove()
    held = caching._held_reads(db.engine)
    kept: list = []
    giving_back, go_on = threading.Event(), threading.Event()

    def read_in_a_thread():
        with app.app_context():
            assert caching.screening_version(screening_id) is not None
            kept.append(held.local.kept)

    thread = threading.Thread(target=read_in_a_thread)
    thread.start()
    thread.join()
    dbapi_connection = kept[0].connection.connection.dbapi_connection

    def slow_checkin(connection, record):
        giving_back.set()
        go_on.wait(0.5)

    event.listen(held.engine.pool, "checkin", slow_checkin)
    ending = threading.Thread(target=kept[0].close)  # what the ending thread's __del__ does
    ending.start()
    assert giving_back.wait(5)
    disposing = threading.Thread(target=db.engine.dispose)
    disposing.start()
    disposing.join(0.2)
    go_on.set()
    ending.join(5)
    disposing.join(5)
    assert dbapi_connection.closed


def _direct_reads(monkeypatch) -> list:
    """The rows read straight from the DBAPI cursor (caching._DirectRead), read by read."""
    rows = []
    original = caching._DirectRead.fetch

    def recorded(direct, kept, parameters):
        row = original(direct, kept, parameters)
        rows.append(row)
        return row

    monkeypatch.setattr(caching._DirectRead, "fetch", recorded)
    return rows


def test_a_direct_version_read_sends_cores_sql_and_reads_cores_row(app, db, monkeypatch):
    """On PostgreSQL a version read goes straight to the DBAPI cursor: the SQL Core sends for
    the statement, and a row equal, value for value and type for type, to the one Core reads."""
    _postgresql_only(db)
    from sqlalchemy import event

    screening_id = ScreeningFactory().id
    db.session.remove()
    held = caching._held_reads(db.engine)
    direct = _direct_reads(monkeypatch)
    reads = {
        "screening": {"id": screening_id},
        "screening-state": {"id": screening_id},
        "counters:2": {"name0": "listing", "name1": "feeds", "now": caching.utcnow()},
    }
    for name, parameters in reads.items():
        statement = caching._statement(name)
        row = held.read(statement, parameters)
        assert direct[-1] is row, f"{name}: read directly"
        sent = []

        def note(conn, cursor, sql, parameters, context, executemany, sent=sent):
            sent.append(sql)

        event.listen(held.engine, "before_cursor_execute", note)
        try:
            with held.engine.connect() as connection:
                cores = connection.execute(statement, parameters).first()
        finally:
            event.remove(held.engine, "before_cursor_execute", note)
        assert sent == [held._direct(statement).sql], name
        assert tuple(row) == tuple(cores), name
        assert [type(value) for value in row] == [type(value) for value in cores], name


def test_a_direct_version_read_sees_each_commit_at_once_in_autocommit(app, db, monkeypatch):
    """A direct read opens no transaction (no snapshot held between reads) and sees a change
    committed on another connection by the very next read; psycopg has prepared it by then."""
    _postgresql_only(db)
    from psycopg.pq import TransactionStatus

    screening_id = ScreeningFactory().id
    db.session.remove()
    direct = _direct_reads(monkeypatch)
    versions = [caching.screening_version(screening_id) for _ in range(6)]
    assert len(direct) == 6
    cursor = caching._held_reads(db.engine).local.kept.cursor
    assert cursor.connection.info.transaction_status == TransactionStatus.IDLE
    _change_committed_elsewhere(db, screening_id)
    changed = caching.screening_version(screening_id)
    assert len(direct) == 7
    assert versions == [versions[0]] * 6
    assert changed[2] == versions[0][2] + 1
    with cursor.connection.cursor() as own:  # the kept connection's own prepared statements
        own.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in own.fetchall()]
    assert any("FROM screenings JOIN films" in statement for statement in prepared), prepared


def test_a_direct_read_that_loses_its_connection_is_retried_once_on_a_new_one(app, db, monkeypatch):
    """The kept connection cut under a direct read (a database restart): the read raises
    DBAPIError saying the connection was lost, and _HeldReads reads again on a new one; a
    second failure goes up, so the front gives way to Flask's 503 page."""
    _postgresql_only(db)
    from sqlalchemy.exc import DBAPIError

    screening_id = ScreeningFactory().id
    db.session.remove()
    direct = _direct_reads(monkeypatch)
    assert caching.screening_version(screening_id) is not None
    held = caching._held_reads(db.engine)
    first = held.local.kept
    with first.cursor.connection.cursor() as own:
        backend = own.execute("SELECT pg_backend_pid()").fetchone()[0]
    with db.engine.begin() as connection:
        connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend)})")
    assert caching.screening_version(screening_id) is not None
    assert held.local.kept is not first
    assert first.connection is None
    assert len(direct) == 2  # the failed read raised before recording; the retry read

    original, attempts = caching._DirectRead.fetch, []

    def always_lost(direct, kept, parameters):
        attempts.append(kept)
        kept.connection.connection.dbapi_connection.close()
        return original(direct, kept, parameters)

    monkeypatch.setattr(caching._DirectRead, "fetch", always_lost)
    with pytest.raises(DBAPIError) as raised:
        caching.screening_version(screening_id)
    assert raised.value.connection_invalidated
    assert len(attempts) == 2
    assert attempts[0] is not attempts[1]


@pytest.mark.parametrize(
    "cookie_config",
    [
        {},
        {"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_SAMESITE": "Strict"},
        {"SESSION_COOKIE_DOMAIN": "screenings.test", "SESSION_COOKIE_PATH": "/screenings"},
        {"SESSION_COOKIE_NAME": "visit", "SESSION_COOKIE_HTTPONLY": False},
        {"SESSION_COOKIE_PARTITIONED": True, "SESSION_COOKIE_SECURE": True},
    ],
)
def test_the_fronts_session_cookie_is_the_one_flask_writes(app, monkeypatch, cookie_config):
    """The front writes a new visitor's Set-Cookie without a response object: the same
    header, byte for byte, as Flask's save_session writes for the same session."""
    from itsdangerous import TimestampSigner

    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda signer: 1_800_000_000)
    app.config.update(cookie_config)
    interface = app.session_interface
    new_session = interface.session_class()
    new_session["csrf_token"] = "0123456789abcdef0123456789abcdef01234567"
    with app.app_context():
        holder = app.response_class()
        interface.save_session(app, new_session, holder)
        assert [caching._session_cookie(app, interface, new_session)] == (
            holder.headers.getlist("Set-Cookie")
        )


def test_the_fronts_form_token_is_the_one_flask_wtf_signs(app):
    """The front's token is Flask-WTF's signature of the session's value, under the current
    secret key: a key changed since the last hit signs the next one."""
    from itsdangerous import URLSafeTimedSerializer

    def token_and_value() -> tuple[str, str]:
        body, cookies = caching._with_new_form_token(app, caching._CSRF_PLACEHOLDER_BYTES)
        loaded = app.session_interface.get_signing_serializer(app).loads(
            cookies[0].split(";")[0].split("=", 1)[1]
        )
        return body.decode(), loaded["csrf_token"]

    for secret in ("first-secret-" + "a" * 32, "second-secret-" + "b" * 32):
        app.config["SECRET_KEY"] = secret
        token, value = token_and_value()
        assert URLSafeTimedSerializer(secret, salt="wtf-csrf-token").loads(token) == value
