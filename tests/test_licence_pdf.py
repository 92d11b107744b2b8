"""The licence PDF says what was licensed, in any script, and its QR code leads to the check."""

from __future__ import annotations

import builtins
import io
import logging
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import segno
from pypdf import PdfReader

from screenings import licence_pdf
from screenings.licence_pdf import _printable, _unparsed, qr_svg, render_licence_pdf
from screenings.poster_pdf import PosterText, render_poster_pdf
from screenings.services import films

VERIFY_URL = "https://screenings.example.org/licences/TKR-2026-00042/verify?r=2&lang=fr"
TERMS = "\n\n".join(
    [
        "1. Grant. The Licensee may screen the Film once, at the venue and time stated above.",
        "2. Admission. No ticket, fee, donation or membership may be required for entry.",
        *(
            f"{n}. Conduct. The Film is shown in full, without cuts, and credited as supplied."
            for n in range(3, 40)
        ),
        "40. Law. These terms are governed by the laws of the Province of Quebec.",
    ]
)


class Terms(SimpleNamespace):
    """A terms version stand-in: its texts by language, English where one is missing."""

    def text_in(self, language: str) -> str:
        return self.texts.get(language, self.texts["en"])


def make_licence(**overrides) -> SimpleNamespace:
    """A licence stand-in with the fields the renderer reads; particulars may be overridden."""
    revision = overrides.pop("revision", 1)
    texts = overrides.pop("texts", {"en": TERMS})
    terms_language = overrides.pop("terms_language", "en")
    particulars = {
        "film_title": "The Keepers of the River",
        "film_year": 2025,
        "director": "Amélie Tremblay",
        "production_company": "Northern Light Films Ltd.",
        "organization_name": "Théâtre de l'Œil",
        "organization_type_label": "Community group",
        "venue_name": "Salle Émile-Nelligan",
        "street_address": "1234 rue Saint-Denis",
        "city": "Montréal",
        "region": "QC",
        "postal_code": "H2X 3K4",
        "country": "CA",
        "country_name": "Canada",
        "timezone": "America/Toronto",
        "local_start_display": "Thursday 10 December 2026, 19:00 (America/Toronto, UTC−05:00)",
        "duration_minutes": 95,
        "expected_audience": 120,
        "listing": "Public",
        **overrides,
    }
    return SimpleNamespace(
        number="TKR-2026-00042",
        revision=revision,
        issued_at=datetime(2026, 11, 24, 14, 5),  # noqa: DTZ001 naive UTC, as the column holds
        terms=Terms(texts=texts, version=3),
        terms_language=terms_language,
        particulars=particulars,
    )


def render(licence: SimpleNamespace) -> bytes:
    return render_licence_pdf(licence, verify_url=VERIFY_URL, issuer_name="Northern Light Films")


def text_of(pdf: bytes) -> str:
    """All pages' extracted text, whitespace collapsed so wrapped lines read as one."""
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_pdf_is_an_a4_document_dated_when_issued():
    pdf = render(make_licence())

    reader = PdfReader(io.BytesIO(pdf))
    assert pdf.startswith(b"%PDF-")
    assert [round(float(v)) for v in reader.pages[0].mediabox[2:]] == [595, 842]
    assert reader.metadata.title == "Screening licence TKR-2026-00042"
    issued = datetime(2026, 11, 24, 14, 5, tzinfo=UTC)
    assert reader.metadata.creation_date.astimezone(UTC) == issued


def test_pdf_states_number_particulars_condition_and_verify_address():
    text = text_of(render(make_licence()))

    for expected in [
        "Screening licence",
        "TKR-2026-00042",
        "Issued 24 November 2026, 14:05 UTC",
        "Théâtre de l'Œil",
        "The Keepers of the River (2025)",
        "Salle Émile-Nelligan",
        "Montréal QC H2X 3K4",  # as Canada Post writes it
        "Thursday 10 December 2026, 19:00 (America/Toronto, UTC−05:00)",
        "95 minutes",
        "120 people",
        "Admission must be free of charge",
        "Verify this licence at",
    ]:
        assert expected in text
    # The address wraps under the QR code at '/' and '&', so compare it without spaces.
    assert VERIFY_URL in text.replace(" ", "")


def test_pdf_carries_the_full_terms_with_their_version():
    pdf = render(make_licence())
    text = text_of(pdf)

    assert "LICENCE TERMS (VERSION 3)" in text
    for paragraph in TERMS.split("\n\n"):
        assert paragraph in text
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert pages > 1
    assert f"{pages} / {pages}" in text


