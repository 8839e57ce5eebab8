"""The legacy order's shipping columns, kept in step with its shipment (a ShipmentListener).

The shipment in ``logistics`` owns the shipping state; the order's columns are a copy, read in
the data ownership phases that read it (expand-contract, LEGACY.md #15; ``config.routers`` says
which). Whichever process changes a shipment (a web request, the dispatch worker, an admin
action) tells this listener after its commit, and the copy is written there, in one conditional
UPDATE on ``default``: no read ever writes (tracking used to repair the columns). The UPDATE
applies only a version newer than the one already copied, so a change that arrives late (a
dispatch answer after a cancel) never overwrites a later one, and applying the same change
twice is a no-op.

This module is the one writer of the columns, and it asks the router first: in ``contract``
they are not written (only the order's own status follows a dispatch), and
``refill_from_logistics`` brings them up to date again when a phase that writes them returns
(and when the migration that dropped them is reversed).
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from config import routers
from logistics.public import (
    LogisticsService,
    ShipmentStatus,
    ShipmentView,
    build_logistics_service,
)
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
SHIPPING_COLUMNS = COLUMNS[1:]
"""The copy itself: what the contract phase neither writes nor reads, and its release drops."""
REFILL_BATCH_SIZE = 500


def copied_fields() -> list[str]:
    """The fields a shipment's change writes on its order in the current phase."""
    return COLUMNS if routers.shipping_columns_written() else ["status"]


def legacy_shipping_status(shipment: ShipmentView) -> str:
    """What the legacy ``Order.shipping_status`` says for the shipment's state."""
    if shipment.status in (ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED):
        return "dispatched"  # the legacy columns cannot say "delivered"
    if shipment.status is ShipmentStatus.CANCELLED:
        return "cancelled"
    return "dispatch_failed" if shipment.attempt_count or shipment.last_error else "pending"


def columns_of(shipment: ShipmentView) -> dict[str, Any]:
    """The order's shipping columns as the shipment says them."""
    return {
        "shipping_status": legacy_shipping_status(shipment),
        "tracking_number": shipment.tracking_number or "",
        "supplier_reference": shipment.supplier_reference or "",
        "dispatched_at": shipment.dispatched_at,
        "shipping_version": shipment.version,
    }


def copy_shipment(shipment: ShipmentView) -> bool:
    """Copy the shipment onto its order's columns unless a newer version is there; True if so.

    When the phase writes no column (``contract``), only a dispatch's ``shipped`` reaches the
    order, which a cancelled or shipped order already is not waiting for.
    """
    dispatched = shipment.status in (ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED)
    if not routers.shipping_columns_written():
        if not dispatched:
            return False
        waiting = Order.objects.filter(number=shipment.order_ref, status="placed")
        return bool(waiting.update(status="shipped"))
    columns = columns_of(shipment)
    orders = Order.objects.filter(number=shipment.order_ref, shipping_version__lt=shipment.version)
    # A savepoint inside a caller's transaction: a failed copy (the service logs it) must not
    # abort the caller's own work on PostgreSQL.
    with transaction.atomic():
        if dispatched:
            # A dispatched shipment ships a placed order; a cancelled order stays cancelled.
            copied = orders.exclude(status="cancelled").update(status="shipped", **columns)
            copied += orders.filter(status="cancelled").update(**columns)
        else:
            copied = orders.update(**columns)
    return bool(copied)


def refill_from_logistics(
    *,
    order_model: type[models.Model] = Order,
    logistics: LogisticsService | None = None,
    batch_size: int = REFILL_BATCH_SIZE,
    using: str = routers.LEGACY_ALIAS,
) -> int:
    """Copy every shipment onto its order's columns where they are behind it (by version), in
    batches by ascending order id, one ``find_for_orders`` each; the number of orders written.

    Idempotent and safe beside the listener: both write only a newer version. ``order_model``
    is the migration's historical model when the drop is reversed (the live one then has no
    shipping columns), ``using`` the migrated alias.
    """
    service = logistics or build_logistics_service()
    manager: Any = order_model._default_manager  # typed for the live Order and a historical one
    alias = using
    written = 0
    last_pk = 0
    while True:
        batch = list(
            manager.using(alias)
            .filter(pk__gt=last_pk, number__isnull=False)
            .order_by("pk")
            .values_list("pk", "number", "shipping_version")[:batch_size]
        )
        if not batch:
            return written
        last_pk = batch[-1][0]
        shipments = service.find_for_orders([number for _, number, _ in batch])
        behind = [
            (pk, shipments[number])
            for pk, number, version in batch
            if number in shipments and version < shipments[number].version
        ]
        with transaction.atomic(using=alias):
            for pk, shipment in behind:
                # Conditional still: the listener may have copied a newer version meanwhile.
                written += (
                    manager.using(alias)
                    .filter(pk=pk, shipping_version__lt=shipment.version)
                    .update(**columns_of(shipment))
                )


class LegacyShippingColumns:
    """The listener named in ``LOGISTICS_SHIPMENT_LISTENERS``."""

    def shipment_changed(self, shipment: ShipmentView) -> None:
        copy_shipment(shipment)
