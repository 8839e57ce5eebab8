"""The order's shipping data, read where the data ownership phase says: every legacy read of it.

Status, tracking number, supplier reference and dispatch time live twice: in the order's columns
and in its shipment (``logistics``). The database router (``config.routers``) says which one
answers in the current phase; this module asks it on every read, so the legacy pages, the shop's
JSON (both handlers of every route) and the v1 API never touch the columns themselves:

- ``legacy``: the columns answer.
- ``verify``: the columns answer, and the shipment is asked too; the two are compared and a
  disagreement is stored and counted by the strangler (``report_shipping_verification``). The
  shipment failing to answer never fails the read.
- ``logistics`` and ``contract``: the shipment answers, through ``logistics.public``. An order
  whose shipment does not exist yet (just placed, its shipment not created) reads as its columns
  read then: pending, nothing else.

Answers are in the legacy vocabulary (``shipping_status`` pending, dispatched, dispatch_failed,
cancelled; an empty string for no tracking number), so a reader cannot tell which copy
answered. Nothing here writes, except a verify disagreement's record.

Must not import ``monolithos.order_manager`` (an import-linter contract).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from config import routers
from logistics.public import (
    LogisticsService,
    ShipmentNotFound,
    ShipmentView,
    build_logistics_service,
)
from monolithos.models import Order
from monolithos.shipping_columns import legacy_shipping_status


@dataclass(frozen=True)
class OrderShipping:
    """An order's shipping data as the legacy columns say it. ``version``: the version of the
    shipment it reflects (0: none yet)."""

    shipping_status: str = "pending"
    tracking_number: str = ""
    supplier_reference: str = ""
    dispatched_at: datetime | None = None
    version: int = 0

    def agrees_with(self, other: OrderShipping) -> bool:
        """Whether a read answers the same from either (their versions aside)."""
        return (
            self.shipping_status,
            self.tracking_number,
            self.supplier_reference,
            self.dispatched_at,
        ) == (
            other.shipping_status,
            other.tracking_number,
            other.supplier_reference,
            other.dispatched_at,
        )

    def compared(self) -> dict[str, Any]:
        """What a verify read compares, as JSON (the version is how far the copy is, not what
        it says)."""
        data = asdict(self)
        del data["version"]
        data["dispatched_at"] = self.dispatched_at.isoformat() if self.dispatched_at else None
        return data


NOTHING_YET = OrderShipping()


def from_columns(order: Order) -> OrderShipping:
    return OrderShipping(
        shipping_status=order.shipping_status,
        tracking_number=order.tracking_number or "",
        supplier_reference=order.supplier_reference or "",
        dispatched_at=order.dispatched_at,
        version=order.shipping_version,
    )


def from_shipment(shipment: ShipmentView | None) -> OrderShipping:
    if shipment is None:
        return NOTHING_YET
    return OrderShipping(
        shipping_status=legacy_shipping_status(shipment),
        tracking_number=shipment.tracking_number or "",
        supplier_reference=shipment.supplier_reference or "",
        dispatched_at=shipment.dispatched_at,
        version=shipment.version,
    )


def read(order: Order, *, reader: str, logistics: LogisticsService | None = None) -> OrderShipping:
    """The order's shipping data from the copy that owns it now. ``reader`` names the caller
    in a verify disagreement's record."""
    ownership = routers.shipping_ownership()
    if not ownership.columns_read:
        return from_shipment(_shipment(order, logistics))
    columns = from_columns(order)
    if ownership.verified and order.number:
        _verify(order.number, columns, reader, lambda: _shipment(order, logistics))
    return columns


def read_many(
    orders: Sequence[Order], *, reader: str, logistics: LogisticsService | None = None
) -> dict[int, OrderShipping]:
    """``read`` for a page of orders, by primary key, with one query to logistics at most."""
    ownership = routers.shipping_ownership()
    numbers = [order.number for order in orders if order.number]
    if not ownership.columns_read:
        owned = _shipments(numbers, logistics)
        return {order.pk: from_shipment(owned.get(order.number or "")) for order in orders}
    found = {order.pk: from_columns(order) for order in orders}
    if ownership.verified and numbers:
        shipments: dict[str, ShipmentView] | None = None
        error = ""
        try:
            shipments = _shipments(numbers, logistics)
        except Exception as failure:
            error = repr(failure)
        for order in orders:
            if order.number:
                shipping = None if shipments is None else from_shipment(shipments.get(order.number))
                _report(order.number, reader, found[order.pk], shipping, error)
    return found


def _shipment(order: Order, logistics: LogisticsService | None) -> ShipmentView | None:
    if not order.number:
        return None
    try:
        return (logistics or build_logistics_service()).get_for_order(order.number)
    except ShipmentNotFound:
        return None


def _shipments(numbers: list[str], logistics: LogisticsService | None) -> dict[str, ShipmentView]:
    if not numbers:
        return {}
    return (logistics or build_logistics_service()).find_for_orders(numbers)


def _verify(
    number: str, columns: OrderShipping, reader: str, ask: Callable[[], ShipmentView | None]
) -> None:
    try:
        shipping = from_shipment(ask())
    except Exception as error:
        _report(number, reader, columns, None, repr(error))
    else:
        _report(number, reader, columns, shipping, "")


def _report(
    number: str,
    reader: str,
    columns: OrderShipping,
    shipping: OrderShipping | None,
    error: str,
) -> None:
    routers.report_shipping_verification(
        order_number=number,
        reader=reader,
        columns=columns.compared(),
        shipment=shipping.compared() if shipping is not None else None,
        error=error,
    )
