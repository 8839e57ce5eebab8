"""The legacy order's shipping columns, kept in step with its shipment (a ShipmentListener).

The shipment in ``logistics`` owns the shipping state; the order's columns are a copy the legacy
pages and the shop's JSON still read (expand-contract, LEGACY.md #15). Whichever process changes
a shipment (a web request, the dispatch worker, an admin action) tells this listener after its
commit, and the copy is written there, in one conditional UPDATE on ``default``: no read ever
writes (tracking used to repair the columns). The UPDATE applies only a version newer than the
one already copied, so a change that arrives late (a dispatch answer after a cancel) never
overwrites a later one, and applying the same change twice is a no-op.
"""

from __future__ import annotations

from django.db import transaction

from logistics.public import ShipmentStatus, ShipmentView
from monolithos.models import Order

COLUMNS = [
    "status",
    "shipping_status",
    "tracking_number",
    "supplier_reference",
    "dispatched_at",
    "shipping_version",
]
"""What a shipment's change may write on its order (``status``: a dispatch ships it)."""


def legacy_shipping_status(shipment: ShipmentView) -> str:
    """What the legacy ``Order.shipping_status`` says for the shipment's state."""
    if shipment.status in (ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED):
        return "dispatched"  # the legacy columns cannot say "delivered"
    if shipment.status is ShipmentStatus.CANCELLED:
        return "cancelled"
    return "dispatch_failed" if shipment.attempt_count or shipment.last_error else "pending"


def copy_shipment(shipment: ShipmentView) -> bool:
    """Copy the shipment onto its order's columns unless a newer version is there; True if so."""
    columns = {
        "shipping_status": legacy_shipping_status(shipment),
        "tracking_number": shipment.tracking_number or "",
        "supplier_reference": shipment.supplier_reference or "",
        "dispatched_at": shipment.dispatched_at,
        "shipping_version": shipment.version,
    }
    orders = Order.objects.filter(number=shipment.order_ref, shipping_version__lt=shipment.version)
    # A savepoint inside a caller's transaction: a failed copy (the service logs it) must not
    # abort the caller's own work on PostgreSQL.
    with transaction.atomic():
        if columns["shipping_status"] == "dispatched":
            # A dispatched shipment ships a placed order; a cancelled order stays cancelled.
            copied = orders.exclude(status="cancelled").update(status="shipped", **columns)
            copied += orders.filter(status="cancelled").update(**columns)
        else:
            copied = orders.update(**columns)
    return bool(copied)


class LegacyShippingColumns:
    """The listener named in ``LOGISTICS_SHIPMENT_LISTENERS``."""

    def shipment_changed(self, shipment: ShipmentView) -> None:
        copy_shipment(shipment)