def test_qr_code_and_printed_address_link_to_the_verify_page():
    reader = PdfReader(io.BytesIO(render(make_licence())))

    uris = [annotation.get_object()["/A"]["/URI"] for annotation in reader.pages[0]["/Annots"]]
    assert uris
    assert set(uris) == {VERIFY_URL}


@pytest.mark.parametrize(
    ("revision", "shown"),
    [(1, None), (2, "Revision 2"), (11, "Revision 11")],
)
def test_revision_is_stated_once_there_is_more_than_one(revision, shown):
    text = text_of(render(make_licence(revision=revision)))

    if shown:
        assert shown in text
    else:
        assert "Revision" not in text


@pytest.mark.parametrize(
    ("field", "name", "readable"),
    [
        ("organization_name", "בית הכנסת", None),
        ("organization_name", "🎬 Film Club", "Film Club"),
        ("venue_name", "Salle 👨‍👩‍👧 des familles 🇨🇦", "Salle des familles"),
        ("venue_name", "בית הכנסת 🎬 Film Club", "Film Club"),
        ("organization_name", "映画クラブ Montréal", "Montréal"),
        ("organization_name", "Cafe\u0301 Ciné", "Café Ciné"),
    ],
)
def test_any_script_renders_without_missing_glyphs(field, name, readable, caplog):
    caplog.set_level(logging.WARNING, logger="fpdf")

    text = text_of(render(make_licence(**{field: name})))

    assert "TKR-2026-00042" in text
    if readable:
        assert readable in text
    assert not any(char in text for char in "🎬👨🇨")
    # fpdf2 logs, rather than raises, when it has to draw a glyph as an empty box.
    assert not [r for r in caplog.records if "missing" in r.getMessage()]


def test_hebrew_letters_reach_the_pdf():
    text = text_of(render(make_licence(organization_name="בית הכנסת")))

    assert set("ביתהכנסת") <= set(text)


@pytest.mark.parametrize(
    ("given", "printed"),
    [
        ("Théâtre de l'Œil", "Théâtre de l'Œil"),
        ("בית הכנסת", "בית הכנסת"),
        ("🎬 Film Club", "Film Club"),
        ("Club 🍿🎬 du jeudi", "Club du jeudi"),
        ("👩🏽‍💻 Coders", "Coders"),
        ("映画 Club", "\ufffd Club"),
        ("Cafe\u0301", "Café"),
        ("one\r\ntwo\tthree", "one\ntwo three"),
    ],
)
def test_printable_drops_decoration_and_marks_unknown_letters(given, printed):
    assert _printable(given) == printed


def test_same_licence_renders_to_the_same_small_pdf():
    first = render(make_licence(revision=2))

    assert render(make_licence(revision=2)) == first
    assert len(first) < 80_000
    assert render(make_licence(revision=3)) != first


def svg_modules(svg: str) -> list[list[bool]]:
    """The module matrix an SVG from segno draws, rebuilt from its path's horizontal runs."""
    root = ET.fromstring(svg)
    path = root.find("path")
    scale = float(re.fullmatch(r"scale\((\d+)\)", path.get("transform"))[1])
    size = round(float(root.get("width")) / scale)
    modules = [[False] * size for _ in range(size)]
    x = y = 0.0
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.get("d")):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            for column in range(int(x), int(x) + int(a)):
                modules[int(y)][column] = True
            x += int(a)
    return modules


def test_qr_svg_is_inline_titled_markup_of_the_url():
    svg = qr_svg(VERIFY_URL)

    root = ET.fromstring(svg)  # also proves '&' in the URL is escaped
    assert svg.startswith("<svg ")
    assert "<?xml" not in svg
    assert root.get("role") == "img"
    assert root.find("title").text == f"QR code for {VERIFY_URL}"
    assert 100 <= int(root.get("width")) == int(root.get("height")) <= 400
    expected = segno.make_qr(VERIFY_URL, error="m", boost_error=False)
    assert svg_modules(svg) == [list(row) for row in expected.matrix_iter(scale=1, border=4)]


def test_qr_svg_is_stable_per_url():
    assert qr_svg(VERIFY_URL) == qr_svg(VERIFY_URL)
    assert svg_modules(qr_svg(VERIFY_URL)) != svg_modules(qr_svg(VERIFY_URL + "x"))


# -- one page, in the language of the booking ------------------------------------------------

