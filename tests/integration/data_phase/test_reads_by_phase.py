"""Every legacy read of the shipping data is answered by the copy the phase says, and the column
writer writes only where the phase says.

The order's columns are tampered with behind the shipment's back (``TRK-STALE``), so each
answer shows which copy gave it: the columns in ``legacy`` and ``verify`` (where the
disagreement is also stored and counted), the shipment in ``logistics`` and ``contract``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from logistics.public import ShipmentView, build_logistics_service
from monolithos import shipping_columns, shipping_data
from monolithos.models import Order
from strangler.models import ModeChange, ShadowMismatch
from strangler.testing import override_modes
from tests.factories import StaffUserFactory
from tests.integration.data_phase.conftest import backfilled, legacy_order, tamper

pytestmark = [pytest.mark.simulator, pytest.mark.django_db(databases=["default", "logistics"])]

COLUMNS_ANSWER = {
    "legacy": "TRK-STALE",
    "verify": "TRK-STALE",
    "logistics": "TRK-1",
    "contract": "TRK-1",
}


@pytest.fixture
def stale(db: None, supplier: Any) -> Order:
    """A dispatched order whose tracking number column disagrees with its shipment's."""
    [order] = backfilled(legacy_order("dispatched"))
    tamper(order, tracking_number="TRK-STALE")
    order.refresh_from_db()
    return order


@pytest.fixture
def in_phase(request: pytest.FixtureRequest) -> Iterator[str]:
    phase: str = request.param
    with override_modes(all_routes="legacy", phase=phase):
        yield phase


def verify_records() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (m.context["reader"], m.outcome, m.diff)
        for m in ShadowMismatch.objects.filter(route=ModeChange.DATA_PHASE).order_by("id")
    ]


def expected_records(phase: str, reader: str) -> list[tuple[str, str, dict[str, Any]]]:
    if phase != "verify":
        return []
    return [(reader, "mismatch", {"tracking_number": ["TRK-STALE", "TRK-1"]})]


PHASES = pytest.mark.parametrize("in_phase", list(COLUMNS_ANSWER), indirect=True)


@PHASES
def test_the_legacy_tracking_answers_from_the_phases_copy(client, stale, in_phase):
    response = client.get(f"/api/orders/{stale.pk}/track/")

    assert response.status_code == 200
    assert response.json()["tracking_number"] == COLUMNS_ANSWER[in_phase]
    assert response.json()["shipping_status"] == "dispatched"
    assert verify_records() == expected_records(in_phase, "order_manager.track_order")


@PHASES
def test_the_back_office_pages_answer_from_the_phases_copy(client, stale, in_phase):
    client.force_login(StaffUserFactory())

    detail = client.get(f"/orders/{stale.pk}/").content.decode()
    listing = client.get("/orders/").content.decode()

    assert f"Tracking number: {COLUMNS_ANSWER[in_phase]}" in detail
    assert "<td>dispatched</td>" in listing
    # The list's read agrees on the status it shows and disagrees on the rest, as the page did.
    assert verify_records() == expected_records(in_phase, "views.order_detail") + (
        expected_records(in_phase, "views.order_list")
    )


@PHASES
def test_the_v1_order_answers_from_the_phases_copy(client, stale, in_phase):
    client.force_login(StaffUserFactory())

    body = client.get(f"/api/v1/orders/{stale.pk}/").json()

    assert (body["shipping_status"], body["tracking_number"]) == (
        "dispatched",
        COLUMNS_ANSWER[in_phase],
    )
    assert verify_records() == expected_records(in_phase, "order_api.order_detail")


@pytest.mark.parametrize(
    ("in_phase", "answered_from", "status"),
    [("legacy", "order_columns", "dispatched"), ("logistics", "no_shipment_yet", "pending")],
    indirect=["in_phase"],
)
def test_an_order_without_its_shipment_reads_its_columns_only_where_they_are_read(
    client, db, in_phase, answered_from, status
):
    order = legacy_order("dispatched")  # never backfilled
    client.force_login(StaffUserFactory())

    body = client.get(f"/api/v1/orders/{order.pk}/tracking/").json()

    assert (body["answered_from"], body["status"]) == (answered_from, status)


@pytest.mark.parametrize("in_phase", ["verify"], indirect=True)
def test_a_verify_read_that_agrees_writes_nothing(client, db, supplier, in_phase):
    [order] = backfilled(legacy_order("dispatched"))

    with CaptureQueriesContext(connections["default"]) as queries:
        response = client.get(f"/api/orders/{order.pk}/track/")

    assert response.status_code == 200
    writes = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SELECT")]
    assert writes == []
    assert verify_records() == []


