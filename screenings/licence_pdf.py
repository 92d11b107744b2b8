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

import copy
import re
import threading
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

import segno
from babel import Locale
from babel.dates import format_datetime
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from fontTools import subset as ftsubset
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.drawing import PaintedPath
from fpdf.enums import MethodReturnValue, PathPaintRule, TableBordersLayout, VAlign, XPos, YPos
from fpdf.fonts import FontFace, SubsetMap, TTFFont
from fpdf.output import OutputProducer

from .places import address_lines, country_name, utc_offset_label

FONT_DIR = Path(__file__).parent / "fonts"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FAMILY = "DejaVu"
REPLACEMENT = "\ufffd"
EMOJI_JOINERS = frozenset("\u200d\ufe0e\ufe0f")  # zero-width joiner, text and emoji selectors

Colour = tuple[int, int, int]  # red, green, blue
INK: Colour = (26, 26, 26)
MUTED: Colour = (95, 99, 104)
ACCENT: Colour = (31, 58, 95)
RULE = (200, 204, 209)
BAND = (236, 242, 248)

QR_SIZE = 32.0  # mm, quiet zone included: a phone reads it from an arm's length
QR_BORDER = 2  # modules; the page margin around the block adds the rest of the quiet zone
FOOT = 15.0  # mm kept free at the bottom of each page for the footer
TERMS_SIZES = (9.0, 8.5, 8.0, 7.5, 7.0, 6.5)  # pt: the terms take the largest that fits
LEADING = 0.48  # mm of line height per point of type
GAP = 0.22  # mm between paragraphs per point of type
DATE_PATTERN = "d MMMM y, HH:mm"  # CLDR pattern; month names come from the locale
RIGHT_TO_LEFT = frozenset({"he"})


class _Terms(Protocol):
    # Read-only members (properties), so a model's typed columns satisfy them.
    @property
    def version(self) -> int: ...

    def text_in(self, language: str) -> str: ...


