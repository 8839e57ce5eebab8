"""The Celery task that sends a notification: a thin, idempotent wrapper around ``deliver``.

The task names its notification by idempotency key (unique, indexed), not by id: recording it
is one ``INSERT ... ON CONFLICT DO NOTHING`` on the intake's hot path, which returns no id. A
redelivered or republished message finds the notification sent and does nothing. A beat-driven
sweep enqueues again what stayed queued too long. A failed send is retried with jittered
backoff; when the retries run out the notification is marked failed and the error raised again,
so that the task is recorded as a ``FailedTask`` (``outbox.reliability``) and can be sent again
from the admin. An hourly purge deletes sent notifications past their retention.
"""

from __future__ import annotations

import structlog
from celery import Task, shared_task

from notifications.services import (
    SEND_TASK,
    deliver,
    mark_failed,
    purge_sent,
    queued_for_too_long,
)
from outbox.reliability import backoff

logger = structlog.get_logger(__name__)


@shared_task(bind=True, name=SEND_TASK, max_retries=5)
def send_notification(self: Task[[str], bool], idempotency_key: str) -> bool:
    try:
        return deliver(idempotency_key)
    except Exception as error:
        if self.request.retries >= (self.max_retries or 0):
            logger.error("notification_failed", idempotency_key=idempotency_key, error=repr(error))
            mark_failed(idempotency_key, repr(error))
            raise
        raise self.retry(exc=error, countdown=backoff(self.request.retries, base=10)) from error


@shared_task(name="notifications.tasks.sweep_queued_notifications")
def sweep_queued_notifications(limit: int = 500) -> int:
    """Enqueue again the notifications queued for longer than LOST_TASK_GRACE_MINUTES (beat).

    Longer than the send task's retries take, so such a notification lost its message after the
    outbox published it (a flushed broker, a purged queue); a send enqueued twice is sent once.
    """
    idempotency_keys = queued_for_too_long(limit)
    for idempotency_key in idempotency_keys:
        send_notification.delay(idempotency_key)
    if idempotency_keys:
        logger.warning("queued_notifications_enqueued_again", count=len(idempotency_keys))
    return len(idempotency_keys)


@shared_task(name="notifications.tasks.purge_sent_notifications")
def purge_sent_notifications() -> int:
    """Delete sent notifications older than NOTIFICATION_RETENTION_DAYS (beat, hourly)."""
    purged = purge_sent()
    if purged:
        logger.info("sent_notifications_purged", count=purged)
    return purged
