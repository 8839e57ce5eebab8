"""The dispatch sweep claims what it enqueues: once per shipment, a bounded batch per run.

Issue 12: after a backfill, sweeps that fired together enqueued 3,223 dispatch tasks for 884
pending shipments. With REDIS_URL set, what the sweeps enqueued is read back from the broker
(a queue of the test's own); without it, the enqueue calls are counted.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
import redis
from django.utils import timezone

from logistics.adapters.orm import DjangoShipmentRepository
from logistics.domain import Shipment, ShipmentItem
from logistics.tasks import dispatch_shipment, sweep_due_shipments
from tests.integration.concurrency import WAIT_SECONDS, InThread

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

SWEEPS_AT_ONCE = 8


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[Callable[[], list[str]]]:
    """The shipment ids of the dispatch tasks enqueued so far, one per task."""
    if not settings.REDIS_URL:
        calls: list[str] = []
        monkeypatch.setattr(dispatch_shipment, "delay", calls.append)
        yield lambda: list(calls)
        return
    queue = f"test-sweep-{uuid.uuid4().hex}"
    monkeypatch.setattr(
        dispatch_shipment,
        "delay",
        lambda shipment_id: dispatch_shipment.apply_async((shipment_id,), queue=queue),
    )
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def in_the_broker() -> list[str]:
        raw_messages = cast(list[bytes], broker.lrange(queue, 0, -1))
        messages = [json.loads(raw) for raw in raw_messages]
        # Celery's message protocol 2: the body is [args, kwargs, embed], JSON in base64.
        return [json.loads(base64.b64decode(m["body"]))[0][0] for m in messages]

    try:
        yield in_the_broker
    finally:
        broker.delete(queue, *cast(list[bytes], broker.keys(f"_kombu.binding*.{queue}")))
        broker.close()


def backfilled(count: int) -> set[str]:
    """``count`` pending shipments never tried, created a month ago: history after a backfill."""
    created_at = timezone.now() - timedelta(days=30)
    shipments = [
        Shipment(
            order_ref=f"ORD-{n:06d}",
            destination="1 Dock Road",
            items=(ShipmentItem("BOX-S", 1),),
            created_at=created_at,
        )
        for n in range(1, count + 1)
    ]
    DjangoShipmentRepository().add_many_if_absent(shipments)
    return {str(shipment.id) for shipment in shipments}


@pytest.mark.django_db(databases=["default", "logistics"], transaction=True)
@pytest.mark.usefixtures("logistics_shared_by_threads")
def test_many_sweeps_at_once_enqueue_each_due_shipment_exactly_once(enqueued, settings):
    settings.DISPATCH_SWEEP_BATCH = 100
    due = backfilled(1000)
    start = threading.Barrier(SWEEPS_AT_ONCE, timeout=WAIT_SECONDS)
    per_run: list[int] = []

    def sweep_until_none_is_left() -> None:
        start.wait()
        for _ in range(1000 // 100 * 5):  # bounded, so that sweeps which never stop fail the test
            count = sweep_due_shipments()
            if not count:  # every due shipment claimed, or being claimed by another sweep
                return
            per_run.append(count)

    sweeps = [InThread(sweep_until_none_is_left) for _ in range(SWEEPS_AT_ONCE)]
    for sweep in sweeps:
        sweep.outcome()

    tasks = enqueued()
    assert len(tasks) == 1000
    assert set(tasks) == due
    assert sum(per_run) == 1000 and max(per_run) <= 100
    assert sweep_due_shipments() == 0  # all claimed, none lost


def test_one_sweep_over_a_backlog_enqueues_at_most_a_batch(enqueued, settings):
    settings.DISPATCH_SWEEP_BATCH = 100
    due = backfilled(250)

    runs = [sweep_due_shipments() for _ in range(4)]

    assert runs == [100, 100, 50, 0]
    assert sorted(enqueued()) == sorted(due)
