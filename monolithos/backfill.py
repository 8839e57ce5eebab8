"""Backfill of the logistics shipments from the legacy order columns, and the parity check.

Expand-contract: the legacy ``Order`` still carries its shipping columns; the logistics context
owns shipments from now on. This module copies every legacy order's shipping state into the
logistics database through the public facade (``logistics.public``), in batches, and then
compares both sides.

- Reads walk the orders by ascending primary key (keyset pagination, never OFFSET) on the
  primary of ``default``, not on a read replica: a lagging replica would make the copy and the
  parity check stale.
- Writes go through ``LogisticsService.import_legacy``, which is idempotent on ``order_ref``:
  a rerun, or a run resumed with ``after_id``, creates only what is missing. There is no
  transaction spanning the two databases; each batch is one transaction on ``logistics``.
- An order is skipped (and counted) when it has no number, or when its columns cannot make a
  valid shipment (no lines, no address, a quantity below 1...): the parity check then reports it
  as missing, so nothing is lost silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from django.db import router
from django.db.models import Prefetch, Q, QuerySet
from pydantic import ValidationError

from logistics.public import (
    ItemIn,
    LegacyShipment,
    LogisticsService,
    ShipmentStatus,
    ShipmentView,
    build_logistics_service,
)
from monolithos.models import Order, OrderLine

DEFAULT_BATCH_SIZE = 500

ProgressCallback = Callable[[int, int], None]
"""Called after each batch with (orders done so far, orders to do in total)."""

LEGACY_TO_LOGISTICS: dict[str, ShipmentStatus] = {
    "pending": ShipmentStatus.PENDING,
    "dispatch_failed": ShipmentStatus.PENDING,
    "dispatched": ShipmentStatus.DISPATCHED,
    "cancelled": ShipmentStatus.CANCELLED,
}
"""Legacy ``Order.shipping_status`` -> the logistics status it stands for.

A failed dispatch leaves a shipment pending (it may be dispatched again), which is what the
live code does since shipping moved to the logistics context; its failure is recorded as the
shipment's last error (``LEGACY_DISPATCH_FAILED``), so the shipment reads as failed as the
columns do.
"""
LEGACY_DISPATCH_FAILED = "the dispatch failed before the backfill (legacy dispatch_failed)"

# The legacy columns cannot say "delivered": a delivered shipment still reads "dispatched" there.
COMPATIBLE_STATUSES: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    ShipmentStatus.PENDING: frozenset({ShipmentStatus.PENDING}),
    ShipmentStatus.DISPATCHED: frozenset({ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED}),
    ShipmentStatus.CANCELLED: frozenset({ShipmentStatus.CANCELLED}),
}


class UnmappableOrder(ValueError):
    """The order's legacy columns cannot make a shipment."""


@dataclass(frozen=True)
class BackfillReport:
    dry_run: bool
    orders_scanned: int
    shipments_created: int
    """In a dry run: the shipments that would be created."""
    already_present: int
    skipped_without_number: int
    skipped_invalid: int
    batches: int
    last_order_id: int | None
    """The pk of the last order scanned: pass it as ``after_id`` to resume after it."""
    seconds: float

    @property
    def skipped(self) -> int:
        return self.skipped_without_number + self.skipped_invalid

    @property
    def orders_per_second(self) -> float:
        return self.orders_scanned / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        created = "would be created" if self.dry_run else "created"
        return [
            f"orders scanned: {self.orders_scanned}",
            f"shipments {created}: {self.shipments_created}",
            f"already present: {self.already_present}",
            f"skipped: {self.skipped} ({self.skipped_without_number} without number, "
            f"{self.skipped_invalid} invalid)",
            f"batches: {self.batches}",
            f"last order id: {self.last_order_id if self.last_order_id is not None else '-'}",
            f"seconds: {self.seconds:.2f} ({self.orders_per_second:.0f} orders/s)",
        ]


