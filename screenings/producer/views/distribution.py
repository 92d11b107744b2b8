"""Distribution: the fulfilment queue of physical formats (ship, return, address)."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from ...models import Shipment, utcnow
from ...services import DomainError, distribution
from .. import bp
from ..forms import AddressForm, ReturnForm, ShipForm
from .base import actor


@bp.route("/distribution")
def distribution_page() -> str:
    view = request.args.get("view", "to_ship")
    if view not in distribution.QUEUE_VIEWS:
        view = "to_ship"
    return render_template(
        "producer/distribution.html",
        shipments=distribution.fulfilment_queue(view),
        view=view,
        views=distribution.QUEUE_VIEWS,
        ship_form=ShipForm(),
        return_form=ReturnForm(),
        today=utcnow().date(),
    )


def _shipment_action(action: Callable[[], Shipment]) -> Shipment | None:
    try:
        shipment = action()
    except DomainError as error:
        flash(error.message, "error")
        return None
    return shipment


@bp.route("/shipments/<int:shipment_id>/shipped", methods=["POST"])
def mark_shipped(shipment_id: int) -> BaseResponse:
    form = ShipForm()
    if not form.validate_on_submit():
        flash(_("Enter the tracking number."), "error")
    elif _shipment_action(
        lambda: distribution.mark_shipped(
            shipment_id, tracking_number=form.tracking_number.data, actor=actor()
        )
    ):
        flash(_("Marked shipped."), "success")
    return redirect(url_for(".distribution_page", view=request.args.get("view", "to_ship")))


@bp.route("/shipments/<int:shipment_id>/returned", methods=["POST"])
def mark_returned(shipment_id: int) -> BaseResponse:
    if ReturnForm().validate_on_submit() and _shipment_action(
        lambda: distribution.mark_returned(shipment_id, actor=actor())
    ):
        flash(_("Marked returned."), "success")
    return redirect(url_for(".distribution_page", view=request.args.get("view", "shipped")))


@bp.route("/shipments/<int:shipment_id>/address", methods=["POST"])
def shipping_address(shipment_id: int) -> BaseResponse:
    form = AddressForm()
    if not form.validate_on_submit():
        flash(_("Enter the address."), "error")
    elif _shipment_action(
        lambda: distribution.set_shipping_address(
            shipment_id, address=form.address.data, actor=actor()
        )
    ):
        flash(_("Address saved."), "success")
    return redirect(url_for(".distribution_page"))
