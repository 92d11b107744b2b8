"""Licences: the number, the particulars they freeze, and their revisions.

A licence number is the film's code and eight Crockford base32 symbols, ``TKR-7Q4M-K2XD``:
seven random symbols (35 bits, from ``secrets``) and a check symbol, their value modulo 37
as Crockford specifies. So the number says nothing about the screening, the year or how
many came before, and a mistyped symbol or two swapped neighbours are caught before any
lookup. Draws whose check would be one of Crockford's five extra check symbols (``*~$=U``)
are drawn again, so every number reads in the 32 ordinary symbols (34.8 bits remain).
Numbers issued before (``TKR-2026-00042``) keep verifying as they are.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from email.message import EmailMessage

from flask_babel import force_locale
from sqlalchemy import select

from .. import emails
from ..extensions import db
from ..identity import producer_identity
from ..labels import ORGANIZATION_TYPES
from ..models import Licence, OrganizationType, Screening, utcnow
from ..places import country_name, start_words
from ..urls import external_url
from . import clashes, distribution, observances
from .visibility import is_listed, licence_listing

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# What people type for a symbol: lower case, O for zero, I and L for one (Crockford).
READ_AS = str.maketrans("OIL", "011")
RANDOM_SYMBOLS = 7
_NUMBER = re.compile(r"^[A-Z0-9]{1,8}-[0-9A-HJKMNP-TV-Z]{8}$")
_OLD_NUMBER = re.compile(r"^[A-Z0-9]{1,8}-\d{4}-\d{5,}$")
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015]+")


def check_symbol(symbols: str) -> str | None:
    """Crockford's check symbol of base32 symbols (their value mod 37); None past the 32."""
    value = 0
    for symbol in symbols:
        value = value * 32 + CROCKFORD.index(symbol)
    check = value % 37
    return CROCKFORD[check] if check < len(CROCKFORD) else None


def new_licence_number(film_code: str, choice: Callable[[str], str] = secrets.choice) -> str:
    """A fresh random number for a film, e.g. TKR-7Q4M-K2XD (uniqueness: see issue_licence).

    ``choice`` is for the demo data's seeded generator only; licences use ``secrets``.
    """
    while True:
        body = "".join(choice(CROCKFORD) for _ in range(RANDOM_SYMBOLS))
        check = check_symbol(body)
        if check is not None:
            symbols = body + check
            return f"{film_code}-{symbols[:4]}-{symbols[4:]}"


def normalize_number(typed: str) -> str | None:
    """The canonical form of a typed licence number, or None when it cannot be one.

    Case, spaces and hyphens are ignored and O/I/L read as 0/1 in the random part; a wrong
    check symbol gives None. An old number (TKR-2026-00042) is returned as it was issued.
    """
    text = (typed or "")[:64].strip().upper()
    if _OLD_NUMBER.match(text):
        return text
    compact = _SEPARATORS.sub("", text)
    if len(compact) < 9:
        return None
    code, body = compact[:-8], compact[-8:].translate(READ_AS)
    match = _NUMBER.match(f"{code}-{body}")
    if match is None or check_symbol(body[:RANDOM_SYMBOLS]) != body[RANDOM_SYMBOLS]:
        return None
    return f"{code}-{body[:4]}-{body[4:]}"


def local_start_display(screening: Screening) -> str:
    """ "Thursday 10 December 2026, 19:00 (America/Toronto, UTC−05:00)", in English."""
    return start_words(screening.local_start_aware, screening.timezone)


def organization_type_label(value: str) -> str:
    """The booking form's label of an organization type in English, the message id the PDF
    shows in the organizer's language (the bare value's label for a type it no longer has)."""
    with force_locale("en"):
        return str(dict(ORGANIZATION_TYPES).get(value) or OrganizationType(value).label)


def particulars_of(screening: Screening) -> dict:
    """What a licence states about its screening, frozen at issue."""
    film = screening.film
    return {
        "film_title": film.title,
        "film_year": film.year,
        "director": film.director,
        "production_company": film.production_company,
        "organization_name": screening.organization_name,
        "organization_type_label": organization_type_label(screening.organization_type),
        "venue_name": screening.venue_name,
        "street_address": screening.street_address,
        "city": screening.city,
        "region": screening.region,
        "postal_code": screening.postal_code,
        "country": screening.country,
        "country_name": country_name(screening.country),
        "timezone": screening.timezone,
        "local_start": screening.local_start.isoformat(),
        "local_start_display": local_start_display(screening),
        "starts_at_utc": screening.starts_at.isoformat(),
        "duration_minutes": screening.duration_minutes,
        "expected_audience": screening.expected_audience,
        "listing": licence_listing(screening.visibility),
    }


