"""Fixtures for the data ownership phases: the phase stored in the database, legacy orders and
their shipments (written directly, as the backfill leaves them), a shipment that moves on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from logistics.models import ShipmentRecord
from monolithos.backfill import backfill
from monolithos.models import Order, OrderLine, Product
from strangler import wiring
from strangler.testing import FakeClock, FixedBoard, database_state
from tests.factories import CustomerFactory, ProductFactory

DISPATCHED_AT = datetime(2024, 3, 1, 10, 30, tzinfo=UTC)


@pytest.fixture
def board() -> FixedBoard:
    return FixedBoard()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stored_state(db: None, board: FixedBoard, clock: FakeClock) -> Iterator[wiring.Runtime]:
    """Route by the state stored in the database (the phase included), as a process does."""
    with database_state(board=board, clock=clock) as runtime:
        yield runtime


@pytest.fixture(autouse=True)
def _settled_at_once(settings: Any) -> None:
    """The parity job compares every order, however young (one test pins the settle window)."""
    settings.SHIPPING_PARITY_SETTLE_SECONDS = 0


def legacy_order(shipping_status: str = "dispatched", **fields: Any) -> Order:
    """A numbered order in a legacy shipping state, with one line, written with the ORM."""
    defaults: dict[str, Any] = {
        "status": {"dispatched": "shipped", "cancelled": "cancelled"}.get(
            shipping_status, "placed"
        ),
        "shipping_name": "Ada",
        "shipping_address": "1 Analytical Row\nLondon",
    }
    if shipping_status == "dispatched":
        defaults |= {
            "supplier_reference": "SUP-1",
            "tracking_number": "TRK-1",
            "dispatched_at": DISPATCHED_AT,
        }
    order = Order.objects.create(
        customer=CustomerFactory(), shipping_status=shipping_status, **(defaults | fields)
    )
    order.number = f"ORD-{order.pk:06d}"
    order.save(update_fields=["number"])
    product = Product.objects.filter(sku="PALLET").first() or ProductFactory(sku="PALLET")
    OrderLine.objects.create(
        order=order,
        product=product,
        sku="PALLET",
        quantity=2,
        unit_price=Decimal("18.50"),
        line_total=Decimal("37.00"),
    )
    return order


def backfilled(*orders: Order) -> list[Order]:
    """The orders with their shipments, as the backfill creates them."""
    backfill()
    for order in orders:
        assert ShipmentRecord.objects.filter(order_ref=order.number).exists()
    return list(orders)


def tamper(order: Order, **columns: Any) -> None:
    """Change the order's columns behind the shipment's back (a lost copy, a bad backfill)."""
    Order.objects.filter(pk=order.pk).update(**columns)
