"""The shipment's events reach the legacy order's columns through real processes.

Two shipments change in processes that tell no listener (the fast path gone, as when a process
dies right after its logistics commit): one still relays its event on commit, the other dies
before even that. A real worker and beat then bring both orders' columns in step: the first by
the relay, the second by the sweep of the logistics alias's outbox. Databases: PostgreSQL when
the suite runs on it, SQLite files otherwise; broker: Redis when REDIS_URL is set (CI), the
filesystem transport otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.system.conftest import (
    RunningSystem,
    celery_process,
    http,
    json_lines,
    purge_queues,
    query,
    start_system,
    wait_for,
)


@pytest.fixture
def system(tmp_path: Path) -> Iterator[RunningSystem]:
    extra = {"LOG_FORMAT": "json", "OUTBOX_SWEEP_SECONDS": "1", "OUTBOX_RELAY_GRACE_SECONDS": "2"}
    with start_system(tmp_path, workers=1, extra_env=extra, suite_database=True) as running:
        purge_queues(running)
        yield running


def place_deferred(system: RunningSystem) -> str:
    """An order placed on the legacy path while the supplier fails: its shipment is pending."""
    system.supplier.set_chaos(failure_rate=1.0)
    status, body = http(
        f"{system.web}/api/orders/",
        "POST",
        {
            "customer_name": "Event Test",
            "customer_email": "events@example.com",
            "shipping_address": "3 Outbox Lane",
            "lines": [{"sku": "BOX-S", "quantity": 1}],
        },
    )
    system.supplier.set_chaos(failure_rate=0.0)
    order = json.loads(body)
    assert (status, order["shipping_status"]) == (201, "dispatch_failed")
    return str(order["number"])


def change_telling_nobody(system: RunningSystem, change: str, *, relay: bool) -> None:
    """Run ``change`` (on ``service``) in a process that tells no listener: it died right after
    its commit. Without ``relay`` it died before its on-commit relay too."""
    dies_before_relay = (
        "" if relay else 'mock.patch("outbox.messages._Relay.__call__", lambda relay: None).start()'
    )
    query(
        system,
        f"""
from unittest import mock
from django.conf import settings
from logistics.public import build_logistics_service
settings.LOGISTICS_SHIPMENT_LISTENERS = []
{dies_before_relay}
service = build_logistics_service(background=True)
{change}
result = None
""",
    )


def state(system: RunningSystem, numbers: list[str]) -> dict[str, Any]:
    return dict(
        query(
            system,
            f"""
from logistics.models import ShipmentRecord
from monolithos.models import Order
from outbox.models import FailedTask, OutboxMessage
orders = {{o.number: [o.status, o.shipping_status, o.tracking_number, o.shipping_version]
          for o in Order.objects.filter(number__in={numbers!r})}}
shipments = {{s.order_ref: [s.status, s.tracking_number, s.version]
             for s in ShipmentRecord.objects.filter(order_ref__in={numbers!r})}}
events = OutboxMessage.objects.using("logistics").filter(
    task="monolithos.tasks.apply_shipment_event"
)
result = {{
    "orders": orders,
    "shipments": shipments,
    "events_owed": events.filter(done_at__isnull=True).count(),
    "failed_tasks": list(FailedTask.objects.values_list("task_id", flat=True)),
}}
""",
        )
    )


def in_step(current: dict[str, Any], number: str) -> bool:
    """The order's columns say what its (dispatched or cancelled) shipment says, at its version."""
    shipment_status, tracking, version = current["shipments"][number]
    order_status = "shipped" if shipment_status == "dispatched" else "placed"
    columns: list[Any] = current["orders"][number]
    return columns == [order_status, shipment_status, tracking, version]


def test_events_bring_the_columns_in_step_after_processes_that_told_nobody(system, tmp_path):
    relayed, swept = place_deferred(system), place_deferred(system)
    change_telling_nobody(system, f"service.cancel_order({relayed!r})", relay=True)
    change_telling_nobody(system, f"service.dispatch_order({swept!r})", relay=False)
    before = state(system, [relayed, swept])
    assert before["orders"][relayed][1] == before["orders"][swept][1] == "dispatch_failed"
    assert before["shipments"][relayed][0] == "cancelled"
    assert before["shipments"][swept][0] == "dispatched"

    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    with (
        celery_process(system, worker_log, ["worker", "--queues", "intake", "--concurrency", "1",
                                            "--without-gossip", "--without-mingle"]),
        celery_process(system, beat_log, ["beat", "--schedule", str(tmp_path / "schedule")]),
    ):  # fmt: skip
        wait_for(
            lambda: all(in_step(state(system, [relayed, swept]), n) for n in (relayed, swept)),
            timeout=90,
            describe=lambda: (state(system, [relayed, swept]), worker_log.read_text()[-3000:]),
        )
        wait_for(lambda: state(system, [relayed, swept])["events_owed"] == 0, timeout=30)

    assert state(system, [relayed, swept])["failed_tasks"] == []
    stranded = [
        line
        for line in json_lines(worker_log)
        if line.get("event") == "outbox_stranded_messages_relayed"
    ]
    # The dispatch's event was never relayed on commit: the sweep of the logistics alias did.
    assert "logistics" in {line["alias"] for line in stranded}
