"""The Celery task that sends a notification: a thin, idempotent wrapper around ``deliver``.

The task names its notification by idempotency key (unique, indexed), not by id: recording it
is one ``INSERT ... ON CONFLICT DO NOTHING`` on the intake's hot path, which returns no id. A
redelivered or republished message finds the notification sent and does nothing. A beat-driven
sweep hands over again what stayed queued with no message asking for it. A failed send is
retried with jittered backoff; when the retries run out the notification is marked failed and
the error raised again, so that the task is recorded as a ``FailedTask``
(``outbox.reliability``) and can be sent again from the admin. An hourly purge deletes sent
notifications past their retention.
"""

from __future__ import annotations

import structlog
from celery import Task, shared_task

from notifications.services import (
    SEND_TASK,
    deliver,
    hand_over_again,
    mark_failed,
    purge_sent,
    queued_for_too_long,
)
from observability.metrics import OWED_WORK_HANDED_OVER
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
    """Hand over again the notifications queued with no message asking for them (beat).

    The outbox follows each send it handed over to its end (docs/adr/0015); this covers a
    notification whose message is done or never was. A send handed over twice is sent once.
    """
    idempotency_keys = queued_for_too_long(limit)
    if idempotency_keys:
        hand_over_again(idempotency_keys)
        OWED_WORK_HANDED_OVER.labels(kind="notification").inc(len(idempotency_keys))
        logger.warning("queued_notifications_handed_over_again", count=len(idempotency_keys))
    return len(idempotency_keys)


@shared_task(name="notifications.tasks.purge_sent_notifications")
def purge_sent_notifications() -> int:
    """Delete sent notifications older than NOTIFICATION_RETENTION_DAYS (beat, hourly)."""
    purged = purge_sent()
    if purged:
        logger.info("sent_notifications_purged", count=purged)
    return purged
