"""The trace id in Celery, and task run times: what the worker side of observability needs.

A task enqueued while a request runs carries the request's trace id in a message header; the
worker binds it for every log line of the task (and for the supplier calls it makes). A task
published outside any trace (celery beat) gets a fresh id when it runs. Each run is measured in
``monolithos_task_seconds`` by task and final state. Connected once, from ``observability.apps``.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery import Task
from celery.signals import before_task_publish, task_postrun, task_prerun

from observability import trace
from observability.metrics import TASK_SECONDS

# Start times of the tasks running in this process, by task id (a worker process runs one at a
# time with prefetch 1, but eager calls can nest).
_started: dict[str, float] = {}


@before_task_publish.connect(dispatch_uid="observability.trace_into_message")
def _trace_into_message(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers.update(trace.task_headers())


@task_prerun.connect(dispatch_uid="observability.trace_into_task")
def _trace_into_task(task: Task[Any, Any] | None = None, **_: Any) -> None:
    carried = trace.trace_id_from_task_headers(
        {trace.TASK_HEADER: getattr(task.request, trace.TASK_HEADER, None)} if task else None
    )
    structlog.contextvars.clear_contextvars()
    trace.bind_trace_id(carried or trace.new_trace_id())
    if task is not None:
        structlog.contextvars.bind_contextvars(task=task.name, task_id=task.request.id)
        _started[str(task.request.id)] = time.perf_counter()


@task_postrun.connect(dispatch_uid="observability.trace_out_of_task")
def _trace_out_of_task(
    task: Task[Any, Any] | None = None, state: str | None = None, **_: Any
) -> None:
    started = _started.pop(str(task.request.id), None) if task is not None else None
    if task is not None and started is not None:
        TASK_SECONDS.labels(task.name, state or "UNKNOWN").observe(time.perf_counter() - started)
    structlog.contextvars.clear_contextvars()
