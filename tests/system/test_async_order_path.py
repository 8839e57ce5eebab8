"""The asynchronous order path with real processes: web, Celery worker, beat, simulator.

An order accepted by POST /api/v1/orders/ is followed through the outbox to its shipment
(created and dispatched), its invoice PDF and its mails, all under the request's trace id. Then
the failure cases the outbox and the task settings exist for: a worker killed with SIGKILL in
the middle of an invoice, a relay that never ran, and the same messages delivered twice.
Databases: PostgreSQL when the suite runs on it; broker: Redis when REDIS_URL is set (CI).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness.mails import message_text, read_messages
from tests.conftest import ROOT
from tests.system.conftest import (
    RunningSystem,
    api_token,
    celery_process,
    json_lines,
    purge_queues,
    query,
    session_process,
    start_system,
    wait_for,
)

TRACE_ID = "5b8aa5a2d2c872e8321cf37308d69df2"
QUEUES = "intake,logistics,invoices,notifications"
ORDER = {
    "customer_name": "Herd Member",
    "customer_email": "herd@example.com",
    "shipping_address": "7 Worker Way",
    "lines": [{"sku": "BOX-S", "quantity": 2}],
}


def logged_with_mail_in(tmp_path: Path) -> dict[str, str]:
    """JSON logs, and the mails as files in ``tmp_path / "mail"``, where the tests read them."""
    (tmp_path / "mail").mkdir()
    return {
        "LOG_FORMAT": "json",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
    }


@pytest.fixture
def system(tmp_path: Path) -> Iterator[RunningSystem]:
    extra = {
        **logged_with_mail_in(tmp_path),
        "OUTBOX_SWEEP_SECONDS": "1",
        "OUTBOX_RELAY_GRACE_SECONDS": "2",
    }
    with start_system(tmp_path, workers=1, extra_env=extra, suite_database=True) as running:
        purge_queues(running)
        yield running


@pytest.fixture
def token(system: RunningSystem) -> str:
    return api_token(system)


def place(system: RunningSystem, token: str, **headers: str) -> dict[str, Any]:
    """POST the order (202: its request), follow the request until placed; the order."""
    import urllib.request

    auth = {"Authorization": f"Token {token}"}
    request = urllib.request.Request(
        f"{system.web}/api/v1/orders/",
        data=json.dumps(ORDER).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **auth, **headers},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202
        accepted: dict[str, Any] = json.loads(response.read())

    def follow() -> dict[str, Any]:
        url = f"{system.web}{accepted['links']['self']}"
        with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=30) as got:
            body: dict[str, Any] = json.loads(got.read())
            return body

    wait_for(lambda: follow()["status"] != "received", timeout=60, describe=follow)
    placed = follow()
    assert placed["status"] == "placed", placed
    order: dict[str, Any] = placed["order"]
    return order


def state(system: RunningSystem, number: str) -> dict[str, Any]:
    """Where an order's work stands, read from both databases."""
    result: dict[str, Any] = query(
        system,
        f"""
from logistics.models import ShipmentRecord
from monolithos.models import Invoice
from notifications.models import Notification
from outbox.models import FailedTask, OutboxMessage, TaskDelivery
shipments = ShipmentRecord.objects.filter(order_ref={number!r})
invoice = Invoice.objects.get(order__number={number!r})
result = {{
    "shipments": list(shipments.values_list("status", flat=True)),
    "rendered_version": invoice.rendered_version,
    "pdf": invoice.pdf.name,
    "mails": sorted(Notification.objects.filter(idempotency_key__endswith={number!r})
                    .values_list("kind", "status")),
    "unpublished": OutboxMessage.objects.filter(published_at__isnull=True).count(),
    "attempts": sorted(OutboxMessage.objects.values_list("attempts", flat=True)),
    "failed_tasks": list(FailedTask.objects.values_list("task", "reason")),
    "deliveries_in_progress": TaskDelivery.objects.count(),
}}
""",
    )
    return result


def done(current: dict[str, Any]) -> bool:
    return bool(
        current["shipments"] == ["dispatched"]
        and current["rendered_version"] == 1
        and current["mails"] == [["order_confirmation", "sent"], ["sales_new_order", "sent"]]
    )


def succeeded(log: Path, task: str) -> int:
    """Runs of ``task`` that succeeded: each ends with its one ``task_succeeded`` line."""
    return sum(
        1
        for line in json_lines(log)
        if line["event"] == "task_succeeded" and line.get("task") == task
    )


def mails(system: RunningSystem) -> list[str]:
    return [message_text(message) for message in read_messages(system.var_dir / "mail")]


