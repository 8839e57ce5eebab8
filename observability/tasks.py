"""Tasks: what django-structlog's Celery integration leaves to us, on its signals.

django-structlog (DJANGO_STRUCTLOG_CELERY_ENABLED, and its worker step in config/celery.py)
copies the publisher's log context into a message header and binds it again in the worker
around each task, which ends with one ``task_succeeded`` or ``task_failed`` line with its
duration (``task_enqueued`` and ``task_started`` are at DEBUG). Here
(docs/adr/0018-request-and-task-logs-with-django-structlog.md):

- ``modify_context_before_task_publish``: the header carries the trace id and nothing else,
  not the whole request context (a user id, the route: none of it the worker's business, and
  a header is never masked like a log line); a task published outside any trace (celery beat)
  carries nothing;
- ``bind_extra_task_metadata``: the worker validates the carried id again (ADR 0002), or
  binds a fresh one, and binds the task's name;
- ``pre_task_succeeded``: a task of beat's schedule (a sweep, a purge) gets its ``result``
  (what it found or did: a count) in its final line, so that one that found nothing is
  chatter, written at DEBUG (``observability.logging.QuietChatter``);
- every run is measured in ``monolithos_task_seconds`` by task and final state, and the log
  context is cleared after it, so that the worker's own lines between tasks name no task.

Connected once, from ``observability.apps``.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery import Task
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.dispatch import receiver
from django_structlog.celery import signals

from observability import trace
from observability.metrics import TASK_SECONDS

# The header django-structlog carries the publisher's context in; a Celery message's headers
# are attributes of the task's request in the worker.
CONTEXT_HEADER = "__django_structlog__"

# Start times of the tasks running in this process, by task id (a worker process runs one at a
# time with prefetch 1, but eager calls can nest).
_started: dict[str, float] = {}


@receiver(signals.modify_context_before_task_publish, dispatch_uid="observability.trace_only")
def only_the_trace_id(context: dict[str, Any], **_: Any) -> None:
    context.clear()
    context.update(trace.task_headers())


@receiver(signals.bind_extra_task_metadata, dispatch_uid="observability.trace_into_task")
def bind_trace_id(task: Task[Any, Any], **_: Any) -> None:
    carried = trace.trace_id_from_task_headers(getattr(task.request, CONTEXT_HEADER, None))
    trace.bind_trace_id(carried or trace.new_trace_id())
    structlog.contextvars.bind_contextvars(task=task.name)


@receiver(signals.pre_task_succeeded, dispatch_uid="observability.scheduled_result")
def bind_scheduled_result(result: Any = None, **_: Any) -> None:
    task = structlog.contextvars.get_contextvars().get("task")
    if any(entry["task"] == task for entry in settings.CELERY_BEAT_SCHEDULE.values()):
        structlog.contextvars.bind_contextvars(result=result)


@task_prerun.connect(dispatch_uid="observability.task_started")
def _task_started(task: Task[Any, Any] | None = None, **_: Any) -> None:
    if task is not None:
        _started[str(task.request.id)] = time.perf_counter()


@task_postrun.connect(dispatch_uid="observability.task_done")
def _task_done(task: Task[Any, Any] | None = None, state: str | None = None, **_: Any) -> None:
    started = _started.pop(str(task.request.id), None) if task is not None else None
    if task is not None and started is not None:
        TASK_SECONDS.labels(task.name, state or "UNKNOWN").observe(time.perf_counter() - started)
    structlog.contextvars.clear_contextvars()
