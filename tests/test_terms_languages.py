"""Licence terms in the host's language: a terms version has a text per language, the host
reads and accepts theirs (English where it was not written, saying so), and the licence (its
PDF and its verification page) states the text in the language it was accepted in."""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

from pypdf import PdfReader
from sqlalchemy import func, select

from screenings.calendar import published_event
from screenings.formatting import paragraphs
from screenings.identity import producer_identity
from screenings.models import Film, Licence, LicenceTerms, Screening
from screenings.services import films
from screenings.services.bookings import update_booking
from screenings.services.films import (
    THE_KILLING_ROADS_TERMS,
    THE_KILLING_ROADS_TERMS_FR,
    THE_KILLING_ROADS_TERMS_HE,
    seed_catalogue,
    set_terms,
)

from . import producer_helpers
from .conftest import submit
from .factories import booking_details, make_screening
from .test_i18n import speak

producer = producer_helpers.producer  # the fixture, logged in on `client`

FR_TERM = "2. Entrée gratuite. La projection doit être gratuite pour chaque spectateur."
HE_TERM = "ההקרנה תהיה ללא תשלום לכל צופה"
EN_TERM = "2. Free admission. The screening must be free of charge to every attendee."


def pdf_text(data: bytes) -> tuple[int, str]:
    """Page count and the text of every page, whitespace collapsed."""
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))


def licence_pdf_of(client, response) -> bytes:
    """The licence PDF the host downloads from the manage page they landed on."""
    return client.get(urlsplit(response.request.url).path + "/licence.pdf").data


def test_a_french_host_accepts_the_french_terms_and_their_licence_states_them(
    app, client, book, db
):
    speak(client, "fr")
    form = client.get("/book").get_data(as_text=True)
    assert "Entrée gratuite. La projection doit être gratuite" in form
    assert "Free admission. The screening must be free" not in form
    assert "pas encore rédigées dans votre langue" not in form

    response = book()
    screening = db.session.scalar(select(Screening))
    licence = db.session.scalar(select(Licence))
    assert screening.language == "fr"
    assert screening.accepted_terms_language == "fr"
    assert licence.terms_language == "fr"

    pages, text = pdf_text(licence_pdf_of(client, response))
    assert pages == 1
    assert "Numéro de licence" in text
    assert FR_TERM in text
    assert "Free admission" not in text
    assert app.config["PRODUCER_NAME"] in text
    assert f"Contact : {producer_identity().contact_email}" in text

    # The verification page shows the terms as accepted, whatever its reader's language.
    speak(client, "en")
    page = client.get(f"/licences/{licence.number}").get_data(as_text=True)
    assert "Entrée gratuite. La projection doit être gratuite" in page
    assert '<div class="terms" lang="fr" dir="ltr">' in page


def test_a_hebrew_host_reads_and_accepts_the_hebrew_terms(client, book, db):
    speak(client, "he")
    form = client.get("/book").get_data(as_text=True)
    assert '<div class="terms" tabindex="0" lang="he" dir="rtl">' in form
    assert "2. כניסה חופשית. ההקרנה תהיה ללא תשלום לכל צופה." in form

    response = book()
    assert db.session.scalar(select(Licence.terms_language)) == "he"
    pages, text = pdf_text(licence_pdf_of(client, response))
    assert pages == 1
    assert HE_TERM in text
    assert "מספר רישיון" in text


def test_terms_not_written_in_the_hosts_language_are_shown_and_stated_in_english(client, book, db):
    film = db.session.get(Film, 1)
    set_terms(film, THE_KILLING_ROADS_TERMS, {"fr": THE_KILLING_ROADS_TERMS_FR})  # no Hebrew
    db.session.commit()
    speak(client, "he")

    form = client.get("/book").get_data(as_text=True)
    assert "התנאים טרם נכתבו בשפתך" in form
    assert '<div class="terms" tabindex="0" lang="en" dir="ltr">' in form
    assert EN_TERM in form

    response = book()
    assert db.session.scalar(select(Screening.accepted_terms_language)) == "en"
    assert db.session.scalar(select(Licence.terms_language)) == "en"
    pages, text = pdf_text(licence_pdf_of(client, response))
    assert pages == 1
    assert "מספר רישיון" in text  # the labels in the host's language
    assert EN_TERM in text  # the terms as accepted
    assert "כפי שאושרו, בשפה: אנגלית." in text


def test_newer_terms_accepted_on_the_edit_page_are_recorded_in_that_language(app, db):
    screening = make_screening(language="en")
    assert screening.current_licence.terms_language == "en"
    film = db.session.get(Film, 1)
    set_terms(film, THE_KILLING_ROADS_TERMS + "9. New.", {"fr": THE_KILLING_ROADS_TERMS_FR})
    db.session.commit()

    update_booking(
        screening,
        booking_details(expected_audience=150),
        actor="organizer",
        accept_new_terms=True,
        terms_language="fr",
    )

    assert screening.accepted_terms.version == 2
    assert screening.accepted_terms_language == "fr"
    assert screening.current_licence.revision == 2
    assert screening.current_licence.terms_language == "fr"
    assert screening.licences[0].terms_language == "en"  # the first revision keeps its own