@dataclass(frozen=True)
class Mismatch:
    order_number: str
    field: str
    """``shipment`` (missing), ``status``, ``supplier_reference`` or ``tracking_number``."""
    legacy_value: str | None
    logistics_value: str | None

    def __str__(self) -> str:
        return (
            f"{self.order_number} {self.field}: legacy={self.legacy_value!r} "
            f"logistics={self.logistics_value!r}"
        )


# ---------------------------------------------------------------------- mapping


def _blank_to_none(value: str | None) -> str | None:
    return value or None


def merged_items(lines: Sequence[OrderLine]) -> list[ItemIn]:
    """One item per SKU, quantities of repeated SKUs added up, in order of first appearance."""
    quantities: dict[str, int] = {}
    for line in lines:
        quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
    return [ItemIn(sku=sku, quantity=quantity) for sku, quantity in quantities.items()]


def legacy_status(order: Order) -> ShipmentStatus:
    try:
        return LEGACY_TO_LOGISTICS[order.shipping_status]
    except KeyError:
        raise UnmappableOrder(
            f"order {order.number or order.pk} has unknown shipping_status "
            f"{order.shipping_status!r}"
        ) from None


def to_legacy_shipment(order: Order) -> LegacyShipment:
    """The shipment the order's legacy columns describe. The order must have a number.

    Raises UnmappableOrder when the columns cannot make a valid shipment.
    """
    if not order.number:
        raise UnmappableOrder(f"order #{order.pk} has no number")
    status = legacy_status(order)
    dispatched = status is ShipmentStatus.DISPATCHED
    cancelled = status is ShipmentStatus.CANCELLED
    try:
        return LegacyShipment(
            order_ref=order.number,
            destination=order.shipping_address,
            items=merged_items(list(order.lines.all())),
            owner_id=order.customer.user_id,
            contact_email=order.customer.email or None,
            status=status,
            supplier_reference=_blank_to_none(order.supplier_reference) if dispatched else None,
            tracking_number=_blank_to_none(order.tracking_number) if dispatched else None,
            dispatched_at=order.dispatched_at if dispatched else None,
            cancelled_at=order.cancelled_at if cancelled else None,
            last_error=(
                LEGACY_DISPATCH_FAILED if order.shipping_status == "dispatch_failed" else None
            ),
            created_at=order.created_at,
        )
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise UnmappableOrder(f"order {order.number}: {problems}") from None


# ---------------------------------------------------------------------- reading


def _legacy_alias() -> str:
    """The primary of the legacy database (reads of ``default`` may be routed to a replica)."""
    return router.db_for_write(Order)


def _orders(after_id: int, with_number_only: bool) -> QuerySet[Order]:
    orders = Order.objects.using(_legacy_alias()).filter(pk__gt=after_id)
    if with_number_only:
        orders = orders.exclude(Q(number__isnull=True) | Q(number=""))
    return orders


PARITY_FIELDS = ("pk", "number", "shipping_status", "supplier_reference", "tracking_number")


def _batches(after_id: int, batch_size: int, *, for_parity: bool = False) -> Iterator[list[Order]]:
    """Orders by ascending pk, ``batch_size`` at a time: ``pk > last_pk ORDER BY pk LIMIT n``.

    The backfill gets each order with its customer and lines; the parity check gets the
    numbered orders only, with the columns it compares.
    """
    alias = _legacy_alias()
    lines = Prefetch("lines", queryset=OrderLine.objects.using(alias).order_by("pk"))
    last_pk = after_id
    while True:
        orders = _orders(last_pk, with_number_only=for_parity)
        if for_parity:
            orders = orders.only(*PARITY_FIELDS)
        else:
            orders = orders.select_related("customer").prefetch_related(lines)
        batch = list(orders.order_by("pk")[:batch_size])
        if not batch:
            return
        yield batch
        last_pk = batch[-1].pk
        if len(batch) < batch_size:
            return


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")


