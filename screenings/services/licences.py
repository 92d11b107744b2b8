"""Licences: the number, the particulars they freeze, and their revisions."""

from __future__ import annotations

import json

from ..extensions import db
from ..models import Licence, OrganizationType, Screening, utcnow
from ..places import country_name, utc_offset_label


def licence_number(screening: Screening, year: int) -> str:
    """Human-readable and unique: the film's code, the year of issue and the screening's id."""
    return f"{screening.film.code}-{year}-{screening.id:05d}"


def local_start_display(screening: Screening) -> str:
    """ "Thursday 10 December 2026, 19:00 (America/Toronto, UTC−05:00)"."""
    local = screening.local_start_aware
    return (
        f"{local:%A} {local.day} {local:%B %Y, %H:%M} "
        f"({screening.timezone}, {utc_offset_label(local)})"
    )


def particulars_of(screening: Screening) -> dict:
    """What a licence states about its screening, frozen at issue."""
    film = screening.film
    return {
        "film_title": film.title,
        "film_year": film.year,
        "director": film.director,
        "production_company": film.production_company,
        "organization_name": screening.organization_name,
        "organization_type_label": OrganizationType(screening.organization_type).label,
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
        "listing": {"public": "Public", "guests": "Guests only", "private": "Private"}[
            screening.visibility
        ],
    }


def issue_licence(screening: Screening) -> Licence:
    """Issue the first licence or a new revision under the film's current terms."""
    current = screening.current_licence
    now = utcnow()
    licence = Licence(
        screening=screening,
        number=current.number if current else licence_number(screening, now.year),
        revision=current.revision + 1 if current else 1,
        terms=screening.film.current_terms,
        particulars_json=json.dumps(particulars_of(screening), ensure_ascii=False),
        issued_at=now,
    )
    db.session.add(licence)
    db.session.flush()
    return licence


def licence_pdf(licence: Licence) -> bytes:
    """The licence as a PDF, with its verification URL and QR code."""
    from ..licence_pdf import render_licence_pdf  # fpdf and fonts: 40 MB a worker, on demand
    from ..urls import external_url

    return render_licence_pdf(
        licence,
        verify_url=external_url("public.licence", number=licence.number),
        issuer_name=licence.screening.film.production_company,
    )


def find_licence(number: str) -> Licence | None:
    """The latest revision of a licence, by its number."""
    return db.session.scalars(
        db.select(Licence).where(Licence.number == number).order_by(Licence.revision.desc())
    ).first()
