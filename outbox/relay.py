"""The relay: publish committed outbox messages to the broker, each one once if it can.

Messages are locked a batch at a time (``SKIP LOCKED`` on PostgreSQL, so two relays never wait
on each other), each published under the trace id of the transaction that recorded it, and the
batch marked published in one UPDATE. A failed publish is counted and left for the next sweep.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import structlog
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from observability import trace
from outbox.models import OutboxMessage, TaskDelivery

logger = structlog.get_logger(__name__)


BATCH = 100


def relay(keys: Iterable[str]) -> int:
    """Publish the unpublished messages among ``keys``; return how many were published."""
    keys = list(keys)
    return sum(_relay_batch(keys[start : start + BATCH]) for start in range(0, len(keys), BATCH))


def _relay_batch(keys: list[str]) -> int:
    """One transaction for up to BATCH messages: lock them, publish each, record the outcome."""
    with transaction.atomic():
        messages = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(key__in=keys, published_at__isnull=True)
            .order_by("id")
        )  # published already, or held by another relay right now: not ours to publish
        published: list[int] = []
        for message in messages:
            try:
                with trace.bound_trace_id(message.trace_id or None):
                    current_app.send_task(message.task, kwargs=message.kwargs)
            except Exception as error:
                OutboxMessage.objects.filter(pk=message.pk).update(
                    attempts=F("attempts") + 1, last_error=repr(error)
                )
                logger.warning("outbox_publish_failed", key=message.key, error=repr(error))
                continue
            published.append(message.pk)
        OutboxMessage.objects.filter(pk__in=published).update(
            attempts=F("attempts") + 1, published_at=timezone.now()
        )
    return len(published)


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
