"""The legacy order's shipping columns, kept in step with its shipment: the one writer.

The shipment in ``logistics`` owns the shipping state; the order's columns are a copy, read in
the data ownership phases that read it (expand-contract, LEGACY.md #15; ``config.routers`` says
which). ``apply`` is the only code that writes them from a shipment's change, by two paths
(docs/adr/0021):

- **the event**: every committed change of a shipment records a ``ShipmentEvent`` in the outbox,
  in its own transaction on ``logistics``; a worker runs ``monolithos.tasks.apply_shipment_event``
  with it. This path survives a process that dies right after its commit.
- **the fast path**: the process that changed the shipment tells ``LegacyShippingColumns`` (a
  ``ShipmentListener``) after its commit, so a page read right after a change shows it.

Whichever comes first writes; the other finds that version there and changes nothing. ``apply``
is one conditional UPDATE on ``default``: it writes only a version newer than the one already
copied, so a change that arrives late (a dispatch answer after a cancel) never overwrites a later
one, and applying the same change twice is a no-op. No read ever writes.

It asks the router first (docs/adr/0022): in ``contract`` the columns are not written (only the
order's own status follows a dispatch), and ``refill_from_logistics`` brings them up to date
again when a phase that writes them returns, and when the migration that dropped them is
reversed.
"""

from __future__ import annotations

from enum import StrEnum
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


class Applied(StrEnum):
    """What applying a shipment's state did to its order's columns."""

    APPLIED = "applied"
    STALE = "stale"
    """That version, or a later one, is there already: nothing written."""
    NO_ORDER = "no_order"
    """No order has the shipment's reference: nothing to write to."""
    NOT_WRITTEN = "not_written"
    """The data phase writes no shipping column (contract), and the order's status had nothing
    to follow."""


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


def apply(shipment: ShipmentView) -> Applied:
    """Copy the shipment onto its order's columns unless that version or a newer one is there.

    When the phase writes no column (``contract``), only a dispatch's ``shipped`` reaches the
    order, which a cancelled or shipped order already is not waiting for.
    """
    dispatched = shipment.status in (ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED)
    if not routers.shipping_columns_written():
        waiting = Order.objects.filter(number=shipment.order_ref, status="placed")
        if dispatched and waiting.update(status="shipped"):
            return Applied.APPLIED
        if Order.objects.filter(number=shipment.order_ref).exists():
            return Applied.NOT_WRITTEN
        return Applied.NO_ORDER
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
    if copied:
        return Applied.APPLIED
    if Order.objects.filter(number=shipment.order_ref).exists():
        return Applied.STALE
    return Applied.NO_ORDER


def refill_from_logistics(
    *,
    order_model: type[models.Model] = Order,
    logistics: LogisticsService | None = None,
    batch_size: int = REFILL_BATCH_SIZE,
    using: str = routers.LEGACY_ALIAS,
) -> int:
    """Copy every shipment onto its order's columns where they are behind it (by version), in
    batches by ascending order id, one ``find_for_orders`` each; the number of orders written.

    Idempotent and safe beside ``apply``: both write only a newer version. ``order_model`` is
    the migration's historical model when the drop is reversed (the live one then has no
    shipping columns), ``using`` the migrated alias.
    """
    service = logistics or build_logistics_service()
    manager: Any = order_model._default_manager  # typed for the live Order and a historical one
    written = 0
    last_pk = 0
    while True:
        batch = list(
            manager.using(using)
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
        with transaction.atomic(using=using):
            for pk, shipment in behind:
                # Conditional still: ``apply`` may have copied a newer version meanwhile.
                written += (
                    manager.using(using)
                    .filter(pk=pk, shipping_version__lt=shipment.version)
                    .update(**columns_of(shipment))
                )


class LegacyShippingColumns:
    """The listener named in ``LOGISTICS_SHIPMENT_LISTENERS``: the fast path."""

    def shipment_changed(self, shipment: ShipmentView) -> None:
        apply(shipment)
