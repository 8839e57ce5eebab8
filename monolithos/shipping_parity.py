"""The legacy app's side of the shipping data's phases: parity, refill, and whether the columns
are there (the object named in STRANGLER_MOVED_DATA, ``ShippingColumnsOwner``).

The strangler's parity job (``strangler.tasks.check_parity``, beat) calls ``check``: every
numbered order placed more than SHIPPING_PARITY_SETTLE_SECONDS ago (a younger one's shipment may
not be created yet), by ascending id in batches, each batch's shipments in one
``find_for_orders``, the columns read on the primary (a replica's lag would show as
disagreement). An order without its shipment is ``missing`` (the backfill is incomplete); one
whose columns and shipment say different things (status, tracking number, supplier reference,
dispatch time: what a read answers, ``monolithos.shipping_data``) is ``mismatched``, once both
sides were read a second time after the pass: a copy in flight (the listener writes the columns
just after the shipment's commit) is not a disagreement.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from config import routers
from logistics.public import LogisticsService, ShipmentView, build_logistics_service
from monolithos import shipping_columns
from monolithos.models import Order
from monolithos.shipping_data import OrderShipping, from_columns, from_shipment

BATCH_SIZE = 500
EXAMPLES = 20
FIELDS = ("pk", "number", *shipping_columns.SHIPPING_COLUMNS)


@dataclass(frozen=True)
class ParityReport:
    checked: int
    mismatched: int
    missing: int
    examples: tuple[str, ...]


def check(
    *,
    batch_size: int = BATCH_SIZE,
    settle_seconds: float | None = None,
    logistics: LogisticsService | None = None,
    now: datetime | None = None,
) -> ParityReport:
    """Compare every settled order's shipping columns with its shipment."""
    service = logistics or build_logistics_service()
    settle = settings.SHIPPING_PARITY_SETTLE_SECONDS if settle_seconds is None else settle_seconds
    placed_before = (now or timezone.now()) - timedelta(seconds=settle)
    checked = missing = 0
    apart: list[int] = []
    for batch in _batches(placed_before, batch_size):
        shipments = service.find_for_orders([order.number for order in batch if order.number])
        for order in batch:
            checked += 1
            shipment = shipments.get(order.number or "")
            if shipment is None:
                missing += 1
            elif _differences(from_columns(order), shipment):
                apart.append(order.pk)
    examples = list(_still_apart(apart, service))
    return ParityReport(checked, len(examples), missing, tuple(examples[:EXAMPLES]))


def _orders() -> QuerySet[Order]:
    return Order.objects.using(routers.LEGACY_ALIAS).filter(number__isnull=False).only(*FIELDS)


def _batches(placed_before: datetime, batch_size: int) -> Iterator[list[Order]]:
    """Settled, numbered orders by ascending pk: ``pk > last ORDER BY pk LIMIT n``."""
    last_pk = 0
    while True:
        batch = list(
            _orders()
            .filter(pk__gt=last_pk, created_at__lt=placed_before)
            .order_by("pk")[:batch_size]
        )
        if not batch:
            return
        yield batch
        last_pk = batch[-1].pk


def _differences(columns: OrderShipping, shipment: ShipmentView) -> list[str]:
    owner = from_shipment(shipment)
    if columns.agrees_with(owner):
        return []
    said, owned = columns.compared(), owner.compared()
    return [
        f"{name}: columns={said[name]!r} shipment={owned[name]!r}"
        for name in said
        if said[name] != owned[name]
    ]


def _still_apart(pks: list[int], service: LogisticsService) -> Iterator[str]:
    """The orders of ``pks`` that still disagree when both sides are read again, described."""
    for start in range(0, len(pks), BATCH_SIZE):
        orders = list(_orders().filter(pk__in=pks[start : start + BATCH_SIZE]).order_by("pk"))
        shipments = service.find_for_orders([order.number for order in orders if order.number])
        for order in orders:
            shipment = shipments.get(order.number or "")
            differences = _differences(from_columns(order), shipment) if shipment else []
            if differences:
                yield f"{order.number} {'; '.join(differences)}"


class ShippingColumnsOwner:
    """What the strangler asks of the shipping data (strangler.moved_data.MovedData)."""

    def check_parity(self) -> ParityReport:
        return check()

    def restore_needed(self) -> str | None:
        if not routers.shipping_columns_dropped():
            return None
        return (
            "the order's shipping columns are dropped (SHIPPING_COLUMNS_DROPPED=true): reverse "
            "the drop first (manage.py migrate monolithos_shipping_contract zero: it adds them "
            "back and refills them from logistics), then deploy with SHIPPING_COLUMNS_DROPPED "
            "unset"
        )

    def refill_copy(self) -> int:
        return shipping_columns.refill_from_logistics()
