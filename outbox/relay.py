"""The relay: hand committed outbox messages to the broker, and again until their task has run.

A message is owed until its task has run (``outbox.completion``); publishing it only starts its
lease. ``relay`` gives a message its first hand-over (on commit, or from the sweep when that
relay never came: ``stranded_keys``). ``republish`` is the sweep's: a published message whose
lease ran out, whose task is not running (no delivery in progress younger than the task's hard
time limit) and which its queue cannot still hold (``outbox.broker.QueueHead``: the queue is
empty, or its oldest message was sent after this one's hand-over) was lost, with the broker's
data or with a killed worker, and is handed over again. Each hand-over doubles the lease
(``OUTBOX_LEASE_SECONDS`` up to ``OUTBOX_LEASE_MAX_SECONDS``); after
``OUTBOX_MAX_PUBLICATIONS`` the message is given up on and recorded as a failed task.

Messages are locked a batch at a time (``SKIP LOCKED`` on PostgreSQL, so two relays never wait
on each other), each published under the trace id of the transaction that recorded it and the
task id naming it (``outbox.completion.task_id_for``), and the batch's outcome recorded in one
UPDATE per lease length. A failed publish is counted and left for the next sweep; once the
broker has failed, the rest of the batch is not even tried (``outbox.broker.broker_state``).

Every function works on the messages of one database alias (``using``, ``default`` unless said):
each alias that publishes holds its own (``outbox.models.message_aliases``, docs/adr/0021), and
the sweep goes through each. Deliveries in progress and failed tasks are on ``default``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from observability import trace
from observability.metrics import OUTBOX_REPUBLISHED
from outbox import broker
from outbox.completion import task_id_for
from outbox.models import OWED, FailedTask, OutboxMessage, TaskDelivery, message_aliases

logger = structlog.get_logger(__name__)


BATCH = 100


def lease_for(publication: int) -> timedelta:
    """The lease of a message's ``publication``-th hand-over (1-based): doubling, capped."""
    seconds = settings.OUTBOX_LEASE_SECONDS * 2 ** min(max(publication - 1, 0), 20)
    return timedelta(seconds=min(seconds, settings.OUTBOX_LEASE_MAX_SECONDS))


def _messages(using: str) -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.using(using)


def relay(keys: Iterable[str], using: str = "default") -> int:
    """Publish the unpublished messages among ``keys``; return how many were published."""
    keys = list(keys)
    return sum(
        _relay_batch(keys[start : start + BATCH], using) for start in range(0, len(keys), BATCH)
    )


def _relay_batch(keys: list[str], using: str) -> int:
    with transaction.atomic(using=using):
        messages = list(
            _messages(using)
            .select_for_update(skip_locked=True)
            .filter(OWED, key__in=keys, published_at__isnull=True)
            .order_by("id")
        )  # published already, done, or held by another relay right now: not ours to publish
        return len(_hand_over(messages, using))


def _hand_over(messages: list[OutboxMessage], using: str) -> list[OutboxMessage]:
    """Publish each of ``messages`` (locked by the caller) and record the outcome; the sent ones.

    The hand-over time recorded is the one stamped on the messages (``SENT_AT_HEADER``), so
    that the sweep compares like with like when it peeks at a queue.
    """
    now = timezone.now()
    sent: list[OutboxMessage] = []
    failed: list[int] = []
    error = ""
    for message in messages:
        try:
            with trace.bound_trace_id(message.trace_id or None):
                broker.send(
                    message.task,
                    kwargs=message.kwargs,
                    task_id=task_id_for(message.key, using),
                    headers={broker.SENT_AT_HEADER: now.timestamp()},
                )
        except broker.BrokerUnavailable as unavailable:
            failed.append(message.pk)
            error = str(unavailable)
            continue
        sent.append(message)
    if failed:
        _messages(using).filter(pk__in=failed).update(
            attempts=F("attempts") + 1, last_error=error[:10_000]
        )
        logger.warning("outbox_publish_failed", messages=len(failed), error=error)
    by_publication: dict[int, list[int]] = defaultdict(list)
    for message in sent:
        by_publication[message.publications + 1].append(message.pk)
    for publication, pks in by_publication.items():
        _messages(using).filter(pk__in=pks).update(
            attempts=F("attempts") + 1,
            publications=publication,
            published_at=now,
            lease_expires_at=now + lease_for(publication),
            last_error="",
        )
    return sent


