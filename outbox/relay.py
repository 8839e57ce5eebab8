"""The relay: publish committed outbox messages to the broker, each one once if it can.

Each message is locked (``SKIP LOCKED`` on PostgreSQL, so two relays never wait on each other),
published under the trace id of the transaction that recorded it, then marked published. A
failed publish is counted and left for the next sweep.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import structlog
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from observability import trace
from outbox.models import OutboxMessage, TaskDelivery

logger = structlog.get_logger(__name__)


def relay(keys: Iterable[str]) -> int:
    """Publish the unpublished messages among ``keys``; return how many were published."""
    published = 0
    for key in keys:
        with transaction.atomic():
            message = (
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(key=key, published_at__isnull=True)
                .first()
            )
            if message is None:
                continue  # published already, or another relay holds it right now
            message.attempts += 1
            try:
                with trace.bound_trace_id(message.trace_id or None):
                    current_app.send_task(message.task, kwargs=message.kwargs)
            except Exception as error:
                message.last_error = repr(error)
                message.save(update_fields=["attempts", "last_error"])
                logger.warning("outbox_publish_failed", key=key, error=repr(error))
                continue
            message.published_at = timezone.now()
            message.save(update_fields=["attempts", "published_at"])
            published += 1
    return published


def stranded_keys(limit: int) -> list[str]:
    """Unpublished messages older than the relay's grace period: their relay never came."""
    cutoff = timezone.now() - timedelta(seconds=settings.OUTBOX_RELAY_GRACE_SECONDS)
    return list(
        OutboxMessage.objects.filter(published_at__isnull=True, created_at__lt=cutoff)
        .order_by("id")
        .values_list("key", flat=True)[:limit]
    )


def purge_old_records() -> tuple[int, int]:
    """Delete published messages past their retention, and delivery counts of abandoned runs."""
    now = timezone.now()
    messages, _ = OutboxMessage.objects.filter(
        published_at__lt=now - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    ).delete()
    # A run killed by its hard time limit is not redelivered and never deletes its count.
    deliveries, _ = TaskDelivery.objects.filter(started_at__lt=now - timedelta(days=1)).delete()
    return messages, deliveries
