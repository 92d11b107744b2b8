"""A one-page poster for a screening: film, date and time, place, and a QR code to its page.

Drawn with the licence's library and fonts (fpdf2, DejaVu shipped in ``screenings/fonts``),
its text settled by the same ``_printable`` and its QR drawn by the same ``_draw_qr``, so a
name in any script the licence prints, the poster prints. The paper is Letter where people
buy Letter paper and A4 everywhere else (``paper_for``). The words come translated and the
date formatted by the caller (services/sharing.py): this module only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from .licence_pdf import (
    ACCENT,
    FAMILY,
    INK,
    MUTED,
    Colour,
    _draw_qr,
    _needs_shaping,
    _printable,
    add_bundled_fonts,
    document_bytes,
)

# Countries where Letter is the paper in the shops (the Americas that use it, the Philippines).
LETTER_COUNTRIES = frozenset(
    {"US", "CA", "MX", "CL", "CO", "CR", "DO", "GT", "PA", "PH", "PR", "SV", "VE", "NI"}
)
QR_SIZE = 62.0  # mm: a phone reads it from a couple of metres


def paper_for(country: str) -> str:
    """The paper a host in ``country`` prints on: "Letter" or "A4"."""
    return "Letter" if (country or "").upper() in LETTER_COUNTRIES else "A4"


@dataclass(frozen=True)
class PosterText:
    """What the poster says, already translated and formatted for its audience."""

    kicker: str  # "Free community screening"
    title: str
    date_line: str
    time_line: str
    place_lines: tuple[str, ...]
    host_line: str  # "Hosted by …"
    call_to_action: str  # "Scan to reply and for the details"
    url: str
    language: str = "en"


def render_poster_pdf(text: PosterText, *, paper: str) -> bytes:
    """The poster as a one-page PDF on ``paper`` ("A4" or "Letter")."""
    pdf = FPDF(orientation="portrait", unit="mm", format=paper)
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(auto=False)
    add_bundled_fonts(pdf)
    pdf.set_title(_printable(text.title))
    pdf.set_creator("Screenings")
    pdf.set_lang(text.language)
    pdf.add_page()
    width = pdf.epw

    def line(
        value: str, size: float, style: str = "", color: Colour = INK, height: float = 0
    ) -> None:
        value = _printable(value)
        pdf.set_text_shaping(_needs_shaping(value))
        pdf.set_font(FAMILY, style, size)
        pdf.set_text_color(*color)
        pdf.multi_cell(
            width, height or size * 0.5, value, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    pdf.set_y(24)
    line(text.kicker.upper(), 14, "B", ACCENT)
    pdf.ln(8)
    line(text.title, 40 if len(text.title) < 28 else 30, "B", INK)
    pdf.ln(10)
    line(text.date_line, 20, "B")
    pdf.ln(2)
    line(text.time_line, 20)
    pdf.ln(8)
    for place in text.place_lines:
        line(place, 16)
        pdf.ln(1)
    if text.host_line:
        pdf.ln(5)
        line(text.host_line, 12, "", MUTED)

    qr_y = pdf.h - 30 - QR_SIZE - 22
    _draw_qr(pdf, text.url, (pdf.w - QR_SIZE) / 2, qr_y, QR_SIZE)
    pdf.set_y(qr_y + QR_SIZE + 3)
    line(text.call_to_action, 12, "B", ACCENT)
    pdf.ln(1)
    line(text.url, 9, "", MUTED)
    return document_bytes(pdf)