def test_the_producer_writes_the_terms_in_french_and_hebrew(client, producer, db):
    from .test_producer_films import _film_form

    page = client.get("/producer/films/1").get_data(as_text=True)
    assert "Concession. Chutzpa Productions concède" in page  # the seeded texts, to edit
    assert 'lang="he"' in page

    submit(
        client,
        "/producer/films/1",
        _film_form(terms="1. Terms.", terms_fr="1. Conditions.", terms_he="1. תנאים."),
    )
    terms = db.session.get(Film, 1).current_terms
    assert terms.version == 2
    assert terms.texts == {"en": "1. Terms.", "fr": "1. Conditions.", "he": "1. תנאים."}

    # The same texts again make no version; a change in one language makes one.
    submit(
        client,
        "/producer/films/1",
        _film_form(terms="1. Terms.", terms_fr="1. Conditions.", terms_he="1. תנאים."),
    )
    assert db.session.scalar(select(func.count(LicenceTerms.id))) == 2
    submit(client, "/producer/films/1", _film_form(terms="1. Terms.", terms_fr="1. Autres."))
    terms = db.session.get(Film, 1).current_terms
    assert terms.version == 3
    assert terms.texts == {"en": "1. Terms.", "fr": "1. Autres."}  # Hebrew left empty: none
    assert terms.text_in("he") == "1. Terms."


def test_seeding_translates_terms_seeded_in_english_only_and_leaves_edited_ones(app, db):
    film = db.session.get(Film, 1)
    assert film.current_terms.texts == {
        "en": THE_KILLING_ROADS_TERMS,
        "fr": THE_KILLING_ROADS_TERMS_FR,
        "he": THE_KILLING_ROADS_TERMS_HE,
    }
    # An install seeded before the translations: its terms and film texts are English alone.
    film.current_terms.translations_json = "{}"
    film.translations_json = "{}"
    db.session.commit()
    seed_catalogue()
    assert film.current_terms.version == 2
    assert film.current_terms.language_for("he") == "he"
    assert film.text_in("synopsis", "fr").startswith("Un documentaire sur les massacres")
    # Terms the producer rewrote are theirs: seeding adds nothing.
    films.set_terms(film, "Our own terms.")
    db.session.commit()
    seed_catalogue()
    assert film.current_terms.texts == {"en": "Our own terms."}


# -- the film's synopsis and advisory ----------------------------------------------------------

FR_SYNOPSIS = "Un documentaire sur les massacres des routes 232 et 34"
HE_SYNOPSIS = "סרט תיעודי על הטבח בכבישים 232 ו־34"
FR_ADVISORY = "Contient des images très dures des attaques du 7 octobre 2023"
EN_SYNOPSIS = "A documentary about the massacres on Routes 232 and 34"
EN_ADVISORY = "Contains graphic footage of the 7 October 2023 attacks"


def test_film_pages_show_the_synopsis_and_advisory_in_the_visitors_language(client, db):
    screening = make_screening()
    pages = {"film": "/films/the-killing-roads", "screening": f"/screenings/{screening.id}"}
    for path in pages.values():
        speak(client, "fr")
        page = client.get(path).get_data(as_text=True)
        assert FR_SYNOPSIS in page, path
        assert FR_ADVISORY in page, path
        assert EN_SYNOPSIS not in page, path
        assert EN_ADVISORY not in page, path
        speak(client, "he")
        assert HE_SYNOPSIS in client.get(path).get_data(as_text=True), path
        speak(client, "en")
        page = client.get(path).get_data(as_text=True)
        assert EN_SYNOPSIS in page, path
        assert FR_SYNOPSIS not in page, path
    speak(client, "fr")
    assert FR_ADVISORY in client.get("/book").get_data(as_text=True)

    # A language the producer wrote nothing in is shown the English.
    films.set_film_texts(db.session.get(Film, 1), {"he": {"synopsis": "תקציר."}})
    db.session.commit()
    page = client.get(pages["film"]).get_data(as_text=True)
    assert EN_SYNOPSIS in page
    assert EN_ADVISORY in page


def test_a_french_hosts_licence_mail_carries_the_french_advisory(book, client, smtp):
    speak(client, "fr")
    book()

    message = smtp.wait_for(1)[0]
    assert FR_ADVISORY in message.get_body(preferencelist=("plain",)).get_content()
    assert FR_ADVISORY in message.get_body(preferencelist=("html",)).get_content()
    assert EN_ADVISORY not in message.get_body(preferencelist=("plain",)).get_content()


def test_a_calendar_entry_in_french_carries_the_french_advisory(app, db):
    screening = make_screening()
    url = "https://screenings.example.org/screenings/1"

    french = published_event(screening, url=url, domain="example.org", language="fr")
    shared = published_event(screening, url=url, domain="example.org")  # a feed's one text
    assert "Contient des images très dures" in french.decode().replace("\r\n ", "")
    assert "Contains graphic footage" in shared.decode().replace("\r\n ", "")


def test_the_producer_writes_the_synopsis_and_advisory_in_french_and_hebrew(client, producer, db):
    from .test_producer_films import _film_form

    page = client.get("/producer/films/1").get_data(as_text=True)
    assert FR_SYNOPSIS in page
    assert HE_SYNOPSIS in page

    submit(
        client,
        "/producer/films/1",
        _film_form(synopsis_fr="Un film.", content_advisory_he="אזהרה.", synopsis_he=""),
    )
    film = db.session.get(Film, 1)
    assert film.text_in("synopsis", "fr") == "Un film."
    assert film.text_in("content_advisory", "he") == "אזהרה."
    assert film.text_in("synopsis", "he") == "A documentary."  # left empty: the English
    assert film.text_in("content_advisory", "fr") == "Graphic footage."


def test_terms_are_cut_into_their_numbered_paragraphs():
    """Each numbered term is a paragraph of its own (shown dir="auto"); a wrapped line stays
    with its term, and a blank line also ends a paragraph."""
    text = "Preamble line\n1. Grant. One\nwrapped.\n2) Second.\n\nClosing words.\n- a bullet\n"
    assert paragraphs(text) == [
        "Preamble line",
        "1. Grant. One\nwrapped.",
        "2) Second.",
        "Closing words.",
        "- a bullet",
    ]
    assert paragraphs(None) == []
