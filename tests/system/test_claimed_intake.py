"""ORDER_INTAKE_HAND_OVER=claimed with real processes: web, intake worker, Celery worker.

The request writes its row (and a NOTIFY on PostgreSQL) and sends nothing to the broker; the
intake worker claims and places it, the Celery workers do the rest under the request's trace
id; SIGTERM stops the intake worker cleanly. Databases: PostgreSQL when the suite runs on it,
else SQLite (the worker polls).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.conftest import (
    RunningSystem,
    celery_process,
    intake_worker_process,
    json_lines,
    purge_queues,
    start_system,
    wait_for,
)
from tests.system.test_async_order_path import (
    QUEUES,
    done,
    logged_with_mail_in,
    place,
    state,
    token,
)

__all__ = ["token"]  # the fixture, used by name

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def system(tmp_path: Path) -> Iterator[RunningSystem]:
    extra = {
        **logged_with_mail_in(tmp_path),
        "ORDER_INTAKE_HAND_OVER": "claimed",
        "INTAKE_WORKER_IDLE_SECONDS": "0.2",
    }
    with start_system(tmp_path, workers=1, extra_env=extra, suite_database=True) as running:
        purge_queues(running)
        yield running


def test_the_intake_worker_places_a_claimed_request_and_stops_on_sigterm(
    system: RunningSystem, token: str, tmp_path: Path
) -> None:
    intake_log, worker_log = tmp_path / "intake.log", tmp_path / "worker.log"
    with (
        intake_worker_process(system, intake_log) as intake,
        celery_process(system, worker_log, ["worker", "--queues", QUEUES, "--concurrency", "2",
                                            "--without-gossip", "--without-mingle"]),
    ):  # fmt: skip
        order = place(system, token, **{"X-Request-ID": TRACE_ID})
        wait_for(
            lambda: done(state(system, order["number"])),
            timeout=90,
            describe=lambda: (state(system, order["number"]), worker_log.read_text()[-3000:]),
        )
        intake.send_signal(signal.SIGTERM)
        assert intake.wait(timeout=30) == 0

    tasks = {line["task"] for line in json_lines(worker_log) if line.get("task")}
    assert "monolithos.tasks.place_order_request" not in tasks  # no broker hand-over
    assert "logistics.tasks.create_shipment" in tasks
    stopped = [line for line in json_lines(intake_log) if line["event"] == "intake_worker_stopped"]
    assert [line["processed"] for line in stopped] == [1]
    # The order's tasks carry the request's trace id; the relay that a batch's commit enqueues
    # serves every request of the batch and carries the intake worker's own.
    trace_ids = {
        line["trace_id"]
        for line in json_lines(worker_log)
        if line.get("task") and line["task"] != "outbox.tasks.relay_messages"
    }
    assert trace_ids == {TRACE_ID}