# ---------------------------------------------------------------------- backfill


def backfill(
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    after_id: int = 0,
    progress: ProgressCallback | None = None,
    *,
    service: LogisticsService | None = None,
) -> BackfillReport:
    """Copy the shipping state of every order with pk > ``after_id`` into logistics shipments.

    Idempotent (existing shipments are left alone, whatever they say) and resumable. In a dry
    run nothing is written: the shipments that would be created are counted by looking them up.
    """
    _check_batch_size(batch_size)
    if after_id < 0:
        raise ValueError(f"after_id cannot be negative, not {after_id}")
    service = service or build_logistics_service()
    started = time.perf_counter()
    total = _orders(after_id, with_number_only=False).count()
    scanned = created = present = without_number = invalid = batches = 0
    last_order_id: int | None = None
    if progress is not None:
        progress(0, total)
    for batch in _batches(after_id, batch_size):
        records: list[LegacyShipment] = []
        for order in batch:
            if not order.number:
                without_number += 1
                continue
            try:
                records.append(to_legacy_shipment(order))
            except UnmappableOrder:
                invalid += 1
        if records:
            if dry_run:
                existing = service.find_for_orders([record.order_ref for record in records])
                batch_created = sum(1 for r in records if r.order_ref not in existing)
            else:
                batch_created = service.import_legacy(records).created
            created += batch_created
            present += len(records) - batch_created
        scanned += len(batch)
        batches += 1
        last_order_id = batch[-1].pk
        if progress is not None:
            # Orders created while the backfill runs may push the count past the first total.
            progress(scanned, max(total, scanned))
    return BackfillReport(
        dry_run=dry_run,
        orders_scanned=scanned,
        shipments_created=created,
        already_present=present,
        skipped_without_number=without_number,
        skipped_invalid=invalid,
        batches=batches,
        last_order_id=last_order_id,
        seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------------- parity


def _status_value(status: ShipmentStatus | None) -> str | None:
    return None if status is None else status.value


def compare(order: Order, shipment: ShipmentView | None) -> list[Mismatch]:
    """What differs between the order's legacy columns and its shipment (nothing: empty)."""
    number = order.number or f"#{order.pk}"
    if shipment is None:
        return [Mismatch(number, "shipment", order.shipping_status, None)]
    mismatches: list[Mismatch] = []
    expected = LEGACY_TO_LOGISTICS.get(order.shipping_status)
    if expected is None or shipment.status not in COMPATIBLE_STATUSES[expected]:
        mismatches.append(
            Mismatch(number, "status", order.shipping_status, _status_value(shipment.status))
        )
    for field in ("supplier_reference", "tracking_number"):
        legacy_value = _blank_to_none(getattr(order, field))
        logistics_value = _blank_to_none(getattr(shipment, field))
        if legacy_value != logistics_value:
            mismatches.append(Mismatch(number, field, legacy_value, logistics_value))
    return mismatches


def parity_check(
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
    *,
    service: LogisticsService | None = None,
) -> list[Mismatch]:
    """Compare every numbered order with its shipment, one ``find_for_orders`` per batch."""
    _check_batch_size(batch_size)
    service = service or build_logistics_service()
    total = _orders(0, with_number_only=True).count()
    done = 0
    mismatches: list[Mismatch] = []
    if progress is not None:
        progress(0, total)
    for batch in _batches(0, batch_size, for_parity=True):
        shipments = service.find_for_orders([order.number for order in batch if order.number])
        for order in batch:
            mismatches.extend(compare(order, shipments.get(order.number or "")))
        done += len(batch)
        if progress is not None:
            progress(done, max(total, done))
    return mismatches


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "LEGACY_TO_LOGISTICS",
    "BackfillReport",
    "Mismatch",
    "ProgressCallback",
    "UnmappableOrder",
    "backfill",
    "compare",
    "merged_items",
    "parity_check",
    "to_legacy_shipment",
]