class _Producer(Protocol):
    """Who runs the site (identity.Identity): named with their contact on every licence."""

    @property
    def name(self) -> str: ...
    @property
    def contact_email(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def imprint(self) -> str: ...


class LicenceLike(Protocol):
    """What the renderer reads from a licence: the model, or any stand-in with these fields."""

    @property
    def number(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def issued_at(self) -> datetime: ...
    @property
    def terms(self) -> _Terms: ...
    @property
    def terms_language(self) -> str: ...

    @property
    def particulars(self) -> Mapping[str, Any]: ...


def render_licence_pdf(
    licence: LicenceLike,
    *,
    verify_url: str,
    issuer_name: str,
    producer: _Producer | None = None,
    language: str = "en",
) -> bytes:
    """The licence as an A4 PDF in ``language``; the same licence always renders the same bytes.

    Its labels are in ``language``, its terms in the language the organizer accepted them in
    (``licence.terms_language``). It fits one page unless the terms themselves are longer
    than a page at the smallest size they are set in (see ``_terms``). ``issuer_name`` is
    the licensor (the film's production company); ``producer``, who runs the site and how
    to reach them, printed in the issuer block.
    """
    with force_locale(language):
        return _render(licence, verify_url, issuer_name, producer, language)


def _render(
    licence: LicenceLike,
    verify_url: str,
    issuer_name: str,
    producer: _Producer | None,
    language: str,
) -> bytes:
    particulars = licence.particulars
    revision = _("Revision %(n)s", n=licence.revision) if licence.revision > 1 else ""
    pdf = _LicencePDF(
        language=language,
        footer_text="  ·  ".join(
            filter(None, [_("Licence %(number)s", number=licence.number), revision])
        ),
    )
    pdf.set_creation_date(licence.issued_at.replace(tzinfo=UTC))
    pdf.set_title(_("Screening licence %(number)s", number=licence.number))
    pdf.set_subject(
        _printable(_("Licence to screen %(film)s", film=particulars.get("film_title", "")))
    )
    pdf.set_author(_printable(issuer_name))
    pdf.set_creator("Screenings")
    pdf.set_lang(language)
    pdf.add_page()

    _header(pdf, licence, revision, issuer_name, verify_url)
    _particulars_table(pdf, particulars, language)
    _free_admission_band(pdf)
    issuer = _issuer_lines(issuer_name, producer)
    _terms(pdf, licence.terms, licence.terms_language, reserve=_issuer_height(pdf, issuer))
    _issuer_block(pdf, issuer)
    return document_bytes(pdf)


def qr_svg(url: str) -> str:
    """Inline ``<svg>`` QR code for ``url``, titled so screen readers announce what it is."""
    svg = _qr(url).svg_inline(
        scale=4, border=4, title=f"QR code for {url}", svgclass="licence-qr", lineclass=None
    )
    # role="img" makes browsers use the <title> as the image's accessible name.
    return svg.replace("<svg ", '<svg role="img" ', 1)


class _LicencePDF(FPDF):
    """FPDF with the bundled fonts loaded, laid out for the reading direction of its language,
    and a footer naming the licence on every page."""

    def __init__(self, footer_text: str, language: str = "en") -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.language = language
        self.rtl = language in RIGHT_TO_LEFT
        self.start = "R" if self.rtl else "L"  # where lines of the page's language begin
        self.set_margins(18, 15, 18)
        self.set_auto_page_break(auto=True, margin=FOOT)
        add_bundled_fonts(self)
        self.set_font(FAMILY, size=10)
        self.set_text_color(*INK)

    def shape_for(self, *texts: str) -> None:
        """Use HarfBuzz only for text that needs it: it is several times slower on long terms."""
        self.set_text_shaping(any(map(_needs_shaping, texts)))

    def text_line(self, w: float, h: float, text: str, align: str = "", **kwargs: Any) -> None:
        """``text`` as one or more lines from the start of the reading direction, shaped when
        it needs to be; the cursor goes to the next line at the left margin."""
        self.shape_for(text)
        kwargs.setdefault("new_x", XPos.LMARGIN)
        self.multi_cell(w, h, text, align=align or self.start, **kwargs)

    def footer(self) -> None:
        """Licence number and page count, so a loose page still says what it belongs to."""
        self.set_y(-12)
        self.set_draw_color(*RULE)
        self.line_rule(self.get_y())
        self.set_y(-10.5)
        self.set_font(FAMILY, size=7.5)
        self.set_text_color(*MUTED)
        self.shape_for(self.footer_text)
        self.cell(0, 5, self.footer_text, align=self.start)
        self.set_x(self.l_margin)
        # Digits only: fpdf2 fills in {nb} after the page is drawn, which shaped text forbids.
        self.set_text_shaping(False)
        self.cell(0, 5, f"{self.page_no()} / {{nb}}", align="L" if self.rtl else "R")

    def line_rule(self, y: float) -> None:
        """A thin full-width line at ``y``."""
        self.line(self.l_margin, y, self.w - self.r_margin, y)


def add_bundled_fonts(pdf: FPDF) -> None:
    """The bundled faces in ``pdf`` as ``add_font`` would add them, made from the faces loaded
    once per process (_document_font): the licence's and the poster's. Read from bytes, no
    document holds a font file open (fontTools' lazy font from a path stays open until the
    collector closes it, with a ResourceWarning inside whatever runs then)."""
    for style in FONT_FILES:
        pdf.fonts[_font_key(style)] = _document_font(style, index=len(pdf.fonts) + 1)


def document_bytes(pdf: FPDF) -> bytes:
    """The finished document's bytes, each bundled face embedded as the subset of the glyphs
    it used. fpdf2 subsets the face it holds: from the whole DejaVu (6,000 glyphs) that was
    half of a licence's rendering, so once the last footer is drawn each face is swapped for
    a kept pre-subset holding every glyph of the 256-code ranges the document touched
    (_presubset); fpdf2's own subsetting of that embeds the same bytes in a tenth the time."""
    return bytes(pdf.output(output_producer_class=_PreSubsetOutput))


class _PreSubsetOutput(OutputProducer):
    """fpdf2's output, made once every page is drawn (shaping reads the whole face)."""

    def __init__(self, fpdf: FPDF) -> None:
        for style in FONT_FILES:
            font = fpdf.fonts.get(_font_key(style))
            if isinstance(font, TTFFont) and len(font.subset):
                font.ttfont = _presubset_font(style, font.subset.get_all_glyph_names())
        super().__init__(fpdf)


SUBSET_RANGE = 256  # codes per range a pre-subset takes whole (Latin-1, Hebrew and its neighbours…)


def _presubset_font(style: str, glyph_names: Sequence[str]) -> TTFont:
    """The face in ``style`` cut down to every glyph of the ranges ``glyph_names`` fall in,
    plus those of them no character maps to (forms HarfBuzz chose), as a document's own font."""
    ranges_by_glyph = _glyph_ranges(style)
    ranges = frozenset(number for name in glyph_names for number in ranges_by_glyph.get(name, ()))
    unmapped = frozenset(name for name in glyph_names if name not in ranges_by_glyph)
    return TTFont(BytesIO(_presubset(style, ranges, unmapped)), recalcTimestamp=False, lazy=True)


@cache
def _glyph_ranges(style: str) -> dict[str, tuple[int, ...]]:
    """Each glyph of the face by name, with the ranges of the characters that map to it."""
    ranges: dict[str, set[int]] = {}
    for code, name in _unparsed(style).getBestCmap().items():
        ranges.setdefault(name, set()).add(code // SUBSET_RANGE)
    return {name: tuple(sorted(numbers)) for name, numbers in ranges.items()}


@lru_cache(maxsize=64)
def _presubset(style: str, ranges: frozenset[int], unmapped: frozenset[str]) -> bytes:
    """The face's program holding the glyphs of ``ranges`` and ``unmapped``, with the options
    and dropped tables fpdf2's output uses; kept, as licences of one script share ranges."""
    font = TTFont(BytesIO(_font_file(style)), recalcTimestamp=False)
    names = {n for n, numbers in _glyph_ranges(style).items() if ranges.intersection(numbers)}
    # The glyphs keep their names (fpdf2 asks for them by name); without them fontTools
    # names glyphs by character again, and Ω's glyph, which the ohm sign shares, lost its.
    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True, glyph_names=True)
    options.drop_tables += PRESUBSET_DROPPED_TABLES
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(glyphs=sorted(names | unmapped))
    subsetter.subset(font)
    program = BytesIO()
    font.save(program)
    return program.getvalue()


# What fpdf2's output drops from an embedded face (fpdf/output.py, _add_fonts), dropped here
# too: the layout tables would otherwise be carried, and closed over, for nothing.
PRESUBSET_DROPPED_TABLES = [
    *("FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC"),
    *("EBDT", "EBLC", "EBSC", "SVG ", "CPAL", "COLR"),
]


@cache
def _font_prototypes() -> dict[str, TTFFont]:
    """The bundled faces by style as ``add_font`` loads them, once per process: their widths,
    glyph ids, character maps and descriptors are the same for every licence, and deriving
    them for 6,000 characters was a sixth of a licence's rendering. Documents get copies (see
    _document_font); the parsed tables they were derived from are let go."""
    scratch = FPDF()
    for style, filename in FONT_FILES.items():
        scratch.add_font(FAMILY, style=style, fname=FONT_DIR / filename)
    prototypes = {style: cast(TTFFont, scratch.fonts[_font_key(style)]) for style in FONT_FILES}
    for style, prototype in prototypes.items():
        prototype.ttfont.close()
        prototype.ttfont = _unparsed(style)
    return prototypes


def _font_key(style: str) -> str:
    """fpdf2's name for the face in ``style``: how set_font finds it."""
    return f"{FAMILY.lower()}{style}"


def _document_font(style: str, *, index: int) -> TTFFont:
    """The face for one document, as ``add_font`` would make it: the prototype's derived data,
    which fpdf2 only reads, and what a document changes of its own: the font, whose tables
    ``output()``'s subsetting prunes (read when first used, as add_font's lazy font does), the
    descriptor, which output() names and points at the document's font program (licences are
    rendered in several threads at once), and the widths' defaultdict, which grows."""
    prototype = _font_prototypes()[style]
    font = copy.copy(prototype)
    font.i = index
    font.ttfont = _unparsed(style)
    font.desc = copy.copy(prototype.desc)
    font.cw = copy.copy(prototype.cw)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font._hbfont = None  # opened from the file when text is first shaped
    font.subset = SubsetMap(font)
    return font


def _unparsed(style: str) -> TTFont:
    """The bundled face in ``style``, opened as fpdf2 opens it, none of its tables read yet."""
    return TTFont(BytesIO(_font_file(style)), recalcTimestamp=False, lazy=True)


@cache
def _font_file(style: str) -> bytes:
    return (FONT_DIR / FONT_FILES[style]).read_bytes()


def _header(
    pdf: _LicencePDF, licence: LicenceLike, revision: str, issuer_name: str, verify_url: str
) -> None:
    """Issuer, title, number, revision and date at the start; the verification QR at the end."""
    top = pdf.get_y()
    text_w = pdf.epw - QR_SIZE - 14
    qr_x = pdf.l_margin if pdf.rtl else pdf.w - pdf.r_margin - QR_SIZE
    text_x = pdf.w - pdf.r_margin - text_w if pdf.rtl else pdf.l_margin

    def at_start(h: float, text: str, size: float, style: str = "", color: Colour = INK) -> None:
        pdf.set_x(text_x)
        pdf.set_font(FAMILY, style, size)
        pdf.set_text_color(*color)
        pdf.text_line(text_w, h, text)

    at_start(5, _printable(issuer_name).upper(), 9, "B", MUTED)
    pdf.ln(2)
    at_start(11, _("Screening licence"), 24, "B")
    pdf.ln(1)
    at_start(5, _("Licence number"), 9, "", MUTED)
    at_start(10, _printable(licence.number), 20, "B", ACCENT)
    issued = _("Issued %(date)s", date=_date(licence.issued_at, pdf.language))
    facts = "  ·  ".join(filter(None, [revision, issued]))
    at_start(6, facts, 10, "B" if revision else "")
    text_bottom = pdf.get_y()

    _draw_qr(pdf, verify_url, qr_x, top, QR_SIZE)
    caption_w = QR_SIZE + 12
    pdf.set_xy(qr_x - 6, top + QR_SIZE + 1)
    pdf.set_font(FAMILY, size=7)
    pdf.set_text_color(*MUTED)
    pdf.text_line(caption_w, 3.2, _("Verify this licence at"), align="C", new_x=XPos.LEFT)
    pdf.set_text_color(*ACCENT)
    pdf.set_text_shaping(False)
    url_lines = _url_lines(pdf, _printable(verify_url), caption_w)
    pdf.multi_cell(caption_w, 3.2, url_lines, align="C", link=verify_url, new_y=YPos.NEXT)
    pdf.set_y(max(text_bottom, pdf.get_y()) + 3)
    _rule(pdf)


def _particulars_table(pdf: _LicencePDF, particulars: Mapping[str, Any], language: str) -> None:
    """The film, licensee, venue and screening as issued, one labelled row each."""
    _section_heading(pdf, _("Particulars"))
    rows = [(label, _printable(value)) for label, value in _particular_rows(particulars, language)]
    pdf.shape_for(*(text for row in rows for text in row))
    pdf.set_font(FAMILY, size=9.5)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*RULE)
    label_style = FontFace(family=FAMILY, emphasis="BOLD", color=MUTED, size_pt=8.5)
    label_w = 40
    widths = (pdf.epw - label_w, label_w) if pdf.rtl else (label_w, pdf.epw - label_w)
    align = "RIGHT" if pdf.rtl else "LEFT"
    with pdf.table(
        col_widths=widths,
        width=pdf.epw,
        first_row_as_headings=False,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        line_height=4.6,
        padding=(1.1, 2, 1.1, 0) if not pdf.rtl else (1.1, 0, 1.1, 2),
        v_align=VAlign.T,
        text_align=(align, align),
    ) as table:
        for label, value in rows:
            row = table.row()
            if pdf.rtl:
                row.cell(value)
                row.cell(label, style=label_style)
            else:
                row.cell(label, style=label_style)
                row.cell(value)
    pdf.ln(3)


def _particular_rows(p: Mapping[str, Any], language: str) -> Iterator[tuple[str, str]]:
    """Label and value of each particular the licence states, in ``language`` where the value
    is one of ours (a date, a country, a type or a listing); empty values are left out."""
    film = str(p.get("film_title", ""))
    if p.get("film_year"):
        film = f"{film} ({p['film_year']})"
    country = str(p.get("country") or "")
    address = "\n".join(
        [
            *address_lines(
                country,
                street=str(p.get("street_address") or ""),
                city=str(p.get("city") or ""),
                region=str(p.get("region") or ""),
                postal_code=str(p.get("postal_code") or ""),
                country_line=False,
            ),
            *([country_name(country, language)] if country else []),
        ]
    )
    rows = [
        (_("Film"), film),
        (_("Director"), p.get("director")),
        (_("Production company"), p.get("production_company")),
        (_("Licensee"), p.get("organization_name")),
        # Stored in English, which is the message's id: shown in the licence's language.
        (_("Type of organization"), _translated(p.get("organization_type_label"))),
        (_("Venue"), p.get("venue_name")),
        (_("Address"), address),
        (_("Date and time"), _local_start(p, language)),
        (_("Duration"), _count(p.get("duration_minutes"), "minutes")),
        (_("Expected audience"), _count(p.get("expected_audience"), "people")),
        (_("Listing"), _translated(p.get("listing"))),
    ]
    for label, value in rows:
        if value not in (None, ""):
            yield label, str(value)


def _free_admission_band(pdf: _LicencePDF) -> None:
    """The one condition every licence carries, set apart so nobody can miss it."""
    pdf.set_fill_color(*BAND)
    pdf.set_font(FAMILY, "B", 11)
    pdf.set_text_color(*ACCENT)
    pdf.text_line(0, 9, _("Admission must be free of charge"), align="C", fill=True)
    pdf.ln(4)


def _terms(pdf: _LicencePDF, terms: _Terms, language: str, *, reserve: float) -> None:
    """The full terms the licence was issued under, in the language they were accepted in,
    one paragraph per blank-line block. They are set in the largest size (9 to 6.5 pt) at
    which they and the ``reserve`` below them still fit the page; past the smallest they
    continue on the next."""
    _section_heading(pdf, _("Licence terms (version %(version)s)", version=terms.version))
    if language != pdf.language:
        pdf.set_font(FAMILY, size=7.5)
        pdf.set_text_color(*MUTED)
        pdf.text_line(
            0,
            3.6,
            _(
                "As accepted, in %(language)s.",
                language=_language_name(language, pdf.language),
            ),
        )
        pdf.ln(1)
    paragraphs = [
        paragraph.strip()
        for paragraph in re.split(r"\n\s*\n", _printable(terms.text_in(language)).strip())
    ]
    room = pdf.page_break_trigger - pdf.get_y() - reserve
    size = next(
        (size for size in TERMS_SIZES if _terms_height(pdf, paragraphs, size) <= room),
        TERMS_SIZES[-1],
    )
    pdf.set_font(FAMILY, size=size)
    pdf.set_text_color(*INK)
    for paragraph in paragraphs:
        align = "R" if _is_right_to_left(paragraph) else "L"
        pdf.text_line(0, size * LEADING, paragraph, align=align)
        pdf.ln(size * GAP)


# Every licence of a terms version (in one language) sets the same paragraphs on the same
# width, so each is measured once per process at each size; a few entries per version. They
# are measured on a page of their own (one per thread, never output): measuring on the
# licence's page left font changes in it and numbered its glyphs in the order they were
# measured, so its bytes would depend on what the process had measured before.
_TERMS_HEIGHTS: dict[tuple[tuple[str, ...], float, float], float] = {}
_TERMS_HEIGHTS_KEPT = 256
_measuring = threading.local()


def _terms_height(pdf: _LicencePDF, paragraphs: list[str], size: float) -> float:
    """How tall the terms are set at ``size`` points, measured without drawing them."""
    key = (tuple(paragraphs), size, pdf.epw)
    if (height := _TERMS_HEIGHTS.get(key)) is None:
        scratch = getattr(_measuring, "pdf", None)
        if scratch is None or len(_TERMS_HEIGHTS) >= _TERMS_HEIGHTS_KEPT:
            _TERMS_HEIGHTS.clear()
            scratch = _measuring.pdf = _LicencePDF(footer_text="")
            scratch.add_page()
        height = _measured_terms_height(scratch, paragraphs, size)
        _TERMS_HEIGHTS[key] = height
    return height


def _measured_terms_height(pdf: _LicencePDF, paragraphs: list[str], size: float) -> float:
    pdf.set_font(FAMILY, size=size)
    height = 0.0
    for paragraph in paragraphs:
        pdf.shape_for(paragraph)
        # Asked for the HEIGHT only, multi_cell returns a number; fpdf2 types the return as
        # the union of every output combination.
        height += cast(
            float,
            pdf.multi_cell(
                0, size * LEADING, paragraph, dry_run=True, output=MethodReturnValue.HEIGHT
            ),
        )
        height += size * GAP
    return height


def _issuer_lines(issuer_name: str, producer: _Producer | None) -> list[str]:
    """Who issues the licence and how to reach them: the licensor, then the site's producer
    with their contact address, postal address and imprint where configured."""
    lines = [_("Licensor: %(name)s", name=_printable(issuer_name))]
    if producer is not None:
        lines.append(
            _(
                "Issued through %(name)s · Contact: %(email)s",
                name=_printable(producer.name),
                email=_printable(producer.contact_email),
            )
        )
        lines += [_printable(text) for text in (producer.address, producer.imprint) if text]
    return lines


def _issuer_height(pdf: _LicencePDF, lines: list[str]) -> float:
    """The height the issuer block takes (see _issuer_block)."""
    return 2 + 5 + len(lines) * 4


def _issuer_block(pdf: _LicencePDF, lines: list[str]) -> None:
    """The issuer block: a heading, then one line each, under a rule."""
    pdf.ln(1)
    pdf.set_draw_color(*RULE)
    pdf.line_rule(pdf.get_y())
    pdf.ln(1)
    pdf.set_font(FAMILY, "B", 8)
    pdf.set_text_color(*ACCENT)
    pdf.text_line(0, 5, _("Issuer").upper())
    pdf.set_font(FAMILY, size=8)
    pdf.set_text_color(*INK)
    for text in lines:
        pdf.text_line(0, 4, text)


def _section_heading(pdf: _LicencePDF, title: str) -> None:
    """A small upper-case heading in the accent colour, kept with the text that follows."""
    if pdf.will_page_break(20):
        pdf.add_page()
    pdf.set_font(FAMILY, "B", 9.5)
    pdf.set_text_color(*ACCENT)
    pdf.text_line(0, 5.5, title.upper())
    pdf.ln(0.5)


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
    path = PaintedPath()
    path.style.paint_rule = PathPaintRule.AUTO
    path.style.fill_color = "#000000"
    path.style.stroke_color = None
    for r, row in enumerate(rows):
        for start, length in _dark_runs(row):
            path.rectangle(x + start * module, y + r * module, length * module, module)
    # What new_path() does, but the path is built here and never changed after, so it goes
    # in as it is (clone=False): new_path's deep copy of its few hundred rectangles was a
    # tenth of a licence's rendering.
    with pdf.drawing_context() as context:
        context.add_item(path, clone=False)
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
    """Code points both bundled faces can draw, from their character maps."""
    maps = [frozenset(font.cmap) for font in _font_prototypes().values()]
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


def _date(moment: datetime, language: str) -> str:
    """A naive UTC datetime as '24 November 2026, 14:05 UTC' in ``language``."""
    when = format_datetime(moment.replace(tzinfo=UTC), DATE_PATTERN, tzinfo=UTC, locale=language)
    return f"{when} UTC"


def _local_start(p: Mapping[str, Any], language: str) -> str:
    """The start at the venue in ``language``, 'Thursday 10 December 2026, 19:00' over
    'America/Toronto (UTC−05:00)'; the frozen English display where the instant is missing."""
    if not (p.get("starts_at_utc") and p.get("timezone")):
        return str(p.get("local_start_display") or "")
    zone = ZoneInfo(str(p["timezone"]))
    local = datetime.fromisoformat(str(p["starts_at_utc"])).replace(tzinfo=UTC).astimezone(zone)
    when = format_datetime(local, "EEEE " + DATE_PATTERN, tzinfo=zone, locale=language)
    # The zone on a line of its own: in a right-to-left line, fpdf2 would not mirror the
    # brackets around it.
    return f"{when}\n{p['timezone']} ({utc_offset_label(local)})"


def _language_name(language: str, page_language: str) -> str:
    """``language``'s name in ``page_language``, e.g. 'anglais' for 'en' on a French page."""
    return Locale.parse(language).get_display_name(page_language) or language


def _translated(value: Any) -> str:
    """A label the particulars froze in English (its message id), in the page's language."""
    return _(str(value)) if value else ""


def _count(count: Any, unit: str) -> str:
    """'1 minute', '95 minutes', '120 people' in the page's language; empty without a count."""
    if count in (None, ""):
        return ""
    n = int(count)
    if unit == "minutes":
        return ngettext("%(num)d minute", "%(num)d minutes", n)
    return ngettext("%(num)d person", "%(num)d people", n)
