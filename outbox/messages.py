"""The writer's side of the outbox: record tasks in the caller's transaction.

``publish`` stores each message in the same ``default`` transaction as the data it refers to and
arranges for the relay task to be enqueued once that transaction commits. A rolled-back
transaction takes its messages with it; a process that dies between the commit and the enqueue
leaves them to ``outbox.tasks.sweep_outbox``. Receivers must be idempotent: a message can be
published twice (a relay that dies after the broker accepted the task and before it recorded
that), never zero times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog
from django.db import transaction

from observability import trace

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Message:
    """A Celery task by name, its JSON keyword arguments, and the key that makes it unique."""

    task: str
    key: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def publish(*messages: Message) -> None:
    """Record ``messages`` in the current transaction; relay them after it commits.

    A key already recorded is ignored, so a writer that runs twice publishes once. One INSERT
    and, after the commit, one broker message for the whole batch.
    """
    from outbox.models import OutboxMessage

    trace_id = trace.current_trace_id() or ""
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(key=m.key, task=m.task, kwargs=m.kwargs, trace_id=trace_id)
            for m in messages
        ],
        ignore_conflicts=True,
    )
    keys = [m.key for m in messages]
    transaction.on_commit(lambda: _enqueue_relay(keys))


def _enqueue_relay(keys: list[str]) -> None:
    from outbox.tasks import relay_messages

    try:
        relay_messages.delay(keys)
    except Exception:
        # The messages are committed: the sweep relays them once the broker is back.
        logger.warning("outbox_relay_not_enqueued", keys=keys, exc_info=True)