def test_an_order_goes_through_shipment_dispatch_invoice_and_mail_under_one_trace_id(
    system, token, tmp_path
):
    log = tmp_path / "worker.log"
    with celery_process(system, log, ["worker", "--queues", QUEUES, "--concurrency", "2",
                                      "--without-gossip", "--without-mingle"]):  # fmt: skip
        order = place(system, token, **{"X-Request-ID": TRACE_ID})
        wait_for(
            lambda: done(state(system, order["number"])),
            timeout=90,
            describe=lambda: (state(system, order["number"]), log.read_text()[-3000:]),
        )

    final = state(system, order["number"])
    assert final["unpublished"] == 0 and final["failed_tasks"] == []
    task_lines = [line for line in json_lines(log) if line.get("task")]
    assert {line["task"] for line in task_lines} >= {
        "monolithos.tasks.place_order_request",  # which relays its outbox messages itself
        "logistics.tasks.create_shipment",
        "logistics.tasks.dispatch_shipment",
        "monolithos.tasks.render_invoice",
        "notifications.tasks.send_notification",
    }
    assert {line["trace_id"] for line in task_lines} == {TRACE_ID}
    [dispatch] = [call for call in system.supplier.received() if call["path"] == "/v1/dispatches"]
    assert dispatch["headers"].get("x-request-id") == TRACE_ID
    sent = mails(system)
    assert len(sent) == 2
    assert all(f"X-Request-ID: {TRACE_ID}" in mail for mail in sent)
    assert any(f"Your order {order['number']}" in mail for mail in sent)
    # The invoice link now serves the PDF the worker rendered, to the caller who placed it.
    import urllib.request

    invoice = urllib.request.Request(
        f"{system.web}{order['links']['invoice']}", headers={"Authorization": f"Token {token}"}
    )
    with urllib.request.urlopen(invoice, timeout=30) as response:
        assert (response.status, response.read()[:5]) == (200, b"%PDF-")


def test_a_worker_killed_mid_invoice_is_replaced_and_the_invoice_rendered_once(
    system, token, tmp_path
):
    markers = tmp_path / "markers"
    markers.mkdir()
    log = tmp_path / "worker.log"
    system.env["RENDER_MARKER_DIR"] = str(markers)
    worker = [sys.executable, str(ROOT / "tests/system/slow_render_worker.py")]
    with session_process(
        system,
        log,
        [*worker, "--queues", QUEUES, "--concurrency", "1", "--pool", "prefork",
         "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
    ) as process:  # fmt: skip
        order = place(system, token)
        invoice = f"INV-{order['id']:06d}"
        wait_for(lambda: any(markers.iterdir()), timeout=60, describe=log.read_text)
        [first] = list(markers.iterdir())
        pool_process = int(first.name.rsplit("-", 1)[1])
        assert pool_process != process.pid
        os.kill(pool_process, signal.SIGKILL)

        wait_for(
            lambda: done(state(system, order["number"])),
            timeout=120,
            describe=lambda: (state(system, order["number"]), log.read_text()[-3000:]),
        )

    starts = sorted(path.name for path in markers.iterdir())
    assert len(starts) == 2 and all(name.startswith(f"render-{invoice}-") for name in starts)
    assert "WorkerLostError" in log.read_text() or "SIGKILL" in log.read_text()
    rendered = [line for line in json_lines(log) if line.get("event") == "invoice_rendered"]
    assert [line["invoice"] for line in rendered] == [invoice]
    final = state(system, order["number"])
    assert final["pdf"] == f"invoices/{invoice}.pdf"
    assert sorted(path.name for path in (system.var_dir / "media" / "invoices").iterdir()) == [
        f"{invoice}.pdf"
    ]
    assert final["failed_tasks"] == [] and final["deliveries_in_progress"] == 0


def test_messages_whose_relay_died_are_delivered_by_the_sweep_and_a_second_delivery_is_ignored(
    system, tmp_path
):
    # An order accepted by a process that died right after its commit: the relay never ran.
    number = query(
        system,
        """
from unittest import mock
from django.contrib.auth import get_user_model
from monolithos import placement
from monolithos.mailer import NotificationService
from monolithos.repository import DatabaseRepo
from notifications.public import NotificationService as QueuedNotifications
caller = get_user_model().objects.get_or_create(username="relay")[0]
with mock.patch("outbox.messages._Relay.__call__", lambda relay: None):
    order = placement.accept(
        {"customer_name": "Lost Relay", "customer_email": "relay@example.com",
         "shipping_address": "1 Crash Court", "lines": [{"sku": "BOX-S", "quantity": 1}]},
        owner_id=caller.pk, repo=DatabaseRepo(),
        mails=NotificationService(QueuedNotifications()),
    )
result = order.number
""",
    )
    assert state(system, number)["unpublished"] == 4

    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    with (
        celery_process(system, worker_log, ["worker", "--queues", QUEUES, "--concurrency", "2",
                                            "--without-gossip", "--without-mingle"]),
        celery_process(system, beat_log, ["beat", "--schedule", str(tmp_path / "schedule")]),
    ):  # fmt: skip
        wait_for(
            lambda: done(state(system, number)),
            timeout=90,
            describe=lambda: (state(system, number), worker_log.read_text()[-3000:]),
        )
        assert any(
            line.get("event") == "outbox_stranded_messages_relayed"
            for line in json_lines(worker_log)
        )
        assert len(mails(system)) == 2

        # The same messages delivered again (a relay that died after publishing, before it
        # recorded so): every receiver recognises work already done.
        query(
            system,
            "from outbox.models import OutboxMessage\n"
            "result = OutboxMessage.objects.update(published_at=None, done_at=None)",
        )
        wait_for(
            lambda: (
                succeeded(worker_log, "logistics.tasks.create_shipment") == 2
                and succeeded(worker_log, "monolithos.tasks.render_invoice") == 2
                and succeeded(worker_log, "notifications.tasks.send_notification") == 4
            ),
            timeout=60,
            describe=lambda: worker_log.read_text()[-3000:],
        )

    final = state(system, number)
    assert final["shipments"] == ["dispatched"]
    assert final["rendered_version"] == 1
    assert len(mails(system)) == 2
    assert len(system.supplier.ledger()) == 1
    assert final["failed_tasks"] == []