def stranded_keys(limit: int, using: str = "default") -> list[str]:
    """Unpublished messages older than the relay's grace period: their relay never came."""
    cutoff = timezone.now() - timedelta(seconds=settings.OUTBOX_RELAY_GRACE_SECONDS)
    return list(
        _messages(using)
        .filter(OWED, published_at__isnull=True, created_at__lt=cutoff)
        .order_by("id")
        .values_list("key", flat=True)[:limit]
    )


def _expired(now: datetime) -> Q:
    return OWED & Q(published_at__isnull=False, lease_expires_at__lte=now)


def presumed_lost(limit: int, using: str = "default") -> list[OutboxMessage]:
    """Published messages past their lease that nothing can still be holding, oldest lease first.

    Raises ``broker.BrokerUnavailable`` when the broker cannot be asked about its queues.
    """
    now = timezone.now()
    expired = _messages(using).filter(_expired(now))
    tasks = set(expired.order_by().values_list("task", flat=True).distinct())
    if not tasks:
        return []
    lost = Q(pk__in=[])
    for task, head in broker.queue_heads(tasks).items():
        left_behind = broker.left_behind(head)
        if left_behind is None:
            lost |= Q(task=task)  # nothing waits in its queue, or the lease is all we know
        else:
            lost |= Q(task=task, published_at__lt=left_behind)
    candidates = list(expired.filter(lost).order_by("lease_expires_at", "id")[:limit])
    running = set(
        TaskDelivery.objects.filter(
            task_id__in=[task_id_for(message.key, using) for message in candidates],
            started_at__gt=now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT),
        ).values_list("task_id", flat=True)
    )
    return [message for message in candidates if task_id_for(message.key, using) not in running]


def republish(limit: int, using: str = "default") -> int:
    """Hand over again the published messages presumed lost (the sweep); how many were sent."""
    try:
        lost = [message.pk for message in presumed_lost(limit, using)]
    except broker.BrokerUnavailable:
        return 0  # nothing can be handed over now; the next sweep looks again
    republished = 0
    for start in range(0, len(lost), BATCH):
        with transaction.atomic(using=using):
            now = timezone.now()
            messages = list(
                _messages(using)
                .select_for_update(skip_locked=True)
                .filter(_expired(now), pk__in=lost[start : start + BATCH])
                .order_by("id")
            )  # done or handed over by someone else meanwhile: left alone
            spent = [m for m in messages if m.publications >= settings.OUTBOX_MAX_PUBLICATIONS]
            _give_up(spent, now, using)
            sent = _hand_over([m for m in messages if m not in spent], using)
        for message in sent:
            OUTBOX_REPUBLISHED.labels(task=message.task).inc()
        republished += len(sent)
    return republished


def _give_up(messages: list[OutboxMessage], now: datetime, using: str) -> None:
    """Record as failed tasks the messages handed over as often as allowed without finishing.

    The failed-task table is on ``default``: for a message on another alias it is written first,
    on its own (an upsert), so a rollback of the message's side gives up again, harmlessly.
    """
    for message in messages:
        logger.error("outbox_message_given_up", key=message.key, publications=message.publications)
        FailedTask.objects.update_or_create(
            task_id=task_id_for(message.key, using),
            defaults={
                "task": message.task,
                "args": [],
                "kwargs": message.kwargs,
                "reason": "unfinished",
                "error": f"handed to the broker {message.publications} times since "
                f"{message.created_at:%Y-%m-%d %H:%M:%S} UTC, never run to its end",
                "deliveries": message.publications,
                "trace_id": message.trace_id,
                "requeued_at": None,
            },
        )
    _messages(using).filter(pk__in=[m.pk for m in messages]).update(failed_at=now)


def hand_over_again(key: str, using: str = "default") -> bool:
    """A message given up on (or failed) is owed again, from its first lease (the admin's
    "run again"); False when there is no such message."""
    updated = (
        _messages(using)
        .filter(key=key)
        .update(
            done_at=None, failed_at=None, published_at=None, lease_expires_at=None, publications=0
        )
    )
    if updated:
        relay([key], using)
    return bool(updated)


def purge_old_records() -> tuple[int, int]:
    """Delete done messages past their retention, on every alias, and delivery counts of
    abandoned runs."""
    now = timezone.now()
    cutoff = now - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    messages = sum(
        _messages(alias).filter(done_at__lt=cutoff).delete()[0] for alias in message_aliases()
    )
    # A run killed by its hard time limit is not redelivered and never deletes its count.
    deliveries, _ = TaskDelivery.objects.filter(started_at__lt=now - timedelta(days=1)).delete()
    return messages, deliveries
