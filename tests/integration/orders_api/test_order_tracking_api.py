"""GET /api/v1/orders/<id>/tracking/: the shipment as logistics knows it, and nothing written.

An order from before the backfill has no shipment: its own columns answer instead. Reading never
repairs the columns (they follow the shipment from whoever changes it), on either database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test.utils import CaptureQueriesContext

from logistics.models import ShipmentRecord
from logistics.public import build_logistics_service
from monolithos.models import Order
from tests.integration.orders_api.factories import shipment_for

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


@contextmanager
def writes_on_every_database() -> Iterator[list[str]]:
    """The INSERT, UPDATE and DELETE statements run on either alias inside the block."""
    writes: list[str] = []
    with ExitStack() as stack:
        captures = [
            stack.enter_context(CaptureQueriesContext(connections[alias]))
            for alias in ("default", "logistics")
        ]
        yield writes
    for capture in captures:
        writes += [
            query["sql"]
            for query in capture.captured_queries
            if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        ]


def dispatched(order: Order) -> ShipmentRecord:
    shipment = shipment_for(order)
    assert build_logistics_service().dispatch(shipment.id).dispatched
    return ShipmentRecord.objects.get(pk=shipment.id)


def test_a_pending_shipment_is_tracked_from_logistics(client_as, owner: User, order: Order):
    shipment_for(order)

    response = client_as(owner).get(f"/api/v1/orders/{order.pk}/tracking/")

    assert response.status_code == 200
    assert response.json() == {
        "order_id": order.pk,
        "order_number": order.number,
        "status": "pending",
        "supplier_reference": None,
        "tracking_number": None,
        "dispatched_at": None,
        "supplier_status": None,
        "answered_from": "shipment",
    }


def test_a_shipment_dispatched_behind_the_orders_columns_is_tracked_and_nothing_is_repaired(
    client_as, owner: User, order: Order, supplier
):
    # Dispatched by a worker whose copy onto the order's columns was lost (a process that died
    # between the two commits): the columns still say pending.
    shipment = dispatched(order)
    Order.objects.filter(pk=order.pk).update(
        status="placed", shipping_status="pending", tracking_number="", supplier_reference=""
    )
    client = client_as(owner)

    with writes_on_every_database() as writes:
        response = client.get(f"/api/v1/orders/{order.pk}/tracking/")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["answered_from"], body["supplier_status"]) == (
        "dispatched",
        "shipment",
        "accepted",
    )
    assert body["tracking_number"] == shipment.tracking_number
    assert body["supplier_reference"] == shipment.supplier_reference
    assert writes == []
    order.refresh_from_db()
    assert (order.status, order.shipping_status, order.tracking_number) == ("placed", "pending", "")


@pytest.mark.parametrize(
    ("shipping_status", "tracked_as"),
    [("pending", "pending"), ("dispatch_failed", "pending"), ("cancelled", "cancelled")],
)
def test_an_order_from_before_the_backfill_is_tracked_from_its_columns(
    client_as, owner: User, order: Order, shipping_status: str, tracked_as: str
):
    Order.objects.filter(pk=order.pk).update(shipping_status=shipping_status)
    client = client_as(owner)

    with writes_on_every_database() as writes:
        body = client.get(f"/api/v1/orders/{order.pk}/tracking/").json()

    assert body == {
        "order_id": order.pk,
        "order_number": order.number,
        "status": tracked_as,
        "supplier_reference": None,
        "tracking_number": None,
        "dispatched_at": None,
        "supplier_status": None,
        "answered_from": "order_columns",
    }
    assert writes == []


def test_a_dispatched_order_from_before_the_backfill_asks_the_supplier_by_its_reference(
    client_as, owner: User, order: Order, supplier
):
    # Dispatched when the columns were the only record: the shipment is not in logistics (yet).
    shipment = dispatched(order)
    dispatched_at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    Order.objects.filter(pk=order.pk).update(
        status="shipped",
        shipping_status="dispatched",
        supplier_reference=shipment.supplier_reference,
        tracking_number=shipment.tracking_number,
        dispatched_at=dispatched_at,
    )
    shipment.delete()

    body = client_as(owner).get(f"/api/v1/orders/{order.pk}/tracking/").json()

    assert body == {
        "order_id": order.pk,
        "order_number": order.number,
        "status": "dispatched",
        "supplier_reference": shipment.supplier_reference,
        "tracking_number": shipment.tracking_number,
        "dispatched_at": "2026-11-02T09:30:00Z",
        "supplier_status": "accepted",
        "answered_from": "order_columns",
    }
