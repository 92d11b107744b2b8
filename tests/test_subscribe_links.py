"""Subscribe links that subscribe (issue 14, items 2 and 4): webcal://, Google's ``cid`` and
Outlook's ``addfromweb`` for personal and work accounts, for the all, per-film and per-country
feeds, on the upcoming list, the film pages and the embed, built from PUBLIC_BASE_URL."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from screenings import calendar
from screenings.models import Film

from .factories import make_screening

SLUG = "the-killing-roads"
BASE = "https://films.example.net/sub"  # PUBLIC_BASE_URL with a path, unlike the Host


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.anchors.append(dict(attrs))


def anchors(page: str) -> list[dict[str, str]]:
    parser = Anchors()
    parser.feed(page)
    return parser.anchors


def subscribed_feeds(page: str) -> dict[str, dict[str, dict[str, str]]]:
    """Feed address (http) -> {kind: anchor} for every subscribe link on the page, each
    link's feed read back from its own href (so a link to another feed shows as one)."""
    feeds: dict[str, dict[str, dict[str, str]]] = {}
    for anchor in anchors(page):
        href = anchor.get("href", "")
        parts = urlsplit(href)
        query = parse_qs(parts.query)
        if parts.scheme == "webcal":
            kind, feed = "webcal", "https:" + href.removeprefix("webcal:")
        elif parts.netloc == "calendar.google.com" and parts.path == "/calendar/r":
            kind, feed = "google", "https:" + query["cid"][0].removeprefix("webcal:")
            assert query["cid"][0].startswith("webcal://")
            assert "cid=" + quote(query["cid"][0], safe="") in href  # percent-encoded whole
        elif parts.path == "/calendar/0/addfromweb":
            kind = {"outlook.live.com": "live", "outlook.office.com": "office"}[parts.netloc]
            feed = query["url"][0]
            assert "url=" + quote(feed, safe="") in href
            assert query["name"][0]
        else:
            continue
        assert parts.scheme in ("webcal", "https")
        feeds.setdefault(feed, {})[kind] = anchor
    return feeds


KINDS = {"webcal", "google", "live", "office"}


@pytest.mark.config(PUBLIC_BASE_URL=BASE)
def test_upcoming_list_subscribes_to_all_and_to_the_chosen_film_and_country(client, db):
    page = client.get("/screenings", base_url="http://evil.test").get_data(as_text=True)
    feeds = subscribed_feeds(page)
    assert set(feeds) == {f"{BASE}/calendar.ics"}
    assert set(feeds[f"{BASE}/calendar.ics"]) == KINDS
    assert f'value="{BASE}/calendar.ics"' in page  # the address to copy
    assert "evil.test" not in page

    page = client.get(f"/screenings?film={SLUG}&country=fr", base_url="http://evil.test")
    feeds = subscribed_feeds(page.get_data(as_text=True))
    assert set(feeds) == {
        f"{BASE}/films/{SLUG}/calendar.ics",
        f"{BASE}/countries/FR/calendar.ics",
        f"{BASE}/calendar.ics",
    }
    assert all(set(links) == KINDS for links in feeds.values())
    # A film or country nobody offers adds no feed (and no dead link).
    assert set(subscribed_feeds(client.get("/screenings?film=nope&country=ZZ").text)) == {
        f"{BASE}/calendar.ics"
    }


@pytest.mark.config(PUBLIC_BASE_URL=BASE)
def test_film_page_subscribes_to_the_films_feed(client, db):
    film = db.session.get(Film, 1)
    assert film.slug == SLUG
    screening = make_screening(city="Haifa")
    page = client.get(f"/films/{SLUG}", base_url="http://evil.test").get_data(as_text=True)
    assert film.title in page
    assert f"/screenings/{screening.id}" in page
    feeds = subscribed_feeds(page)
    assert set(feeds) == {f"{BASE}/films/{SLUG}/calendar.ics", f"{BASE}/calendar.ics"}
    assert set(feeds[f"{BASE}/films/{SLUG}/calendar.ics"]) == KINDS
    outlook = parse_qs(urlsplit(feeds[f"{BASE}/films/{SLUG}/calendar.ics"]["office"]["href"]).query)
    assert outlook["name"] == [f"Screenings of {film.title}"]
    # Each feed answers at the address its links carry.
    assert client.get(f"/films/{SLUG}/calendar.ics").status_code == 200
    assert client.get(f"/films/{SLUG}").status_code == 200
    assert client.get("/films/nope").status_code == 404
    assert f'href="/films/{SLUG}"' in client.get("/").get_data(as_text=True)


@pytest.mark.config(PUBLIC_BASE_URL=BASE)
def test_embed_subscribes_in_a_new_window(client, db):
    page = client.get(f"/embed?film={SLUG}", base_url="http://evil.test").get_data(as_text=True)
    feeds = subscribed_feeds(page)
    assert set(feeds) == {f"{BASE}/films/{SLUG}/calendar.ics", f"{BASE}/calendar.ics"}
    for links in feeds.values():
        assert set(links) == KINDS
        # Inside another site's frame, a link must not navigate the frame itself.
        assert all(anchor.get("target") == "_blank" for anchor in links.values())
    assert set(subscribed_feeds(client.get("/embed?country=CA").text)) == {
        f"{BASE}/countries/CA/calendar.ics",
        f"{BASE}/calendar.ics",
    }


def test_helper_takes_any_feed_address():
    """A feed not yet built (near me) gets the same links from its address alone."""
    url = "https://s.test/near/calendar.ics?lat=43.65&lon=-79.38&km=25"
    links = calendar.subscribe_links(url, name="Near me & around")
    assert links["webcal"] == "webcal://s.test/near/calendar.ics?lat=43.65&lon=-79.38&km=25"
    google = urlsplit(links["google"])
    assert (google.netloc, google.path) == ("calendar.google.com", "/calendar/r")
    assert parse_qs(google.query) == {"cid": [links["webcal"]]}
    for key, host in (("outlook", "outlook.live.com"), ("outlook_office", "outlook.office.com")):
        parts = urlsplit(links[key])
        assert (parts.netloc, parts.path) == (host, "/calendar/0/addfromweb")
        assert parse_qs(parts.query) == {"url": [url], "name": ["Near me & around"]}
        assert "url=https%3A%2F%2Fs.test%2Fnear%2Fcalendar.ics%3Flat%3D43.65%26lon" in links[key]


def test_screening_page_adds_to_outlook_work_accounts_too(client, db):
    screening = make_screening()
    found = {}
    for anchor in anchors(client.get(f"/screenings/{screening.id}").get_data(as_text=True)):
        parts = urlsplit(anchor.get("href", ""))
        if parts.path == "/calendar/0/deeplink/compose":
            found[parts.netloc] = parse_qs(parts.query)
    assert set(found) == {"outlook.live.com", "outlook.office.com"}
    assert found["outlook.live.com"] == found["outlook.office.com"]
    assert found["outlook.office.com"]["rru"] == ["addevent"]
    assert found["outlook.office.com"]["startdt"] == [f"{screening.starts_at:%Y-%m-%dT%H:%M:%S}Z"]