SEEDED_TERMS = {
    "en": films.THE_KILLING_ROADS_TERMS,
    "fr": films.THE_KILLING_ROADS_TERMS_FR,
    "he": films.THE_KILLING_ROADS_TERMS_HE,
}
# The longest particulars a real booking is likely to bring (each well inside its field's limit).
LONG_PARTICULARS = {
    "film_title": "The Killing Roads",
    "film_year": 2024,
    "director": "Igal Hecht",
    "production_company": "Chutzpa Productions",
    "organization_name": (
        "Association culturelle et communautaire des résidents francophones du Grand "
        "Montréal-Nord et de Rivière-des-Prairies"
    ),
    "organization_type_label": "University or college",
    "venue_name": (
        "Grande salle polyvalente du Centre communautaire et culturel Saint-Jean-Baptiste, "
        "entrée par la cour intérieure"
    ),
    "street_address": "12345 boulevard Saint-Laurent, pavillon B, 3e étage, salle 301",
    "city": "Montréal-Nord",
    "region": "QC",
    "postal_code": "H2X 3K4",
    "country": "CA",
    "timezone": "America/Toronto",
    "starts_at_utc": "2026-12-11T00:00:00",
    "duration_minutes": 145,
    "expected_audience": 1200,
    "listing": "Guests only",
}
PRODUCER = SimpleNamespace(
    name="Chutzpa Productions",
    contact_email="screenings-contact@chutzpaproductions.example.com",
    address="1 Example Street, Suite 200, Toronto ON M5V 2T6, Canada",
    imprint="Chutzpa Productions Inc., Ontario corporation no. 1234567",
)


def render_in(language: str, terms_language: str | None = None) -> bytes:
    """The seeded film's licence with long particulars, as the service renders it."""
    licence = make_licence(
        revision=12,
        texts=SEEDED_TERMS,
        terms_language=terms_language or language,
        **LONG_PARTICULARS,
    )
    return render_licence_pdf(
        licence,
        verify_url=VERIFY_URL,
        issuer_name="Chutzpa Productions",
        producer=PRODUCER,
        language=language,
    )


@pytest.mark.parametrize("language", ["en", "fr", "he"])
def test_licence_fits_one_page_with_the_issuer_and_their_contact(app, language):
    pdf = render_in(language)

    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    text = text_of(pdf)
    assert PRODUCER.contact_email in text
    assert PRODUCER.imprint in text
    assert "TKR-2026-00042" in text
    assert "1 / 1" in text
    assert len(pdf) < 80_000


def test_french_licence_has_french_labels_dates_and_terms(app):
    text = text_of(render_in("fr"))

    for expected in [
        "Licence de projection",
        "Numéro de licence",
        "Délivrée le 24 novembre 2026, 14:05 UTC",
        "Titulaire",
        "Université ou cégep/collège",
        "jeudi 10 décembre 2026, 19:00",
        "145 minutes",
        "1200 personnes",
        "Réservée aux invités",
        "L'entrée doit être gratuite",
        "CONDITIONS DE LICENCE (VERSION 3)",
        "Contact : " + PRODUCER.contact_email,
    ]:
        assert expected in text, expected
    for paragraph in films.THE_KILLING_ROADS_TERMS_FR.splitlines():
        assert paragraph in text
    assert "free of charge" not in text
    assert "Grant. Chutzpa Productions grants" not in text


def test_hebrew_licence_states_the_hebrew_terms_shaped_right_to_left(app):
    pdf = render_in("he")
    text = text_of(pdf)

    # pypdf puts a right-to-left run back in reading order; text drawn without shaping (in
    # the order typed, left to right) would come back reversed.
    for words in [
        "ההקרנה תהיה ללא תשלום לכל צופה",
        "יש להקרין את הסרט במלואו וללא שינוי",
        "רישיון זה פוקע אם ההקרנה מבוטלת",
        "רישיון הקרנה",
        "הכניסה חייבת להיות ללא תשלום",
    ]:
        assert words in text, words
    assert render_in("he") == pdf  # shaped text renders the same bytes every time
    assert "Admission must be free" not in text
    assert "Grant. Chutzpa Productions grants" not in text
    # Laid out right to left: the QR code (a link) is on the left half of the page.
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    qr = next(a.get_object()["/Rect"] for a in page["/Annots"])
    assert float(qr[2]) < float(page.mediabox[2]) / 2


