"""The logistics Celery tasks, run in-process (``apply``): idempotent, retrying, sweeping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery.exceptions import Retry
from django.conf import settings
from django.utils import timezone

from logistics.contracts import CreateShipment, ItemIn
from logistics.models import ShipmentRecord
from logistics.services import LogisticsService
from logistics.tasks import dispatch_shipment, sweep_due_shipments
from logistics.wiring import build_logistics_service
from outbox import broker
from outbox.broker import QueueHead

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
    causes: list[str] = []

    def retry(countdown: float, exc: Exception) -> Exception:
        retries.append(countdown)
        causes.append(str(exc))
        return Retry()

    monkeypatch.setattr(dispatch_shipment, "retry", retry)

    result = dispatch_shipment.apply(args=(str(shipment.id),))

    assert result.state == "RETRY"
    record = ShipmentRecord.objects.get(pk=shipment.id)
    assert record.status == "pending" and record.next_attempt_at is not None
    # The task comes back when the shipment is due, plus at most DISPATCH_RETRY_INITIAL_SECONDS.
    until_due = (record.next_attempt_at - timezone.now()).total_seconds()
    assert len(retries) == 1
    assert causes == [record.last_error]  # the task_retrying line's reason
    assert until_due - 1 <= retries[0] <= until_due + settings.DISPATCH_RETRY_INITIAL_SECONDS
    assert retries[0] <= settings.CELERY_MAX_COUNTDOWN_SECONDS
    # Held for its countdown and one lease: a sweep hands it over only if the retry is lost.
    assert record.claimed_until and record.handed_over_at
    held_for = (record.claimed_until - record.handed_over_at).total_seconds()
    assert held_for == pytest.approx(retries[0] + settings.DISPATCH_CLAIM_SECONDS, abs=1)


@pytest.fixture
def queue(monkeypatch) -> dict[str, QueueHead]:
    """The ``logistics`` queue as the sweep peeks at it: empty unless a test puts a head in."""
    head = {"logistics": QueueHead(known=True)}

    def peek(name: str) -> QueueHead:
        assert name == "logistics"
        return head[name]

    monkeypatch.setattr(broker, "queue_head", peek)
    return head


@pytest.fixture
def enqueued(monkeypatch) -> list[str]:
    sent: list[str] = []
    monkeypatch.setattr(dispatch_shipment, "delay", sent.append)
    return sent


def lease(shipment: Any, **fields: Any) -> None:
    ShipmentRecord.objects.filter(pk=shipment.id).update(**fields)


def test_the_sweep_enqueues_only_shipments_whose_task_was_lost(supplier, queue, enqueued):
    now = timezone.now()
    lost = pending_shipment("ORD-000001")
    lease(
        lost, next_attempt_at=now - timedelta(minutes=5), claimed_until=now - timedelta(minutes=1)
    )
    waiting_for_its_retry = pending_shipment("ORD-000002")
    lease(
        waiting_for_its_retry,
        next_attempt_at=now - timedelta(seconds=30),
        claimed_until=now + timedelta(seconds=30),
    )
    later = pending_shipment("ORD-000003")
    lease(later, next_attempt_at=now + timedelta(hours=1))
    just_created = pending_shipment("ORD-000004")  # its creation's lease holds it
    never_dispatched = pending_shipment("ORD-000005")
    lease(never_dispatched, created_at=now - timedelta(minutes=2))

    assert sweep_due_shipments.apply().result == 2
    assert sorted(enqueued) == sorted([str(lost.id), str(never_dispatched.id)])
    assert str(just_created.id) not in enqueued
    # Claimed for one lease, handed over now: the next sweep leaves them alone.
    record = ShipmentRecord.objects.get(pk=lost.id)
    assert record.claimed_until and record.handed_over_at
    assert record.claimed_until > now + timedelta(seconds=settings.DISPATCH_CLAIM_SECONDS - 5)
    assert record.handed_over_at >= now
    assert sweep_due_shipments.apply().result == 0


def test_a_shipment_whose_task_may_wait_behind_the_queues_head_is_left_alone(
    supplier, queue, enqueued
):
    now = timezone.now()
    # The oldest task waiting in the queue was sent two minutes ago (a herd's backlog).
    queue["logistics"] = QueueHead(known=True, sent_at=(now - timedelta(minutes=2)).timestamp())
    behind_the_head = pending_shipment("ORD-000001")
    lease(
        behind_the_head,
        next_attempt_at=now - timedelta(minutes=1),
        claimed_until=now - timedelta(seconds=1),
        handed_over_at=now - timedelta(minutes=1),
    )
    before_the_head = pending_shipment("ORD-000002")
    lease(
        before_the_head,
        next_attempt_at=now - timedelta(minutes=5),
        claimed_until=now - timedelta(minutes=4),
        handed_over_at=now - timedelta(minutes=5),
    )

    assert sweep_due_shipments.apply().result == 1
    assert enqueued == [str(before_the_head.id)]


def test_the_sweep_claims_nothing_while_the_broker_does_not_answer(supplier, monkeypatch, enqueued):
    def unreachable(name: str) -> QueueHead:
        raise broker.BrokerUnavailable("peek failed")

    monkeypatch.setattr(broker, "queue_head", unreachable)
    lost = pending_shipment()
    lease(lost, created_at=timezone.now() - timedelta(minutes=5))

    assert sweep_due_shipments.apply().result == 0
    assert enqueued == []
    assert ShipmentRecord.objects.get(pk=lost.id).claimed_until is None


def test_a_running_dispatch_holds_its_shipment_until_the_hard_time_limit(supplier, monkeypatch):
    shipment = pending_shipment()
    seen: list[Any] = []
    real_dispatch = LogisticsService.dispatch

    def dispatch(service: LogisticsService, shipment_id: Any) -> Any:
        seen.append(ShipmentRecord.objects.get(pk=shipment_id).claimed_until)
        return real_dispatch(service, shipment_id)

    monkeypatch.setattr(LogisticsService, "dispatch", dispatch)
    started = timezone.now()

    assert dispatch_shipment.apply(args=(str(shipment.id),)).result is True
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    assert started + limit <= seen[0] <= timezone.now() + limit


def test_a_retry_due_beyond_the_countdown_cap_is_left_to_the_sweep(supplier, settings, monkeypatch):
    settings.SUPPLIER_BACKGROUND_ATTEMPTS = 1
    # Due in an hour: past the 10-minute cap.
    settings.DISPATCH_ATTEMPT_BACKOFF_SECONDS = 3600.0
    settings.DISPATCH_ATTEMPT_BACKOFF_MAX_SECONDS = 3600.0
    supplier.set_chaos(failure_rate=1.0)
    shipment = pending_shipment()
    monkeypatch.setattr(dispatch_shipment, "retry", lambda **_: pytest.fail("no retry"))

    result = dispatch_shipment.apply(args=(str(shipment.id),))

    assert (result.state, result.result) == ("SUCCESS", False)
    record = ShipmentRecord.objects.get(pk=shipment.id)
    # Released: the sweep hands it over once it is due.
    assert (record.status, record.claimed_until) == ("pending", None)


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
