"""Fixtures for the data ownership phases: the phase stored in the database, legacy orders and
their shipments (written directly, as the backfill leaves them), a shipment that moves on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from logistics.models import ShipmentRecord
from monolithos.backfill import backfill
from monolithos.models import Order
from strangler import wiring
from strangler.testing import FakeClock, FixedBoard, database_state
from tests.factories import LegacyOrderFactory


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
    return LegacyOrderFactory(
        shipping_status=shipping_status, lines=[("PALLET", 2, "18.50")], **fields
    )


def backfilled(*orders: Order) -> list[Order]:
    """The orders with their shipments, as the backfill creates them."""
    backfill()
    for order in orders:
        assert ShipmentRecord.objects.filter(order_ref=order.number).exists()
    return list(orders)


def tamper(order: Order, **columns: Any) -> None:
    """Change the order's columns behind the shipment's back (a lost copy, a bad backfill)."""
    Order.objects.filter(pk=order.pk).update(**columns)
