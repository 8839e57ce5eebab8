"""The logistics Celery tasks, run in-process (``apply``): idempotent, retrying, sweeping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from logistics.contracts import CreateShipment, ItemIn
from logistics.models import ShipmentRecord
from logistics.tasks import dispatch_shipment, sweep_due_shipments
from logistics.wiring import build_logistics_service

pytestmark = [pytest.mark.simulator, pytest.mark.django_db(databases=["default", "logistics"])]


def pending_shipment(order_ref: str = "ORD-000001") -> Any:
    return build_logistics_service().create_shipment(
        CreateShipment(
            order_ref=order_ref, destination="1 Dock Road", items=[ItemIn(sku="BOX-S", quantity=1)]
        )
    )


def test_dispatching_twice_ships_once(supplier):
    shipment = pending_shipment()

    first = dispatch_shipment.apply(args=(str(shipment.id),))
    again = dispatch_shipment.apply(args=(str(shipment.id),))

    assert (first.result, again.result) == (True, False)
    assert len(supplier.ledger()) == 1


def test_a_failing_supplier_makes_the_task_retry_with_a_capped_jittered_delay(
    supplier, settings, monkeypatch
):
    settings.SUPPLIER_BACKGROUND_ATTEMPTS = 1
    supplier.set_chaos(failure_rate=1.0)
    shipment = pending_shipment()
    retries: list[float] = []

    def retry(countdown: float) -> Exception:
        retries.append(countdown)
        return Retry()

    monkeypatch.setattr(dispatch_shipment, "retry", retry)

    result = dispatch_shipment.apply(args=(str(shipment.id),))

    assert result.state == "RETRY"
    assert len(retries) == 1 and 0 <= retries[0] <= 5
    assert ShipmentRecord.objects.get(pk=shipment.id).status == "pending"


def test_the_sweep_enqueues_only_due_shipments(supplier, monkeypatch):
    due, later = pending_shipment("ORD-000001"), pending_shipment("ORD-000002")
    ShipmentRecord.objects.filter(pk=due.id).update(next_attempt_at=timezone.now())
    ShipmentRecord.objects.filter(pk=later.id).update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    enqueued: list[str] = []
    monkeypatch.setattr(dispatch_shipment, "delay", enqueued.append)

    assert sweep_due_shipments.apply().result == 1
    assert enqueued == [str(due.id)]


def test_task_runs_are_measured_by_task_and_state(client):
    def count() -> float:
        for line in client.get("/metrics").content.decode().splitlines():
            if line.startswith("monolithos_task_seconds_count{") and (
                'task="logistics.tasks.sweep_due_shipments"' in line and 'state="SUCCESS"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    sweep_due_shipments.apply()

    assert count() == before + 1
