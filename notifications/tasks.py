"""The Celery task that sends a notification: a thin, idempotent wrapper around ``deliver``.

A redelivered or republished message finds the notification sent and does nothing. A failed
send is retried with jittered backoff; when the retries run out the notification is marked
failed and the error raised again, so that the task is recorded as a ``FailedTask``
(``outbox.reliability``) and can be sent again from the admin.
"""

from __future__ import annotations

import structlog
from celery import Task, shared_task

from notifications.services import SEND_TASK, deliver, mark_failed
from outbox.reliability import backoff

logger = structlog.get_logger(__name__)


@shared_task(bind=True, name=SEND_TASK, max_retries=5)
def send_notification(self: Task[[int], bool], notification_id: int) -> bool:
    try:
        return deliver(notification_id)
    except Exception as error:
        if self.request.retries >= (self.max_retries or 0):
            logger.error("notification_failed", notification_id=notification_id, error=repr(error))
            mark_failed(notification_id, repr(error))
            raise
        raise self.retry(exc=error, countdown=backoff(self.request.retries, base=10)) from error