def _unused_number(film_code: str) -> str:
    """A new number no licence holds yet (a collision, one in billions, draws again)."""
    while True:
        number = new_licence_number(film_code)
        if db.session.scalar(select(Licence.id).where(Licence.number == number)) is None:
            return number


def issue_licence(screening: Screening) -> Licence:
    """Issue the first licence or a new revision, under the terms the organizer accepted."""
    current = screening.current_licence
    now = utcnow()
    licence = Licence(
        screening=screening,
        number=current.number if current else _unused_number(screening.film.code),
        revision=current.revision + 1 if current else 1,
        terms=screening.accepted_terms or screening.film.current_terms,
        terms_language=screening.accepted_terms_language if screening.accepted_terms else "en",
        particulars_json=json.dumps(particulars_of(screening), ensure_ascii=False),
        issued_at=now,
    )
    db.session.add(licence)
    db.session.flush()
    return licence


def licence_pdf(licence: Licence) -> bytes:
    """The licence as a PDF in the organizer's language, with its verification URL, QR code
    and the producer's contact; its terms in the language the organizer accepted them in."""
    from ..licence_pdf import render_licence_pdf  # noqa: PLC0415 fpdf and fonts: 40 MB a worker, on demand

    return render_licence_pdf(
        licence,
        verify_url=external_url("public.licence", number=licence.number),
        issuer_name=licence.screening.film.production_company,
        producer=producer_identity(),
        language=licence.screening.language or "en",
    )


def licence_pdf_by_id(licence_id: str) -> bytes:
    """The PDF of a licence by its id: what the outbox renders into a licence e-mail at
    delivery ("licence-pdf:<id>"). The licence row is never changed once issued, so it is
    the PDF of the number and terms the organizer was sent, whenever it is rendered."""
    licence = db.session.get(Licence, int(licence_id))
    if licence is None:
        raise LookupError(f"licence {licence_id} does not exist")
    return licence_pdf(licence)


# A key no licence can hold (it fails the number's pattern): a rejected number still makes
# the one indexed lookup a real one makes, so a miss costs what a hit costs.
_NO_NUMBER = "-"


def find_licence(typed: str) -> Licence | None:
    """The latest revision of a licence, by its number as typed (see normalize_number)."""
    number = normalize_number(typed) or _NO_NUMBER
    return db.session.scalars(
        select(Licence).where(Licence.number == number).order_by(Licence.revision.desc())
    ).first()


def shows_place_publicly(screening: Screening) -> bool:
    """Does this screening show where it happens (venue, city, organization) to anyone?

    A listed screening does; an unlisted (private) one does not: its licence holder has
    the PDF. The one rule every public rendering of a licence uses.
    """
    return is_listed(screening)


def compose_licence_mail(licence_id: str, *, message_id: str) -> EmailMessage:
    """The licence e-mail of a licence revision, composed at delivery (emails.send_licence_issued
    queued its reference). The licence row is frozen at issue, so its number, particulars and
    terms are the ones approved; the notes and the delivery are as they stand now."""
    licence = db.session.get(Licence, int(licence_id))
    if licence is None:
        raise LookupError(f"licence {licence_id} does not exist")
    screening = licence.screening
    return emails.licence_message(
        licence,
        notes=_licence_notes(screening, licence),
        delivery=distribution.licence_email_context(screening),
        message_id=message_id,
    )


def _licence_notes(screening: Screening, licence: Licence) -> list[str]:
    """A first licence's notes, as the result page shows them: the organizer-safe clash notes
    and the holiday and Shabbat warnings, in the organizer's language, as they stand now."""
    if licence.revision != 1:
        return []
    with force_locale(screening.language):
        return clashes.organizer_notes(screening) + observances.warnings(screening)


# What the outbox composes and renders at delivery, by the kind of a reference
# (outbox.enqueue_later, Attachment.render); the app factory hands them to the outbox.
COMPOSERS = {emails.LICENCE_REFERENCE: compose_licence_mail}
RENDERERS = {emails.LICENCE_PDF_REFERENCE: licence_pdf_by_id}
