"""The screening licence as a PDF, and the QR code that leads to its public verification page.

Fonts: DejaVu Sans (regular and bold) ships in ``screenings/fonts`` with its licence. It covers
Latin with accents, Greek, Cyrillic and Hebrew, so names in those scripts print as typed. Text
with right-to-left letters or combining marks goes through HarfBuzz (``uharfbuzz``), which lays
it out in reading order; other text skips it, as shaping makes long terms several times slower.

Characters DejaVu cannot draw are settled before fpdf2 sees them, never by a fallback font
(no system font is guaranteed, and a colour-emoji font is larger than the licence itself):
symbols, emoji and their joiners, variation selectors and marks are decoration and are
dropped; letters and digits of other scripts become U+FFFD, so a name never silently reads
as a different name. The verification page shows the record exactly as entered.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol

import segno
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import TableBordersLayout, VAlign, XPos, YPos
from fpdf.fonts import FontFace

from .places import address_lines

FONT_DIR = Path(__file__).parent / "fonts"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FAMILY = "DejaVu"
REPLACEMENT = "\ufffd"
EMOJI_JOINERS = frozenset("\u200d\ufe0e\ufe0f")  # zero-width joiner, text and emoji selectors

INK = (26, 26, 26)
MUTED = (95, 99, 104)
ACCENT = (31, 58, 95)
RULE = (200, 204, 209)
BAND = (236, 242, 248)

QR_SIZE = 34.0  # mm, quiet zone included: a phone reads it from an arm's length
QR_BORDER = 2  # modules; the page margin around the block adds the rest of the quiet zone
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


class _Terms(Protocol):
    text: str
    version: int


class LicenceLike(Protocol):
    """What the renderer reads from a licence: the model, or any stand-in with these fields."""

    number: str
    revision: int
    issued_at: datetime
    terms: _Terms

    @property
    def particulars(self) -> Mapping[str, Any]: ...


def render_licence_pdf(
    licence: LicenceLike, *, verify_url: str, issuer_name: str, issuer_contact: str = ""
) -> bytes:
    """The licence as an A4 PDF; the same licence always renders to the same bytes.

    issuer_contact (who runs the site and how to reach them) is printed on every page's foot.
    """
    particulars = licence.particulars
    revision = f"Revision {licence.revision}" if licence.revision > 1 else ""
    contact = _printable(issuer_contact)
    pdf = _LicencePDF(
        footer_text=" · ".join(filter(None, [f"Licence {licence.number}", revision, contact]))
    )
    pdf.set_creation_date(licence.issued_at.replace(tzinfo=UTC))
    pdf.set_title(f"Screening licence {licence.number}")
    pdf.set_subject(_printable(f"Licence to screen {particulars.get('film_title', '')}"))
    pdf.set_author(_printable(issuer_name))
    pdf.set_creator("Screenings")
    pdf.set_lang("en")
    pdf.add_page()

    _header(pdf, licence, revision, issuer_name, verify_url)
    _particulars_table(pdf, particulars)
    _free_admission_band(pdf)
    _terms(pdf, licence.terms)
    return bytes(pdf.output())


def qr_svg(url: str) -> str:
    """Inline ``<svg>`` QR code for ``url``, titled so screen readers announce what it is."""
    svg = _qr(url).svg_inline(
        scale=4, border=4, title=f"QR code for {url}", svgclass="licence-qr", lineclass=None
    )
    # role="img" makes browsers use the <title> as the image's accessible name.
    return svg.replace("<svg ", '<svg role="img" ', 1)


class _LicencePDF(FPDF):
    """FPDF with the bundled fonts loaded and a footer naming the licence on every page."""

    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(auto=True, margin=20)
        for style, filename in FONT_FILES.items():
            self.add_font(FAMILY, style=style, fname=FONT_DIR / filename)
        self.set_font(FAMILY, size=10)
        self.set_text_color(*INK)

    def shape_for(self, *texts: str) -> None:
        """Use HarfBuzz only for text that needs it: it is several times slower on long terms."""
        self.set_text_shaping(any(map(_needs_shaping, texts)))

    def footer(self) -> None:
        """Licence number and page count, so a loose page still says what it belongs to."""
        self.set_y(-14)
        self.set_draw_color(*RULE)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.set_y(-12)
        self.set_font(FAMILY, size=7.5)
        self.set_text_color(*MUTED)
        self.cell(0, 5, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")


def _header(
    pdf: _LicencePDF, licence: LicenceLike, revision: str, issuer_name: str, verify_url: str
) -> None:
    """Issuer, title, number, revision and date on the left; the verification QR on the right."""
    top = pdf.get_y()
    qr_x = pdf.w - pdf.r_margin - QR_SIZE
    text_w = qr_x - pdf.l_margin - 8

    issuer = _printable(issuer_name).upper()
    pdf.shape_for(issuer)
    pdf.set_font(FAMILY, "B", 9)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(text_w, 5, issuer, new_x=XPos.LMARGIN)
    pdf.ln(3)
    pdf.set_font(FAMILY, "B", 24)
    pdf.set_text_color(*INK)
    pdf.cell(text_w, 11, "Screening licence", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font(FAMILY, size=9)
    pdf.set_text_color(*MUTED)
    pdf.cell(text_w, 5, "Licence number", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "B", 20)
    pdf.set_text_color(*ACCENT)
    number = _printable(licence.number)
    pdf.shape_for(number)
    pdf.cell(text_w, 10, number, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    facts = [revision, f"Issued {_date(licence.issued_at)}"]
    pdf.set_font(FAMILY, "B" if revision else "", 10)
    pdf.set_text_color(*INK)
    pdf.cell(text_w, 6, "  ·  ".join(filter(None, facts)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    text_bottom = pdf.get_y()

    _draw_qr(pdf, verify_url, qr_x, top, QR_SIZE)
    pdf.set_xy(qr_x - 8, top + QR_SIZE + 1)
    pdf.set_font(FAMILY, size=7)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(
        QR_SIZE + 16, 3.2, "Verify this licence at", align="C", new_x=XPos.LEFT, new_y=YPos.NEXT
    )
    pdf.set_text_color(*ACCENT)
    url_lines = _url_lines(pdf, _printable(verify_url), QR_SIZE + 16)
    pdf.shape_for(url_lines)
    pdf.multi_cell(QR_SIZE + 16, 3.2, url_lines, align="C", link=verify_url, new_y=YPos.NEXT)
    pdf.set_y(max(text_bottom, pdf.get_y()) + 5)
    _rule(pdf)


def _particulars_table(pdf: _LicencePDF, particulars: Mapping[str, Any]) -> None:
    """The film, licensee, venue and screening as issued, one labelled row each."""
    _section_heading(pdf, "Particulars")
    rows = [(label, _printable(value)) for label, value in _particular_rows(particulars)]
    pdf.shape_for(*(value for _, value in rows))
    pdf.set_font(FAMILY, size=10)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*RULE)
    label_style = FontFace(family=FAMILY, emphasis="BOLD", color=MUTED, size_pt=9)
    with pdf.table(
        col_widths=(42, pdf.epw - 42),
        width=pdf.epw,
        first_row_as_headings=False,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        line_height=5.2,
        padding=(1.6, 2, 1.6, 0),
        v_align=VAlign.T,
        text_align=("LEFT", "LEFT"),
    ) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label, style=label_style)
            row.cell(value)
    pdf.ln(4)


def _particular_rows(p: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Label and value of each particular the licence states; empty values are left out."""
    film = str(p.get("film_title", ""))
    if p.get("film_year"):
        film = f"{film} ({p['film_year']})"
    address = "\n".join(
        [
            *address_lines(
                str(p.get("country") or ""),
                street=str(p.get("street_address") or ""),
                city=str(p.get("city") or ""),
                region=str(p.get("region") or ""),
                postal_code=str(p.get("postal_code") or ""),
                country_line=False,
            ),
            *([p["country_name"]] if p.get("country_name") else []),
        ]
    )
    organization = str(p.get("organization_name", ""))
    rows = [
        ("Film", film),
        ("Director", p.get("director")),
        ("Production company", p.get("production_company")),
        ("Licensee", organization),
        ("Type of organization", p.get("organization_type_label")),
        ("Venue", p.get("venue_name")),
        ("Address", address),
        ("Date and time", p.get("local_start_display")),
        ("Duration", _plural(p.get("duration_minutes"), "minute")),
        ("Expected audience", _plural(p.get("expected_audience"), "person", "people")),
        ("Listing", p.get("listing")),
    ]
    for label, value in rows:
        if value not in (None, ""):
            yield label, str(value)


