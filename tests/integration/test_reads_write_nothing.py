"""No GET writes anything, on either database, even when the order's columns are behind.

Tracking used to repair the legacy shipping columns (a write inside a read). The columns now
follow the shipment's events, so each read below is watched on both aliases while the columns
are at their most tempting to repair: the shipment dispatched by a worker that died before its
copy, its event not yet applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from logistics.public import build_logistics_service
from monolithos.models import Order, Product
from strangler.testing import override_modes
from tests.characterization.shop import order_payload, place
from tests.factories import StaffUserFactory

pytestmark = [pytest.mark.simulator, pytest.mark.django_db(databases=["default", "logistics"])]

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@pytest.fixture
def dispatched_behind_its_columns(client, supplier, settings) -> Order:
    """An order whose shipment a worker dispatched without copying it (its process died)."""
    Product.objects.create(sku="PALLET", name="Euro pallet", price="18.50", stock=10)
    supplier.set_chaos(failure_rate=1.0)
    response = place(client, order_payload())
    supplier.reset(failure_rate=0.0, hang_rate=0.0, seed=7)
    order = Order.objects.get(pk=response.json()["id"])
    listeners = settings.LOGISTICS_SHIPMENT_LISTENERS
    settings.LOGISTICS_SHIPMENT_LISTENERS = []
    service = build_logistics_service(background=True)
    assert service.dispatch(service.get_for_order(str(order.number)).id).dispatched
    settings.LOGISTICS_SHIPMENT_LISTENERS = listeners  # the reading processes are healthy
    order.refresh_from_db()
    assert order.shipping_status == "dispatch_failed"
    return order


@pytest.fixture
def staff(client):
    client.force_login(StaffUserFactory())
    return client


@contextmanager
def statements_on_both_aliases() -> Iterator[list[tuple[str, str]]]:
    """Every statement run on ``default`` and ``logistics`` inside the block, by alias."""
    ran: list[tuple[str, str]] = []
    with ExitStack() as stack:
        captured = {
            alias: stack.enter_context(CaptureQueriesContext(connections[alias]))
            for alias in ("default", "logistics")
        }
        yield ran
    for alias, queries in captured.items():
        ran += [(alias, query["sql"]) for query in queries.captured_queries]


def writes(ran: list[tuple[str, str]]) -> list[str]:
    return [sql for _alias, sql in ran if sql.lstrip().upper().startswith(WRITES)]


@pytest.mark.parametrize("side", ["legacy", "new"])
def test_tracking_an_order_on_the_shop_route_writes_nothing(
    client, dispatched_behind_its_columns, side
):
    order = dispatched_behind_its_columns

    with override_modes(all_routes=side), statements_on_both_aliases() as ran:
        response = client.get(f"/api/orders/{order.pk}/track/")

    assert response.status_code == 200
    assert writes(ran) == []
    # Legacy answers from the columns (behind until the event lands), new from the shipment.
    assert response.json()["shipping_status"] == (
        "dispatch_failed" if side == "legacy" else "dispatched"
    )


def test_the_v1_tracking_routes_write_nothing(staff, dispatched_behind_its_columns):
    order = dispatched_behind_its_columns

    with statements_on_both_aliases() as ran:
        by_reference = staff.get(f"/api/v1/tracking/{order.number}/")
        by_order = staff.get(f"/api/v1/orders/{order.pk}/tracking/")

    assert (by_reference.status_code, by_order.status_code) == (200, 200)
    assert by_reference.json()["status"] == by_order.json()["status"] == "dispatched"
    assert {alias for alias, _sql in ran} == {"default", "logistics"}  # both were read, and watched
    assert writes(ran) == []


def test_the_back_office_order_page_writes_nothing(staff, dispatched_behind_its_columns):
    order = dispatched_behind_its_columns

    with statements_on_both_aliases() as ran:
        response = staff.get(f"/orders/{order.pk}/")

    assert response.status_code == 200
    assert order.number in response.content.decode()
    assert writes(ran) == []
