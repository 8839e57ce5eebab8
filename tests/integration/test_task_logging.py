"""Tasks: the message carries the trace id and nothing else of the publisher's log context, and
the worker binds it again, validated (django-structlog's Celery integration with the hooks of
observability.tasks, docs/adr/0018). The broker is a private redis-server, read back raw."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import structlog
from celery import current_app, shared_task
from django_structlog.celery import signals
from django_structlog.celery.receivers import CeleryReceiver

from config.celery import TaskLogStep
from observability import tasks, trace
from tests.redis_server import RedisServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TASK = "tests.task_logging.noop"
# What a request has bound by the time it enqueues (the strangler's side, say), personal data
# among it: none of it may travel.
REQUEST_CONTEXT = {
    "route": "orders_api:order_accept",
    "side": "new",
    "user_id": 4711,
    "customer_email": "ada@example.com",
}


@shared_task(name=TASK)
def noop() -> None:
    return None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


def publish_and_take(url: str) -> bytes:
    """Publish TASK as any caller does, then take its message off the queue, raw."""
    with current_app.connection_for_write(url) as connection:
        current_app.send_task(TASK, connection=connection)
    raw = redis.Redis.from_url(url).rpop(current_app.conf.task_default_queue)
    assert isinstance(raw, bytes)
    return raw


def test_a_message_carries_the_trace_id_and_nothing_else_of_the_context(private_redis, log_lines):
    with structlog.contextvars.bound_contextvars(**REQUEST_CONTEXT), trace.bound_trace_id(TRACE_ID):
        raw = publish_and_take(private_redis.url())

    assert json.loads(raw)["headers"][tasks.CONTEXT_HEADER] == {"trace_id": TRACE_ID}
    on_the_wire = f'"{tasks.CONTEXT_HEADER}": {{"trace_id": "{TRACE_ID}"}}'
    assert on_the_wire in raw.decode()
    assert len(on_the_wire) == 72  # bytes of a message of about 1 kB (docs/adr/0018)
    for value in ("orders_api:order_accept", "ada@example.com", "4711"):
        assert value not in raw.decode()
    assert not log_lines.events("task_enqueued")  # at DEBUG


def test_without_the_hook_the_library_would_copy_the_whole_context(private_redis):
    signals.modify_context_before_task_publish.disconnect(dispatch_uid="observability.trace_only")
    try:
        with (
            structlog.contextvars.bound_contextvars(**REQUEST_CONTEXT),
            trace.bound_trace_id(TRACE_ID),
        ):
            raw = publish_and_take(private_redis.url())
    finally:
        signals.modify_context_before_task_publish.connect(
            tasks.only_the_trace_id, dispatch_uid="observability.trace_only"
        )

    carried = json.loads(raw)["headers"][tasks.CONTEXT_HEADER]
    assert carried == {**REQUEST_CONTEXT, "trace_id": TRACE_ID}
    assert "ada@example.com" in raw.decode()  # unmasked: a header is not a log line


def run_prerun(headers: dict[str, Any]) -> dict[str, Any]:
    """What the worker step's task_prerun receiver binds for a message with ``headers``."""
    task = current_app.tasks[TASK]
    task.push_request(id="task-1", **headers)
    try:
        CeleryReceiver().receiver_task_prerun("task-1", task)
        return dict(structlog.contextvars.get_contextvars())
    finally:
        task.pop_request()
        structlog.contextvars.clear_contextvars()


def test_the_worker_binds_the_carried_trace_id_and_the_tasks_name():
    context = run_prerun({tasks.CONTEXT_HEADER: {"trace_id": TRACE_ID}})

    assert context == {"task_id": "task-1", "trace_id": TRACE_ID, "task": TASK}


@pytest.mark.parametrize(
    "headers",
    [
        {tasks.CONTEXT_HEADER: {"trace_id": '\n{"forged": true}'}},
        {tasks.CONTEXT_HEADER: {"trace_id": "0" * 32}},
        {},  # published outside any trace: celery beat
    ],
    ids=["forged", "invalid", "none"],
)
def test_the_worker_replaces_a_missing_or_forged_trace_id_with_a_fresh_one(headers):
    context = run_prerun(headers)

    assert trace.is_trace_id(context["trace_id"])
    assert context["trace_id"] != TRACE_ID


def test_in_a_worker_a_message_is_hooked_once_not_twice(private_redis, log_lines):
    library_logger = logging.getLogger("django_structlog.celery.receivers")
    library_logger.setLevel(logging.DEBUG)
    step = TaskLogStep(parent=None)  # as the worker starts it, beside the app's receivers
    try:
        with trace.bound_trace_id(TRACE_ID):
            publish_and_take(private_redis.url())
    finally:
        library_logger.setLevel(logging.NOTSET)
        del step
        gc.collect()  # its receivers are weak references: gone with it

    [enqueued] = log_lines.events("task_enqueued")
    assert (enqueued["child_task_name"], enqueued["trace_id"]) == (TASK, TRACE_ID)