def verify_results(result: str) -> float:
    labels = {"reader": "order_manager.track_order", "result": result}
    return REGISTRY.get_sample_value("monolithos_strangler_verify_results_total", labels) or 0.0


@pytest.mark.parametrize("in_phase", ["verify"], indirect=True)
def test_a_verify_read_is_counted_by_reader_and_result(client, stale, in_phase):
    before = verify_results("mismatch"), verify_results("match")

    client.get(f"/api/orders/{stale.pk}/track/")
    tamper(stale, tracking_number="TRK-1")
    client.get(f"/api/orders/{stale.pk}/track/")

    assert (verify_results("mismatch"), verify_results("match")) == (before[0] + 1, before[1] + 1)
    metrics = client.get("/metrics").content.decode()
    assert 'monolithos_strangler_data_phase{phase="verify"} 1.0' in metrics
    assert 'monolithos_strangler_data_phase{phase="legacy"} 0.0' in metrics


class LogisticsDown:
    """A logistics facade whose database cannot be reached."""

    def get_for_order(self, order_ref: str) -> ShipmentView:
        raise ConnectionError("logistics database unreachable")


@pytest.mark.parametrize("in_phase", ["verify"], indirect=True)
def test_a_verify_read_answers_from_the_columns_when_logistics_cannot_answer(stale, in_phase):
    shipping = shipping_data.read(stale, reader="test", logistics=LogisticsDown())  # type: ignore[arg-type]

    assert shipping.tracking_number == "TRK-STALE"
    [mismatch] = ShadowMismatch.objects.filter(route=ModeChange.DATA_PHASE)
    assert (mismatch.outcome, mismatch.candidate, mismatch.routing_key) == (
        "error",
        None,
        stale.number,
    )
    assert "logistics database unreachable" in mismatch.error


# ---------------------------------------------------------------------- the column writer


def dispatch(order: Order) -> None:
    service = build_logistics_service(background=True)
    assert service.dispatch(service.get_for_order(str(order.number)).id).dispatched


@pytest.mark.parametrize("in_phase", ["logistics"], indirect=True)
def test_the_columns_still_follow_the_shipment_in_logistics(db, supplier, in_phase):
    [order] = backfilled(legacy_order("pending"))

    dispatch(order)

    order.refresh_from_db()
    assert (order.status, order.shipping_status) == ("shipped", "dispatched")
    assert order.tracking_number and order.shipping_version > 0


@pytest.mark.parametrize("in_phase", ["contract"], indirect=True)
def test_in_contract_the_columns_are_not_written_and_the_order_still_ships(
    client, db, supplier, in_phase
):
    [order] = backfilled(legacy_order("pending"))

    dispatch(order)

    order.refresh_from_db()
    assert order.status == "shipped"
    assert (order.shipping_status, order.tracking_number, order.shipping_version) == (
        "pending",
        "",
        0,
    )
    tracked = client.get(f"/api/orders/{order.pk}/track/").json()
    assert tracked["shipping_status"] == "dispatched" and tracked["tracking_number"]
    # Its event, arriving after the fast path: the order is shipped, nothing else is written.
    shipment = build_logistics_service().get_for_order(str(order.number))
    assert shipping_columns.apply(shipment) is shipping_columns.Applied.NOT_WRITTEN


@pytest.mark.parametrize("in_phase", ["contract"], indirect=True)
def test_a_cancel_in_contract_writes_the_order_not_its_shipping_columns(client, db, in_phase):
    [order] = backfilled(legacy_order("pending"))
    client.force_login(StaffUserFactory())

    response = client.post(f"/orders/{order.pk}/cancel/")

    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.shipping_status) == ("cancelled", "pending")
    assert build_logistics_service().get_for_order(str(order.number)).status == "cancelled"
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert "Shipping: <strong>cancelled</strong>" in page


@pytest.mark.parametrize("command", ["backfill_shipments", "seed_legacy_orders"])
@pytest.mark.parametrize("in_phase", ["contract"], indirect=True)
def test_the_tools_that_write_the_columns_refuse_once_they_are_not_written(in_phase, command):
    with pytest.raises(CommandError) as error:
        call_command(command, stdout=io.StringIO(), stderr=io.StringIO())

    assert error.value.returncode == 1
    assert "the order's shipping columns are no longer written (data phase contract)" in str(
        error.value
    )
    assert not Order.objects.exists()