def _free_admission_band(pdf: _LicencePDF) -> None:
    """The one condition every licence carries, set apart so nobody can miss it."""
    pdf.shape_for()
    pdf.set_fill_color(*BAND)
    pdf.set_font(FAMILY, "B", 11)
    pdf.set_text_color(*ACCENT)
    pdf.cell(
        0, 10, "Admission must be free of charge", align="C", fill=True,
        new_x=XPos.LMARGIN, new_y=YPos.NEXT,
    )  # fmt: skip
    pdf.ln(6)


def _terms(pdf: _LicencePDF, terms: _Terms) -> None:
    """The full terms the licence was issued under, one paragraph per blank-line block."""
    _section_heading(pdf, f"Licence terms (version {terms.version})")
    pdf.set_font(FAMILY, size=9)
    pdf.set_text_color(*INK)
    text = _printable(terms.text)
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        pdf.shape_for(paragraph)
        align = "R" if _is_right_to_left(paragraph) else "L"
        pdf.multi_cell(0, 4.4, paragraph.strip(), align=align, new_x=XPos.LMARGIN)
        pdf.ln(2.2)


def _section_heading(pdf: FPDF, title: str) -> None:
    """A small upper-case heading in the accent colour, kept with the text that follows."""
    if pdf.will_page_break(20):
        pdf.add_page()
    pdf.set_font(FAMILY, "B", 10)
    pdf.set_text_color(*ACCENT)
    pdf.cell(0, 6, title.upper(), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def _rule(pdf: FPDF) -> None:
    """A thin full-width line under the header."""
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.3)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(6)


