"""Distribution: each booking's screening format, download links, shipments, film materials.

A download format gives the organizer a personal link that expires some days after the
screening and counts its uses; a physical format puts a shipment in the fulfilment queue.
``prepare_delivery`` brings both in line with the screening's current format and dates; the
booking service calls it inside its own transaction whenever a licence is (re)issued.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import case, select, update
from sqlalchemy.orm import contains_eager, joinedload

from ..extensions import db
from ..models import (
    DownloadLink,
    Film,
    FormatKind,
    MaterialKind,
    Screening,
    ScreeningFormat,
    ScreeningMaterial,
    ScreeningStatus,
    Shipment,
    ShipmentStatus,
    utcnow,
)
from ..security import derived_token, hash_token, link_token, new_token, tokens_match
from ..urls import external_url, signed_file_url
from . import BookingError, DomainError, NotAllowed
from .history import record_change

# Defaults of the config keys read here (documented in the README).
DEFAULTS = {
    # A download link works until this many days after the screening ends.
    "DOWNLOAD_LINK_DAYS_AFTER": 7,
    # A physical medium must leave this many days before the screening's date.
    "SHIP_DAYS_BEFORE": 10,
    # …and come back within this many days after it.
    "RETURN_DAYS_AFTER": 14,
}


def _setting(name: str) -> int:
    return int(current_app.config.get(name, DEFAULTS[name]))


# ---------------------------------------------------------------- formats and materials
def formats_for(films: Iterable[Film]) -> list[ScreeningFormat]:
    """The active formats organizers may choose for these films."""
    ids = [film.id for film in films]
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(ScreeningFormat)
            .where(ScreeningFormat.film_id.in_(ids), ScreeningFormat.is_active)
            .order_by(ScreeningFormat.film_id, ScreeningFormat.name)
        )
    )


def check_format(film: Film, format_id: int | None) -> None:
    """Refuse a format that is not an active format of the booked film."""
    if format_id is None:
        return
    fmt = db.session.get(ScreeningFormat, format_id)
    if fmt is None or fmt.film_id != film.id or not fmt.is_active:
        raise BookingError(_("Choose a screening format offered for this film."), field="format_id")


def _check_format_fields(kind: str, download_url: str) -> None:
    if kind not in set(FormatKind):
        raise DomainError(_("Choose download or physical."), field="kind")
    if kind == FormatKind.DOWNLOAD and not download_url.startswith(("https://", "http://")):
        raise DomainError(
            _("A download format needs the address of the file (https://…)."),
            field="download_url",
        )


def add_format(film: Film, *, name: str, kind: str, download_url: str = "") -> ScreeningFormat:
    """Offer a new screening format for a film."""
    _check_format_fields(kind, download_url)
    fmt = ScreeningFormat(
        film_id=film.id,
        name=name,
        kind=kind,
        download_url=download_url if kind == FormatKind.DOWNLOAD else "",
        is_active=True,
    )
    db.session.add(fmt)
    db.session.commit()
    return fmt


def update_format(
    fmt: ScreeningFormat, *, name: str, kind: str, download_url: str, is_active: bool
) -> None:
    """Change a format; links already sent follow the new file location at once."""
    _check_format_fields(kind, download_url)
    fmt.name = name
    fmt.kind = kind
    fmt.download_url = download_url if kind == FormatKind.DOWNLOAD else ""
    fmt.is_active = is_active
    db.session.commit()


def add_material(film: Film, *, kind: str, label: str, url: str) -> ScreeningMaterial:
    """A link that goes into every licence e-mail for this film."""
    if kind not in set(MaterialKind):
        raise DomainError(_("Choose a kind of material."), field="kind")
    if not url.startswith(("https://", "http://")):
        raise DomainError(_("Enter a web address (https://…)."), field="url")
    material = ScreeningMaterial(film_id=film.id, kind=kind, label=label, url=url)
    db.session.add(material)
    db.session.commit()
    return material


def remove_material(material: ScreeningMaterial) -> None:
    db.session.delete(material)
    db.session.commit()


def materials_for(film_id: int) -> list[ScreeningMaterial]:
    return list(
        db.session.scalars(
            select(ScreeningMaterial)
            .where(ScreeningMaterial.film_id == film_id)
            .order_by(ScreeningMaterial.kind, ScreeningMaterial.id)
        )
    )


# ---------------------------------------------------------------- delivery of one screening
def _venue_address(screening: Screening) -> str:
    lines = [
        screening.contact_name,
        screening.organization_name,
        screening.venue_name,
        screening.street_address,
        " ".join(p for p in (screening.postal_code, screening.city) if p),
        screening.region,
        screening.country,
    ]
    return "\n".join(line for line in lines if line)


def _download_token(link: DownloadLink) -> str:
    return link_token("download", link.key, link.token_hash)


def prepare_delivery(screening: Screening) -> None:
    """Create or update the screening's download link or shipment (caller's transaction)."""
    fmt = db.session.get(ScreeningFormat, screening.format_id) if screening.format_id else None
    link = db.session.scalar(select(DownloadLink).where(DownloadLink.screening_id == screening.id))
    shipment = db.session.scalar(select(Shipment).where(Shipment.screening_id == screening.id))
    local_day: date = screening.local_start.date()

    if fmt is not None and fmt.kind == FormatKind.DOWNLOAD:
        expires = screening.ends_at_utc.replace(tzinfo=None) + timedelta(
            days=_setting("DOWNLOAD_LINK_DAYS_AFTER")
        )
        if link is None:
            key = new_token()
            link = DownloadLink(
                screening_id=screening.id,
                format_id=fmt.id,
                key=key,
                token_hash=hash_token(derived_token("download", key)),
                expires_at=expires,
                download_count=0,
            )
            db.session.add(link)
        else:
            link.format_id = fmt.id
            link.expires_at = expires
    elif link is not None:
        # No longer a download: the link stops working.
        link.expires_at = min(link.expires_at, utcnow())

    if fmt is not None and fmt.kind == FormatKind.PHYSICAL:
        ship_by = local_day - timedelta(days=_setting("SHIP_DAYS_BEFORE"))
        return_due = local_day + timedelta(days=_setting("RETURN_DAYS_AFTER"))
        if shipment is None:
            db.session.add(
                Shipment(
                    screening_id=screening.id,
                    format_id=fmt.id,
                    status=ShipmentStatus.TO_SHIP,
                    ship_by=ship_by,
                    return_due=return_due,
                    shipping_address=_venue_address(screening),
                    tracking_number="",
                )
            )
        else:
            if shipment.status in (ShipmentStatus.TO_SHIP, ShipmentStatus.CANCELLED):
                shipment.format_id = fmt.id
                shipment.ship_by = ship_by
                shipment.status = ShipmentStatus.TO_SHIP
            shipment.return_due = return_due
    elif shipment is not None and shipment.status == ShipmentStatus.TO_SHIP:
        shipment.status = ShipmentStatus.CANCELLED
    db.session.flush()


def licence_email_context(screening: Screening) -> dict:
    """What the licence e-mail says about delivery: download link, shipment, materials."""
    context: dict = {"download": None, "shipment": None, "materials": []}
    context["materials"] = materials_for(screening.film_id)
    link = db.session.scalar(
        select(DownloadLink)
        .where(DownloadLink.screening_id == screening.id)
        .options(joinedload(DownloadLink.format))
    )
    if link is not None and not link.is_expired and link.format.kind == FormatKind.DOWNLOAD:
        context["download"] = {
            "format": link.format.name,
            "url": external_url("organizer.download", token=_download_token(link)),
            "expires_at": link.expires_at,
        }
    shipment = db.session.scalar(
        select(Shipment)
        .where(Shipment.screening_id == screening.id, Shipment.status != ShipmentStatus.CANCELLED)
        .options(joinedload(Shipment.format))
    )
    if shipment is not None:
        context["shipment"] = shipment
    return context


def open_download(token: str) -> str | None:
    """Count one use of a personal download link; returns where the file is.

    None for a link that never existed; NotAllowed for one that expired or was withdrawn.
    """
    if not token or len(token) > 100:
        return None
    link = db.session.scalar(
        select(DownloadLink).where(DownloadLink.token_hash == hash_token(token))
    )
    if link is None or not tokens_match(token, link.token_hash):
        return None
    # Both foreign keys are NOT NULL: the rows are there.
    screening = db.session.get_one(Screening, link.screening_id)
    fmt = db.session.get_one(ScreeningFormat, link.format_id)
    if (
        link.is_expired
        or screening.status != ScreeningStatus.APPROVED
        or fmt.kind != FormatKind.DOWNLOAD
        or not fmt.download_url
    ):
        raise NotAllowed(_("This download link has expired. Ask the producer for a new one."))
    db.session.execute(
        update(DownloadLink)
        .where(DownloadLink.id == link.id)
        .values(download_count=DownloadLink.download_count + 1, last_download_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    url = signed_file_url(fmt.download_url, not_after=link.expires_at)
    db.session.commit()
    return url


# ---------------------------------------------------------------- fulfilment
QUEUE_VIEWS = ("to_ship", "shipped", "overdue", "returned", "all")


def fulfilment_queue(view: str = "to_ship", limit: int = 500) -> list[Shipment]:
    """Shipments for the fulfilment page, most urgent first (two queries whatever the data)."""
    today = utcnow().date()
    query = (
        select(Shipment)
        .join(Shipment.screening)
        .options(
            contains_eager(Shipment.screening).joinedload(Screening.film),
            joinedload(Shipment.format),
        )
    )
    if view == "to_ship":
        query = query.where(
            Shipment.status == ShipmentStatus.TO_SHIP,
            Screening.status == ScreeningStatus.APPROVED,
        ).order_by(Shipment.ship_by, Shipment.id)
    elif view == "shipped":
        query = query.where(Shipment.status == ShipmentStatus.SHIPPED).order_by(
            Shipment.return_due, Shipment.id
        )
    elif view == "overdue":
        query = query.where(
            Shipment.status == ShipmentStatus.SHIPPED, Shipment.return_due < today
        ).order_by(Shipment.return_due, Shipment.id)
    elif view == "returned":
        query = query.where(Shipment.status == ShipmentStatus.RETURNED).order_by(
            Shipment.returned_at.desc(), Shipment.id
        )
    else:
        query = query.order_by(
            case((Shipment.status == ShipmentStatus.TO_SHIP, 0), else_=1), Shipment.ship_by
        )
    return list(db.session.scalars(query.limit(limit)).unique())


def _shipment(shipment_id: int) -> Shipment:
    shipment = db.session.get(Shipment, shipment_id)
    if shipment is None:
        raise NotAllowed(_("No such shipment."))
    return shipment


def mark_shipped(shipment_id: int, *, tracking_number: str, actor: str) -> Shipment:
    """The medium left: record its tracking number."""
    shipment = _shipment(shipment_id)
    if shipment.status != ShipmentStatus.TO_SHIP:
        raise NotAllowed(_("Only a shipment waiting to ship can be marked shipped."))
    shipment.status = ShipmentStatus.SHIPPED
    shipment.tracking_number = tracking_number
    shipment.shipped_at = utcnow()
    record_change(shipment.screening, actor, "shipped", tracking_number=tracking_number)
    db.session.commit()
    return shipment


def mark_returned(shipment_id: int, *, actor: str) -> Shipment:
    """The medium came back."""
    shipment = _shipment(shipment_id)
    if shipment.status != ShipmentStatus.SHIPPED:
        raise NotAllowed(_("Only a shipped medium can be marked returned."))
    shipment.status = ShipmentStatus.RETURNED
    shipment.returned_at = utcnow()
    record_change(shipment.screening, actor, "returned")
    db.session.commit()
    return shipment


def set_shipping_address(shipment_id: int, *, address: str, actor: str) -> Shipment:
    shipment = _shipment(shipment_id)
    if shipment.status != ShipmentStatus.TO_SHIP:
        raise NotAllowed(_("The medium has left; its address can no longer change."))
    shipment.shipping_address = address
    record_change(shipment.screening, actor, "shipping address changed")
    db.session.commit()
    return shipment


def delivery_of(screening: Screening) -> tuple[DownloadLink | None, Shipment | None]:
    """The screening's download link and shipment, for the producer's screening page."""
    link = db.session.scalar(
        select(DownloadLink)
        .where(DownloadLink.screening_id == screening.id)
        .options(joinedload(DownloadLink.format))
    )
    shipment = db.session.scalar(
        select(Shipment)
        .where(Shipment.screening_id == screening.id)
        .options(joinedload(Shipment.format))
    )
    return link, shipment
