"""What Redis lacks as a broker, added to every task: a redelivery cap and dead letters.

``ReliableTask`` is the Celery app's task class (``config.celery``), so every task gets it:

- With late acknowledgement and rejection on worker loss, a message whose task kills its worker
  (a WeasyPrint crash, the out-of-memory killer) is delivered again, forever. Each run counts its
  delivery in ``TaskDelivery`` before it starts and clears it when it returns, whatever the
  outcome; a count left behind means a worker died. Past ``CELERY_TASK_MAX_DELIVERIES`` the task
  is recorded as failed and acknowledged instead of run.
- Redis has no dead-letter queue: a task that fails for good (an error after its retries) is
  recorded in ``FailedTask``, visible in the admin, from where it can be run again. A record the
  database refuses (it is down, or out of connections) is logged instead
  (``task_failure_not_recorded``): the failure handler never raises, or a threaded worker would
  keep the message unacknowledged and, its prefetch slots so held, stop taking messages.
- A task the outbox sent (its task id names the message) pays its message: done when it returns,
  its lease stretched while a retry waits, failed when it fails for good (``outbox.completion``).
  One that failed only because the broker did not take what it enqueued in turn (the
  shipment created, its dispatch not enqueued) is not failed: its message stays owed and the
  outbox hands it over again once the broker is back; its receiver finds its own work done.

``backoff`` gives retry delays with full jitter, capped far below the broker's visibility timeout
(a countdown longer than that is delivered again and again).
"""

from __future__ import annotations

import random
from typing import Any

import structlog
from celery import Task
from celery.exceptions import Retry
from django.conf import settings
from django.db import DatabaseError, connections, router
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from observability import trace
from outbox import completion
from outbox.broker import BrokerUnavailable

logger = structlog.get_logger(__name__)

# What a task raises when the broker does not take a message it enqueues (Celery wraps kombu's
# and Redis's errors in kombu's OperationalError; the publisher raises BrokerUnavailable).
BROKER_ERRORS: tuple[type[Exception], ...] = (KombuOperationalError, BrokerUnavailable)


def backoff(retries: int, *, base: float) -> float:
    """Seconds before retry number ``retries + 1``: full jitter over a capped exponential."""
    ceiling = min(float(settings.CELERY_MAX_COUNTDOWN_SECONDS), base * 2**retries)
    return random.uniform(0, ceiling)  # noqa: S311  (jitter, not cryptography)


class ReliableTask(Task):  # type: ignore[type-arg]
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task_id = self.request.id
        if task_id is None or self.request.called_directly:
            return super().__call__(*args, **kwargs)
        deliveries = count_delivery(task_id, self.name)
        run, token = completion.begin(task_id)
        try:
            if deliveries > settings.CELERY_TASK_MAX_DELIVERIES:
                logger.error("task_redelivered_too_often", deliveries=deliveries)
                record_failure(
                    self,
                    task_id,
                    args,
                    kwargs,
                    reason="redelivered",
                    error=f"started {deliveries - 1} times without returning: "
                    "its worker died each time",
                    deliveries=deliveries - 1,
                )
                completion.failed_for_good(task_id)
                return None
            try:
                result = super().__call__(*args, **kwargs)
            except Retry as retry:
                completion.retrying(run, retry.when)
                raise
            completion.finished(run)
            return result
        finally:
            completion.end(token)
            # Success, failure or retry: this delivery returned, so it is not counted again.
            forget_delivery(task_id)

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if completion.message_of(task_id) is not None and isinstance(exc, BROKER_ERRORS):
            logger.warning("task_left_to_the_outbox", error=repr(exc))
            return
        logger.error("task_failed", error=repr(exc))
        try:
            record_failure(self, task_id, args, kwargs, reason="failed", error=str(einfo))
            completion.failed_for_good(task_id)
        except DatabaseError as error:
            # Most often the very outage the task failed on (connections refused). Raised
            # from here it would escape Celery's tracer, and a thread pool drops what escapes:
            # the message, neither acknowledged nor rejected, would hold its prefetch slot
            # until the worker stops, and a threaded worker with all its slots so held takes
            # nothing more. Acknowledged now, as a failure is; an outbox message stays owed
            # and is handed over again, a shipment is swept again once its lease has passed.
            logger.error("task_failure_not_recorded", error=repr(error))


def count_delivery(task_id: str, task: str) -> int:
    """Count one more start of ``task_id``'s message; returns how many starts it has had.

    Every task run pays for this, so it is one statement: an upsert that returns the count
    (PostgreSQL and SQLite both have ON CONFLICT ... RETURNING; the ORM cannot increment on
    conflict).
    """
    from outbox.models import TaskDelivery

    connection = connections[router.db_for_write(TaskDelivery)]
    table = connection.ops.quote_name(TaskDelivery._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (task_id, task, deliveries, started_at) "  # noqa: S608  (names)
            f"VALUES (%s, %s, 1, %s) ON CONFLICT (task_id) DO UPDATE SET "
            f"deliveries = {table}.deliveries + 1, started_at = excluded.started_at "
            f"RETURNING deliveries",
            [task_id, task, now],
        )
        (deliveries,) = cursor.fetchone()
    return int(deliveries)


def forget_delivery(task_id: str) -> None:
    from outbox.models import TaskDelivery

    TaskDelivery.objects.filter(pk=task_id).delete()


def record_failure(
    task: Task,  # type: ignore[type-arg]
    task_id: str,
    args: Any,
    kwargs: Any,
    *,
    reason: str,
    error: str,
    deliveries: int = 1,
) -> None:
    from outbox.models import FailedTask

    FailedTask.objects.update_or_create(
        task_id=task_id,
        defaults={
            "task": task.name,
            "args": list(args or ()),
            "kwargs": dict(kwargs or {}),
            "reason": reason,
            "error": error[-10_000:],
            "deliveries": deliveries,
            "trace_id": trace.current_trace_id() or "",
            "requeued_at": None,
        },
    )
