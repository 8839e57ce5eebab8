"""The trace id in Celery: put into every message published, bound around every task run.

A task enqueued while a request runs carries the request's trace id in a message header; the
worker binds it for every log line of the task (and for the supplier calls it makes). A task
published outside any trace (celery beat) gets a fresh id when it runs. Connected once, from
``observability.apps``.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Task
from celery.signals import before_task_publish, task_postrun, task_prerun

from observability import trace


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


@task_postrun.connect(dispatch_uid="observability.trace_out_of_task")
def _trace_out_of_task(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()
