"""The legacy order's shipping columns, kept in step with its shipment: the one writer.

The shipment in ``logistics`` owns the shipping state; the order's columns are a copy the legacy
pages and the shop's JSON still read (expand-contract, LEGACY.md #15). ``apply`` is the only
code that writes them from a shipment's change, by two paths (docs/adr/0021):

- **the event**: every committed change of a shipment records a ``ShipmentEvent`` in the outbox,
  in its own transaction on ``logistics``; a worker runs ``monolithos.tasks.apply_shipment_event``
  with it. This path survives a process that dies right after its commit.
- **the fast path**: the process that changed the shipment tells ``LegacyShippingColumns`` (a
  ``ShipmentListener``) after its commit, so a page read right after a change shows it.

Whichever comes first writes; the other finds that version there and changes nothing. ``apply``
is one conditional UPDATE on ``default``: it writes only a version newer than the one already
copied, so a change that arrives late (a dispatch answer after a cancel) never overwrites a later
one, and applying the same change twice is a no-op. No read ever writes.
"""

from __future__ import annotations

from enum import StrEnum

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


class Applied(StrEnum):
    """What applying a shipment's state did to its order's columns."""

    APPLIED = "applied"
    STALE = "stale"
    """That version, or a later one, is there already: nothing written."""
    NO_ORDER = "no_order"
    """No order has the shipment's reference: nothing to write to."""


def legacy_shipping_status(shipment: ShipmentView) -> str:
    """What the legacy ``Order.shipping_status`` says for the shipment's state."""
    if shipment.status in (ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED):
        return "dispatched"  # the legacy columns cannot say "delivered"
    if shipment.status is ShipmentStatus.CANCELLED:
        return "cancelled"
    return "dispatch_failed" if shipment.attempt_count or shipment.last_error else "pending"


def apply(shipment: ShipmentView) -> Applied:
    """Copy the shipment onto its order's columns unless that version or a newer one is there."""
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
    if copied:
        return Applied.APPLIED
    if Order.objects.filter(number=shipment.order_ref).exists():
        return Applied.STALE
    return Applied.NO_ORDER


class LegacyShippingColumns:
    """The listener named in ``LOGISTICS_SHIPMENT_LISTENERS``: the fast path."""

    def shipment_changed(self, shipment: ShipmentView) -> None:
        apply(shipment)
