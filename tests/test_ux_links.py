""" "E-mail me my links", the producer's identity and the privacy page: end to end, with real
SMTP on loopback."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from screenings.models import OutboxMessage, Screening

from .conftest import submit
from .rsvp_helpers import reply

LINK = re.compile(r"http://screenings\.test/(manage|rsvp)/([A-Za-z0-9_-]{20,})")


def _ask(client, address: str):
    return submit(client, "/links", {"email": address}, follow_redirects=True)


def _links(message) -> list[str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    return [match.group(0) for match in LINK.finditer(text)]


@pytest.mark.config(PRODUCER_CONTACT_EMAIL="hello@chutzpa.example")
def test_my_links_sends_every_working_link_of_the_address(client, book, db, smtp):
    assert book().status_code == 200
    assert book(venue_name="Second Hall", submission_key=None).status_code == 200
    screenings = db.session.scalars(select(Screening)).all()
    assert len(screenings) == 2
    reply(screenings[0], email="Miriam@Example.org", name="Miriam Cohen")
    already = len(smtp.messages)

    response = _ask(client, "MIRIAM@example.org")
    assert response.status_code == 200
    assert "Check your e-mail" in response.get_data(as_text=True)
    messages = smtp.wait_for(already + 1)
    assert len(messages) == already + 1
    mail = messages[-1]
    assert "miriam@example.org" in str(mail["To"])
    assert "Your links to your screenings" in str(mail["Subject"])
    links = _links(mail)
    assert len([link for link in links if "/manage/" in link]) == 2
    assert len([link for link in links if "/rsvp/" in link]) == 1
    # Each is a capability link that opens its page.
    for link in links:
        page = client.get(link.removeprefix("http://screenings.test"))
        assert page.status_code == 200, link
    # Buttons in the HTML, and who is behind it in both parts.
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert html.count("Manage this screening</a>") == 2
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "hello@chutzpa.example" in text
    assert "hello@chutzpa.example" in html


def test_unknown_address_gets_the_same_page_and_no_mail(client, book, db, smtp):
    book()
    already = len(smtp.wait_for(1))
    known = _ask(client, "miriam@example.org")
    unknown = _ask(client, "nobody@example.org")
    assert unknown.status_code == known.status_code == 200
    strip = re.compile(r'name="csrf_token"[^>]*>|nonce="[^"]*"')
    assert strip.sub("", unknown.get_data(as_text=True)) == strip.sub(
        "", known.get_data(as_text=True)
    )
    smtp.wait_for(already + 2, timeout=2)
    assert [m for m in smtp.messages if "nobody@example.org" in str(m["To"])] == []
    assert len(smtp.to("miriam@example.org")) == already + 1


@pytest.mark.config(LINKS_MAILS_PER_ADDRESS_PER_DAY=2)
def test_an_address_gets_at_most_its_daily_allowance(client, book, db, smtp):
    book()
    for _ in range(4):
        assert _ask(client, "miriam@example.org").status_code == 200
    sent = db.session.scalar(
        select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "my_links")
    )
    assert sent == 2


@pytest.mark.config(RATELIMIT_ENABLED=True, RATELIMIT_LINKS="2 per hour")
def test_a_client_is_rate_limited(client):
    for _ in range(2):
        assert _ask(client, "someone@example.org").status_code == 200
    assert _ask(client, "other@example.org").status_code == 429


def test_a_bad_address_comes_back_beside_the_field(client):
    response = submit(client, "/links", {"email": "not an address"})
    assert response.status_code == 422
    assert 'id="email-error"' in response.get_data(as_text=True)


def test_links_keep_working_after_the_secret_is_rotated(app, client, book, db, smtp):
    """A new SECRET_KEY, the old one kept as a fallback: the links re-sent still open."""
    book()
    already = len(smtp.wait_for(1))
    old = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "a-new-secret-key-" + "y" * 32
    app.config["SECRET_KEY_FALLBACKS"] = [old]
    _ask(client, "miriam@example.org")
    links = _links(smtp.wait_for(already + 1)[-1])
    assert links
    for link in links:
        assert client.get(link.removeprefix("http://screenings.test")).status_code == 200


@pytest.mark.config(
    PRODUCER_CONTACT_EMAIL="hello@chutzpa.example",
    PRODUCER_ADDRESS="Rothschild Blvd 1, Tel Aviv",
    PRODUCER_IMPRINT="Chutzpa Productions Ltd, company no. 51-000000-0",
)
def test_every_page_says_who_is_behind_it(client):
    for path in ("/", "/book", "/privacy", "/links"):
        html = client.get(path).get_data(as_text=True)
        assert "Run by Chutzpa Productions." in html, path
        assert 'href="mailto:hello@chutzpa.example"' in html, path
        assert "Rothschild Blvd 1, Tel Aviv" in html, path
        assert 'href="/privacy"' in html, path
        assert 'href="/links"' in html, path
    privacy = client.get("/privacy").get_data(as_text=True)
    assert "company no. 51-000000-0" in privacy
    assert "days after the screening" in privacy


def test_a_lost_link_leads_to_my_links(client):
    response = client.get("/manage/" + "x" * 43)
    assert response.status_code == 404
    assert 'href="/links"' in response.get_data(as_text=True)