def test_licence_states_the_terms_in_the_language_they_were_accepted_in(app):
    """A French booking under terms that had no French text: French labels, English terms."""
    text = text_of(render_in("fr", terms_language="en"))

    assert "Numéro de licence" in text
    assert "Telles qu'acceptées, en anglais." in text
    assert "2. Free admission. The screening must be free of charge" in text
    assert "Entrée gratuite" not in text


def test_a_licence_renders_the_same_bytes_after_licences_in_other_scripts(app):
    """Each document's fonts are copies of faces parsed once per process (licence_pdf.
    _font_prototypes), and output() subsets its own: a licence rendered after others that
    used other glyphs (Hebrew shaped, Cyrillic, French) is the licence rendered before them."""
    first = render_in("en")
    render_in("he")
    render(make_licence(organization_name="Москва", director="Ωmega"))
    render_in("fr")

    assert render_in("en") == first


def test_licences_rendered_in_threads_at_once_are_the_licences_rendered_alone(app):
    """The outbox's thread and the web workers' threads render licences at the same time:
    each document's fonts share with the others only what output() never writes to (here
    four at once, of two layouts whose objects are numbered differently)."""
    from concurrent.futures import ThreadPoolExecutor

    licences = {"one page": lambda: render_in("en"), "two pages": lambda: render(make_licence())}
    alone = {name: render_licence() for name, render_licence in licences.items()}

    def rendered(name: str) -> bytes:
        with app.app_context():
            return licences[name]()

    names = list(licences) * 2
    with ThreadPoolExecutor(len(names)) as pool:
        together = list(pool.map(rendered, names))

    assert together == [alone[name] for name in names]


def test_a_licence_renders_the_same_bytes_whatever_was_rendered_before(app, monkeypatch):
    """The terms' heights are kept per process; a kept height must give the bytes a
    measured one gives (here French labels with English terms, whose sizes an English
    licence measured first)."""
    monkeypatch.setattr(licence_pdf, "_TERMS_HEIGHTS", {})
    first = render_in("fr", terms_language="en")

    monkeypatch.setattr(licence_pdf, "_TERMS_HEIGHTS", {})
    render_in("en", terms_language="en")
    assert render_in("fr", terms_language="en") == first


MIXED_SCRIPTS = "Кирилл Σωκράτης Ωmega 5 \u2126 שָׁלוֹם عربي 漢字 😀"  # U+2126 ohm sign: Ω's glyph


def test_a_pre_subset_face_embeds_what_the_whole_face_embeds(app, monkeypatch):
    """Each face is subset from a kept pre-subset of the ranges the document touched
    (licence_pdf.document_bytes): the bytes are those fpdf2 makes from the whole face, in
    Latin, in scripts mixed with what DejaVu lacks, and in Hebrew shaped with its points."""

    def documents() -> list[bytes]:
        return [
            render(make_licence()),
            render(make_licence(organization_name=MIXED_SCRIPTS)),
            render_in("he"),
        ]

    pre_subset = documents()
    monkeypatch.setattr(licence_pdf, "_presubset_font", lambda style, names: _unparsed(style))
    assert documents() == pre_subset


def test_licences_in_one_script_share_their_pre_subsets(monkeypatch):
    """A pre-subset is made once for the ranges a document touches: licences whose names
    differ but stay in Latin take both faces' from the kept ones."""
    render(make_licence())
    before = licence_pdf._presubset.cache_info()
    render(make_licence(organization_name="Église Saint-Jean", city="Zürich"))
    render(make_licence(organization_name="Oak Street Library", city="Boston"))
    after = licence_pdf._presubset.cache_info()

    assert (after.misses - before.misses, after.hits - before.hits) == (0, 4)


def test_licences_and_posters_open_no_font_file_once_the_faces_are_loaded(monkeypatch):
    """The bundled faces are read once per process and each document takes them from bytes
    (licence_pdf.add_bundled_fonts): no document parses a font file again, nor holds one open
    (fontTools' lazy font opened from a path keeps its file until the collector closes it,
    with a ResourceWarning inside whatever test runs then)."""
    render(make_licence())  # the faces loaded, as by a process's first licence
    opened: list[str] = []
    real_open = builtins.open

    def recording_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording_open)
    render(make_licence())
    poster = PosterText(
        "Free screening",
        "The Killing Roads",
        "Sunday",
        "19:30",
        ("Hall",),
        "Us",
        "Scan",
        "https://example.org/s/a",
    )
    render_poster_pdf(poster, paper="A4")
    assert [path for path in opened if path.endswith(".ttf")] == []
