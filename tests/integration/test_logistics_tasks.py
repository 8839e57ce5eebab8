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


def test_a_failing_supplier_makes_the_task_retry_when_the_shipment_is_due(
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
    record = ShipmentRecord.objects.get(pk=shipment.id)
    assert record.status == "pending" and record.next_attempt_at is not None
    # The task comes back when the shipment is due, plus at most DISPATCH_RETRY_INITIAL_SECONDS.
    until_due = (record.next_attempt_at - timezone.now()).total_seconds()
    assert len(retries) == 1
    assert until_due - 1 <= retries[0] <= until_due + settings.DISPATCH_RETRY_INITIAL_SECONDS
    assert retries[0] <= settings.CELERY_MAX_COUNTDOWN_SECONDS


def test_the_sweep_enqueues_only_shipments_whose_task_was_lost(supplier, monkeypatch, settings):
    settings.DISPATCH_LOST_AFTER_SECONDS = 120
    lost = pending_shipment("ORD-000001")
    waiting_for_its_task = pending_shipment("ORD-000002")
    later = pending_shipment("ORD-000003")
    now = timezone.now()
    ShipmentRecord.objects.filter(pk=lost.id).update(next_attempt_at=now - timedelta(minutes=5))
    ShipmentRecord.objects.filter(pk=waiting_for_its_task.id).update(
        next_attempt_at=now - timedelta(seconds=30)
    )
    ShipmentRecord.objects.filter(pk=later.id).update(next_attempt_at=now + timedelta(hours=1))
    enqueued: list[str] = []
    monkeypatch.setattr(dispatch_shipment, "delay", enqueued.append)

    assert sweep_due_shipments.apply().result == 1
    assert enqueued == [str(lost.id)]


def test_a_retry_due_beyond_the_countdown_cap_is_left_to_the_sweep(supplier, settings, monkeypatch):
    settings.SUPPLIER_BACKGROUND_ATTEMPTS = 1
    settings.DISPATCH_RETRY_INITIAL_SECONDS = 3600.0  # due in an hour: past the 10-minute cap
    supplier.set_chaos(failure_rate=1.0)
    shipment = pending_shipment()
    monkeypatch.setattr(dispatch_shipment, "retry", lambda **_: pytest.fail("no retry"))

    result = dispatch_shipment.apply(args=(str(shipment.id),))

    assert (result.state, result.result) == ("SUCCESS", False)
    assert ShipmentRecord.objects.get(pk=shipment.id).status == "pending"


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
