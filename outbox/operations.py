"""What an operator does with the outbox: see what is owed, run failed work again, purge history.

Shared by ``manage.py outbox`` and the admin's actions, so that both do the same thing:

- ``status``: per task, the messages owed (unpublished, published, past their lease), given up
  on, done, and the failed tasks not yet run again;
- ``retry``: a failed task runs again. Each is claimed first, by one conditional ``UPDATE``
  (``requeued_at`` still empty), so that two operators, or the admin and a command, run it
  once; then its outbox message is owed again from its first lease (``relay.hand_over_again``)
  or, for a task the outbox did not send, the task is published anew with the same arguments
  (the tasks are idempotent). A publish that fails undoes the claim: nothing is lost, the task
  stays failed, and the caller is told;
- ``purge_done``: done messages older than a cutoff are deleted, a batch at a time. Owed
  messages (not done) and messages given up on are never selected: the outbox owes the first,
  and a person decides about the second (docs/runbook.md, "Queue backlog").

Infrastructure, like the rest of the package: imports no app.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

import structlog
from django.db import transaction
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from observability import trace
from outbox import broker, completion, owed, relay
from outbox.models import OWED, FailedTask, OutboxMessage, message_aliases

logger = structlog.get_logger(__name__)

PURGE_BATCH = 1000


@dataclass(frozen=True)
class TaskStatus:
    task: str
    owed: int = 0  # not done, not given up on
    unpublished: int = 0  # owed, never handed to the broker
    past_lease: int = 0  # owed, and past its relay grace or its lease
    given_up: int = 0  # handed over OUTBOX_MAX_PUBLICATIONS times, or failed for good
    done: int = 0
    failed_tasks: int = 0  # in the failed-task table, not run again yet
    oldest_owed: datetime | None = None


def status(now: datetime | None = None) -> list[TaskStatus]:
    """Every task the outbox (on every alias that holds messages) or the failed-task table
    knows, by name."""
    now = now or timezone.now()
    rows = [
        row
        for alias in message_aliases()
        for row in OutboxMessage.objects.using(alias)
        .values("task")
        .annotate(
            owed=Count("pk", filter=OWED),
            unpublished=Count("pk", filter=OWED & Q(published_at__isnull=True)),
            past_lease=Count("pk", filter=OWED & owed.past_lease(now)),
            given_up=Count("pk", filter=Q(done_at__isnull=True, failed_at__isnull=False)),
            done=Count("pk", filter=Q(done_at__isnull=False)),
            oldest_owed=Min("created_at", filter=OWED),
        )
        .order_by()
    ]
    tasks: dict[str, TaskStatus] = {}
    for row in rows:
        counted = TaskStatus(**row)
        known = tasks.get(counted.task)
        tasks[counted.task] = counted if known is None else _added(known, counted)
    failed = (
        FailedTask.objects.filter(requeued_at__isnull=True)
        .values("task")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for failing in failed:
        known = tasks.get(failing["task"], TaskStatus(failing["task"]))
        tasks[failing["task"]] = replace(known, failed_tasks=failing["count"])
    return [tasks[name] for name in sorted(tasks)]


def _added(known: TaskStatus, other: TaskStatus) -> TaskStatus:
    """The counts of one task on two aliases, added."""
    oldest = [when for when in (known.oldest_owed, other.oldest_owed) if when is not None]
    return replace(
        known,
        owed=known.owed + other.owed,
        unpublished=known.unpublished + other.unpublished,
        past_lease=known.past_lease + other.past_lease,
        given_up=known.given_up + other.given_up,
        done=known.done + other.done,
        oldest_owed=min(oldest, default=None),
    )


@dataclass
class Retried:
    owed_again: list[str] = field(default_factory=list)  # task ids: their message is owed again
    sent_again: list[str] = field(default_factory=list)  # task ids: published anew
    already: list[str] = field(default_factory=list)  # task ids run again before (or meanwhile)

    @property
    def count(self) -> int:
        return len(self.owed_again) + len(self.sent_again)


def retry(failed: QuerySet[FailedTask], *, actor: str) -> Retried:
    """Run ``failed`` again, each once whoever else is doing the same.

    Raises ``broker.BrokerUnavailable`` when a task the outbox did not send cannot be published
    (its claim undone, the tasks before it run again).
    """
    retried = Retried()
    for pk, task_id in failed.order_by("pk").values_list("pk", "task_id"):
        with transaction.atomic():
            claimed = FailedTask.objects.filter(pk=pk, requeued_at__isnull=True).update(
                requeued_at=timezone.now()
            )
            if not claimed:
                retried.already.append(task_id)
                continue
            row = FailedTask.objects.get(pk=pk)
            message = completion.message_of(row.task_id)
            if message is not None and relay.hand_over_again(message.key, message.alias):
                retried.owed_again.append(task_id)
            else:
                with trace.bound_trace_id(row.trace_id or None):
                    broker.send(row.task, args=row.args, kwargs=row.kwargs)
                retried.sent_again.append(task_id)
    if retried.count:
        logger.warning(
            "outbox_failed_tasks_retried",
            actor=actor,
            owed_again=len(retried.owed_again),
            sent_again=len(retried.sent_again),
        )
    return retried


def failed_tasks(names: Iterable[str]) -> tuple[QuerySet[FailedTask], list[str]]:
    """The failed tasks named by outbox key or task id, and the names that match none."""
    names = list(names)
    aliases = message_aliases()
    ids = {
        name: {name, *(completion.task_id_for(name, alias) for alias in aliases)} for name in names
    }
    found = FailedTask.objects.filter(task_id__in={i for both in ids.values() for i in both})
    known = set(found.values_list("task_id", flat=True))
    return found, [name for name in names if not ids[name] & known]


def done_before(cutoff: datetime, using: str = "default") -> QuerySet[OutboxMessage]:
    """The done messages older than ``cutoff`` on ``using``: what a purge deletes (never an owed
    one)."""
    return OutboxMessage.objects.using(using).filter(done_at__isnull=False, done_at__lt=cutoff)


def count_done_before(cutoff: datetime) -> int:
    """How many messages a purge with ``cutoff`` would delete, on every alias."""
    return sum(done_before(cutoff, alias).count() for alias in message_aliases())


def purge_done(cutoff: datetime, *, actor: str) -> int:
    """Delete the done messages older than ``cutoff`` on every alias, a batch at a time; how many
    went."""
    purged = 0
    for alias in message_aliases():
        while True:
            done = done_before(cutoff, alias)
            batch = list(done.order_by("pk").values_list("pk", flat=True)[:PURGE_BATCH])
            if not batch:
                break
            # done_at is read again under the delete: a message owed again meanwhile (a sweep's
            # publish_again) is not done any more, and stays.
            deleted, _ = done_before(cutoff, alias).filter(pk__in=batch).delete()
            purged += deleted
    logger.warning("outbox_done_messages_purged", actor=actor, count=purged, before=cutoff)
    return purged
