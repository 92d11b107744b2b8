"""Languages: English, French and Hebrew pages, e-mails and invites, locale formats, catalogues."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from babel.dates import format_date
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import render_template_string
from flask_babel import force_locale
from icalendar import Calendar
from sqlalchemy import select

from screenings.emails import send_manage_link
from screenings.models import Rsvp, Screening
from screenings.outbox import deliver_pending

from .conftest import booking_data, submit
from .factories import make_screening
from .rsvp_helpers import calendar_bytes, post_rsvp

TRANSLATIONS = Path(__file__).resolve().parent.parent / "screenings" / "translations"
LANGUAGES = ("fr", "he")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def speak(client, accept_language: str) -> None:
    """Every later request from this client sends this Accept-Language header."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept_language


def switch_language(client, code: str, next_path: str = "/"):
    """Press a language button in the header, as a browser does (a GET form)."""
    form = re.search(r'<form method="get" action="(/language)"', client.get("/").get_data(True))
    return client.get(form.group(1), query_string={"language": code, "next": next_path})


def html_tag(page: str) -> str:
    return re.search(r"<html[^>]*>", page).group(0)


def plain(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


# ---------------------------------------------------------------- pages
def test_french_browser_gets_french_pages(client):
    speak(client, "fr-CA,fr;q=0.9,en;q=0.5")
    page = client.get("/").get_data(as_text=True)
    assert 'lang="fr"' in html_tag(page)
    assert 'dir="ltr"' in html_tag(page)
    assert "Projections communautaires gratuites" in page
    assert "Réserver une projection" in page
    assert "The Killing Roads" in page  # the film's title is never translated


def test_hebrew_browser_gets_right_to_left_hebrew_pages(client):
    speak(client, "he-IL,he;q=0.9")
    page = client.get("/book").get_data(as_text=True)
    assert 'lang="he"' in html_tag(page)
    assert 'dir="rtl"' in html_tag(page)
    assert "הזמנת הקרנה" in page
    assert "דילוג לתוכן" in page  # the skip link too


def test_a_name_inside_a_hebrew_sentence_is_isolated_and_escaped_once(client, db):
    screening = make_screening(organization_name="Tom & Jerry <Club>")
    speak(client, "he-IL,he;q=0.9")
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    sentence = re.search(r'<p class="hint who-sees-replies">(.*?)</p>', page).group(1)
    assert sentence.startswith("רק ")
    assert "<bdi>Tom &amp; Jerry &lt;Club&gt;</bdi>" in sentence
    assert "&amp;amp;" not in page
    assert "<Club>" not in page


def test_unknown_language_falls_back_to_english(client):
    speak(client, "de-DE,de;q=0.9")
    page = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in html_tag(page)
    assert "Free community screenings" in page


def test_switcher_changes_the_language_and_returns_to_the_page(client):
    speak(client, "en-US,en;q=0.9")
    response = switch_language(client, "fr", next_path="/upcoming?city=Toronto")
    assert response.status_code == 302
    assert response.headers["Location"] == "/upcoming?city=Toronto"
    page = client.get("/").get_data(as_text=True)
    assert 'lang="fr"' in html_tag(page)
    # The switcher marks the current language and names each one in itself.
    assert re.search(r'value="fr" lang="fr"[^>]*aria-current="true"', page)
    assert 'lang="he"' in page
    assert "עברית" in page

    switch_language(client, "he")
    assert 'dir="rtl"' in html_tag(client.get("/").get_data(as_text=True))


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
        "",
    ],
)
def test_switcher_never_redirects_off_site(client, target):
    response = switch_language(client, "fr", next_path=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert 'lang="fr"' in html_tag(client.get("/").get_data(as_text=True))


def test_switcher_refuses_an_unknown_language(client):
    speak(client, "en")
    switch_language(client, "de")
    assert 'lang="en"' in html_tag(client.get("/").get_data(as_text=True))


def test_public_pages_set_no_cookie_until_a_language_is_chosen(client, db):
    """No form token in the header: an anonymous visitor's list page needs no session."""
    for path in ("/", "/screenings"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
    switch_language(client, "fr")
    assert client.get_cookie("session") is not None


# ---------------------------------------------------------------- e-mails and invites
def test_french_booking_end_to_end_sends_the_licence_in_french(client, db, smtp):
    speak(client, "fr-CA,fr;q=0.9")
    response = submit(client, "/book", booking_data(), follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    screening = db.session.scalar(select(Screening))
    number = screening.current_licence.number
    assert screening.language == "fr"
    assert f"la licence {number} est délivrée" in page

    (message,) = smtp.wait_for(1)
    assert message["Content-Language"] == "fr"
    assert message["Subject"].startswith(f"Votre licence de projection {number}")
    assert message["Subject"].endswith("The Killing Roads")
    text = plain(message)
    assert "Bonjour Miriam Cohen," in text
    assert f"Votre numéro de licence est {number}" in text
    when = format_date(screening.local_start_aware, "full", locale="fr")
    assert when in text  # "jeudi 10 décembre 2026": French day and month names
    # The name set apart from the sentence (<bdi>), as every name in an HTML e-mail is.
    assert "Bonjour <bdi>Miriam Cohen</bdi>," in html(message)
    assert 'lang="fr"' in html(message)
    invite = Calendar.from_ical(calendar_bytes(message)).walk("VEVENT")[0]
    assert "Organisée par Beth Tzedec Congregation" in str(invite["DESCRIPTION"])


def test_hebrew_booking_chosen_with_the_switcher_sends_hebrew_email(client, db, smtp):
    # The browser asks for English; the person chose Hebrew: the language they used wins.
    speak(client, "en-US,en;q=0.9")
    switch_language(client, "he")
    smtp.clear()
    submit(client, "/book", booking_data(), follow_redirects=True)
    screening = db.session.scalar(select(Screening))
    assert screening.language == "he"

    (message,) = smtp.wait_for(1)
    assert message["Content-Language"] == "he"
    assert message["Subject"].startswith("רישיון ההקרנה שלכם")
    text = plain(message)
    assert "שלום Miriam Cohen," in text
    assert "קנדה" in text  # the venue's country, named in Hebrew
    assert format_date(screening.local_start_aware, "full", locale="he") in text
    body = html(message)
    assert 'dir="rtl"' in body
    assert 'align="right"' in body  # the particulars table starts on the right
    invite = Calendar.from_ical(calendar_bytes(message)).walk("VEVENT")[0]
    assert "מארחים: Beth Tzedec Congregation" in str(invite["DESCRIPTION"])


def test_french_rsvp_gets_the_attendee_email_in_french(client, db, smtp):
    screening = make_screening(language="en")
    smtp.clear()
    speak(client, "fr-FR,fr;q=0.8")
    response = post_rsvp(client, screening, follow_redirects=True)
    # The answer's French comes with the translation pass (a new message); the page's now.
    assert '<html lang="fr"' in response.get_data(as_text=True)
    rsvp = db.session.scalar(select(Rsvp))
    assert rsvp.language == "fr"

    (message,) = smtp.wait_for(1)
    assert message["Content-Language"] == "fr"
    assert message["Subject"].startswith("Vous êtes sur la liste des invités")
    assert "The Killing Roads" in message["Subject"]
    text = plain(message)
    assert "Bonjour Ann Attendee," in text
    assert format_date(screening.local_start_aware, "full", locale="fr") in text
    invite = Calendar.from_ical(calendar_bytes(message)).walk("VEVENT")[0]
    assert "Organisée par" in str(invite["DESCRIPTION"])


def test_organizer_email_stays_in_their_language_whoever_triggers_it(app, db, smtp):
    screening = make_screening(language="he")
    deliver_pending()
    smtp.clear()
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        send_manage_link(screening)  # a French-speaking producer revokes the link
        db.session.commit()
    deliver_pending()
    (message,) = smtp.wait_for(1)
    assert message["Content-Language"] == "he"
    assert message["Subject"].startswith("הקישור החדש שלכם")


# ---------------------------------------------------------------- formats
def test_dates_and_numbers_follow_the_locale(app):
    moment = datetime(2026, 12, 11, 0, 30)  # noqa: DTZ001 naive UTC, as the app stores it
    template = (
        "{{ moment|format_datetime('long', zone='America/Toronto') }} | "
        "{{ day|format_date('full') }} | {{ 12345.5|format_number }}"
    )
    with app.test_request_context():
        rendered = {}
        for language in ("en", "fr", "he"):
            with force_locale(language):
                rendered[language] = render_template_string(
                    template, moment=moment, day=date(2026, 12, 10)
                )
    # English in the licences' house style, day first, as starts are written (places.date_words)
    assert rendered["en"] == "10 December 2026, 19:30 | Thursday 10 December 2026 | 12,345.5"
    assert rendered["fr"] == "10 décembre 2026, 19:30 | jeudi 10 décembre 2026 | 12\u202f345,5"
    assert rendered["he"].startswith("10 בדצמבר 2026, 19:30 | יום חמישי, 10 בדצמבר 2026")


def test_screening_page_shows_its_start_in_the_readers_language(client, db):
    screening = make_screening()
    local = screening.local_start_aware
    speak(client, "fr")
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert format_date(local, "full", locale="fr") in page
    assert f"{local:%H:%M} (America/Toronto, UTC" in page
    speak(client, "he")
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert format_date(local, "full", locale="he") in page
    speak(client, "en")
    page = client.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert f"{local:%A} {local.day} {local:%B %Y, %H:%M}" in page  # the house English style


# ---------------------------------------------------------------- catalogues
def _catalog(language: str):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


def _key(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def _strings(message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def _ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_its_placeholders(language):
    catalog = _catalog(language)
    messages = [m for m in catalog if m.id]
    assert len(messages) > 500
    problems = []
    for message in messages:
        wanted = set(PLACEHOLDER.findall(_ids(message)[-1]))
        strings = _strings(message)
        if message.fuzzy or not all(strings):
            problems.append(("untranslated or fuzzy", message.id))
            continue
        for index, string in enumerate(strings):
            found = set(PLACEHOLDER.findall(string))
            # A plural's singular form may spell the number out ("one booking").
            singular = message.pluralizable and index < len(strings) - 1
            if (found - wanted) or (not singular and found != wanted):
                problems.append(("placeholders differ", message.id, string))
        if "The Killing Roads" in str(message.id):
            assert all("The Killing Roads" in s for s in strings)
    assert problems == []
    assert not catalog.fuzzy


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_has_every_message_of_the_template(language):
    with open(TRANSLATIONS / "messages.pot", "rb") as pot:
        template = {m.id for m in read_po(pot) if m.id}
    assert {m.id for m in _catalog(language) if m.id} == template


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalogue_is_up_to_date_with_its_po(language):
    """The committed .mo is what `pybabel compile` makes of the .po (run `make translations`)."""
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(language))
    compiled.seek(0)
    fresh = {_key(m.id): _key(m.string) for m in read_mo(compiled) if m.id}
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo", "rb") as mo:
        committed = {_key(m.id): _key(m.string) for m in read_mo(mo) if m.id}
    assert committed == fresh


def test_published_feed_is_one_language_for_every_reader(client, db):
    """A feed is public and cached, so it is not translated; personal invites are."""
    make_screening()
    speak(client, "fr")
    feed = client.get("/calendar.ics")
    assert feed.status_code == 200
    assert b"Hosted by Beth Tzedec Congregation" in feed.get_data()


def test_a_template_message_follows_the_language_it_is_rendered_in(app):
    """Templates find each language's catalogue once (views.install_template_gettext): an
    e-mail rendered under force_locale in a French request is in its reader's language, and
    the request's own messages stay French before and after it."""
    template = '{{ _("Upcoming screenings") }}|{{ ngettext("%(num)d seat", "%(num)d seats", 2) }}'
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        app.preprocess_request()
        french = render_template_string(template)
        with force_locale("he"):
            hebrew = render_template_string(template)
        with force_locale("en"):
            english = render_template_string(template)
        assert render_template_string(template) == french
    assert english == "Upcoming screenings|2 seats"
    assert french == "Prochaines projections|2 places"
    assert hebrew == "הקרנות קרובות|2 מקומות"


def test_templates_find_a_languages_catalogue_once(app, client, monkeypatch):
    """Not once per message: Flask-Babel's lookup of the catalogue went through g three
    times and wrote the locale out, for each of a page's 30 to 50 messages."""
    from screenings import views

    looked_up = []
    find = views.get_translations

    def counted():
        looked_up.append(1)
        return find()

    monkeypatch.setattr(views, "get_translations", counted)
    for _ in range(2):
        for language in ("en", "fr", "he"):
            assert client.get("/", headers={"Accept-Language": language}).status_code == 200
    assert len(looked_up) == 3