def _url_lines(pdf: FPDF, url: str, width: float) -> str:
    """``url`` broken after '/', '?', '&' and '=' into lines that fit ``width``, not mid-word."""
    lines = [""]
    for part in re.findall(r"[^/?&=]+[/?&=]*|[/?&=]+", url):
        if lines[-1] and pdf.get_string_width(lines[-1] + part) > width - 2 * pdf.c_margin:
            lines.append(part)
        else:
            lines[-1] += part
    return "\n".join(lines)


def _draw_qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    """The QR code as one filled vector path, a rectangle per run of dark modules."""
    rows = list(_qr(url).matrix_iter(scale=1, border=QR_BORDER))
    module = size / len(rows)
    with pdf.new_path() as path:
        path.style.fill_color = "#000000"
        path.style.stroke_color = None
        for r, row in enumerate(rows):
            for start, length in _dark_runs(row):
                path.rectangle(x + start * module, y + r * module, length * module, module)
    pdf.link(x, y, size, size, url)


def _dark_runs(row: Any) -> Iterator[tuple[int, int]]:
    """Start and length of each run of dark modules in a QR matrix row."""
    start = None
    for i, dark in enumerate([*row, False]):
        if dark and start is None:
            start = i
        elif not dark and start is not None:
            yield start, i - start
            start = None


@lru_cache(maxsize=256)
def _qr(url: str) -> segno.QRCode:
    """The QR symbol for a URL; medium error correction survives a creased printout.
    Bounded: the verification page draws one for every number typed, misses included."""
    return segno.make_qr(url, error="m", boost_error=False)


@cache
def _supported_codepoints() -> frozenset[int]:
    """Code points both bundled faces can draw, read once from their character maps."""
    maps = []
    for name in FONT_FILES.values():
        with TTFont(FONT_DIR / name, lazy=True) as font:
            maps.append(frozenset(font.getBestCmap()))
    return maps[0].intersection(*maps[1:])


def _printable(text: str) -> str:
    """``text`` with what DejaVu cannot draw dropped (symbols) or replaced (letters): see above."""
    supported = _supported_codepoints()
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    kept: list[str | None] = []  # None where a character was dropped
    for char in text.replace("\t", " "):
        if char == "\n" or ord(char) in supported:
            kept.append(char)
        elif unicodedata.category(char)[0] not in "LN":
            kept.append(None)
        elif not kept or kept[-1] != REPLACEMENT:
            kept.append(REPLACEMENT)
    # Joiners inside a dropped emoji sequence (👩‍💻) would linger as invisible characters.
    out = "".join(
        char
        for i, char in enumerate(kept)
        if char is not None and not (char in EMOJI_JOINERS and None in kept[max(i - 1, 0) : i + 2])
    )
    return re.sub(r" {2,}", " ", out).strip() if None in kept else out


def _needs_shaping(text: str) -> bool:
    """True when ``text`` has right-to-left letters or combining marks, which need HarfBuzz."""
    return any(
        unicodedata.bidirectional(char) in ("R", "AL", "AN") or unicodedata.combining(char)
        for char in text
    )


def _is_right_to_left(text: str) -> bool:
    """True when the first strongly directional letter of ``text`` reads right to left."""
    for char in text:
        direction = unicodedata.bidirectional(char)
        if direction in ("L", "R", "AL"):
            return direction != "L"
    return False


def _date(moment: datetime) -> str:
    """A naive UTC datetime as '24 November 2026, 14:05 UTC', independent of the locale."""
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}, {moment:%H:%M} UTC"


def _plural(count: Any, singular: str, plural: str | None = None) -> str:
    """'1 minute', '95 minutes'; empty when there is no count."""
    if count in (None, ""):
        return ""
    word = singular if int(count) == 1 else (plural or f"{singular}s")
    return f"{count} {word}"
