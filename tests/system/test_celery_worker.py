"""A real Celery worker beside the running system: a deferred dispatch done by the worker.

The order is placed while the supplier fails, so its shipment is deferred; a task enqueued under
a known trace id is then run by the worker process, which dispatches the shipment, logs with
that trace id and forwards it to the supplier. Broker: Redis when REDIS_URL is set (CI), the
filesystem transport otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.system.conftest import RunningSystem, http, query, start_system

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def system_with_worker(tmp_path: Path) -> Iterator[tuple[RunningSystem, Path]]:
    with start_system(
        tmp_path, workers=1, extra_env={"LOG_FORMAT": "json"}, suite_database=True
    ) as system:
        manage_celery(system, "purge", "--force", "--queues", "logistics")
        log = tmp_path / "worker.log"
        with log.open("w") as output:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
                 "--queues", "logistics", "--without-gossip", "--without-mingle",
                 "--loglevel", "INFO"],
                cwd=ROOT, env={**system.env, "LOG_LEVEL": "INFO"}, stdout=output,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                yield system, log
            finally:
                worker.terminate()
                worker.wait(timeout=20)


def manage_celery(system: RunningSystem, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", *args],
        cwd=ROOT, env=system.env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def shipment(system: RunningSystem, order_ref: str) -> tuple[str, str]:
    row = query(
        system,
        "from logistics.models import ShipmentRecord\n"
        f"record = ShipmentRecord.objects.get(order_ref={order_ref!r})\n"
        "result = [str(record.id), record.status]",
    )
    return str(row[0]), str(row[1])


def enqueue_dispatch(system: RunningSystem, shipment_id: str) -> None:
    script = (
        "import django; django.setup();"
        "from observability import trace;"
        "from logistics.tasks import dispatch_shipment;"
        f"ctx = trace.bound_trace_id({TRACE_ID!r}); ctx.__enter__();"
        f"dispatch_shipment.delay({shipment_id!r})"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=system.env, check=True, timeout=60)


def test_the_worker_dispatches_a_deferred_shipment_under_the_callers_trace_id(
    system_with_worker,
):
    system, worker_log = system_with_worker
    system.supplier.set_chaos(failure_rate=1.0)
    status, body = http(
        f"{system.web}/api/orders/",
        "POST",
        {
            "customer_name": "Worker Test",
            "customer_email": "worker@example.com",
            "shipping_address": "1 Queue Street",
            "lines": [{"sku": "BOX-S", "quantity": 1}],
        },
    )
    order = json.loads(body)
    assert (status, order["shipping_status"]) == (201, "dispatch_failed")
    shipment_id, shipment_status = shipment(system, order["number"])
    assert shipment_status == "pending"
    system.supplier.set_chaos(failure_rate=0.0)

    enqueue_dispatch(system, shipment_id.replace("-", ""))
    deadline = time.monotonic() + 30
    while shipment(system, order["number"])[1] != "dispatched":
        assert time.monotonic() < deadline, worker_log.read_text()[-3000:]
        time.sleep(0.2)

    lines = [json.loads(line) for line in worker_log.read_text().splitlines() if line[:1] == "{"]
    task_lines = [line for line in lines if line.get("task") == "logistics.tasks.dispatch_shipment"]
    # django-structlog's worker step ends the task with its one line, under the same trace id.
    assert {line["event"] for line in task_lines} >= {"supplier_call", "task_succeeded"}
    assert {line["trace_id"] for line in task_lines} == {TRACE_ID}
    [dispatch] = [
        call
        for call in system.supplier.received()
        if call["headers"].get("x-request-id") == TRACE_ID
    ]
    assert dispatch["path"] == "/v1/dispatches"
    # The legacy columns followed the shipment from the worker that dispatched it: nobody had to
    # read the order's tracking first.
    columns = query(
        system,
        "from monolithos.models import Order\n"
        f"order = Order.objects.get(number={order['number']!r})\n"
        "result = [order.status, order.shipping_status, bool(order.tracking_number)]",
    )
    assert columns == ["shipped", "dispatched", True]
    status, body = http(f"{system.web}/api/orders/{order['id']}/track/")
    assert (status, json.loads(body)["shipping_status"]) == (200, "dispatched")
