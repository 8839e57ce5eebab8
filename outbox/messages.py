"""The writer's side of the outbox: record tasks in the caller's transaction.

``publish`` stores each message in the same transaction as the data it refers to, on that data's
database alias (``using``: ``default``, or ``logistics`` for the shipment's events, docs/adr/0021),
and arranges for the relay task to be enqueued once that transaction commits. A rolled-back
transaction takes its messages with it; a process that dies between the commit and the enqueue
leaves them to ``outbox.tasks.sweep_outbox``. A message is owed until its task has run, not
until the broker took it (docs/adr/0015): the sweep hands it over again when the broker or a
worker lost it. Receivers must be idempotent: a message can be delivered twice (a relay that
dies after the broker accepted the task and before it recorded that, a hand-over again of a
message that was only slow), never zero times.

``publish_again`` is for the sweeps that find work owed with no message owing it any more;
``outstanding_message`` is how their queries tell (a message not done: owed, or given up on and
waiting for a person).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog
from celery import current_task
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from observability import trace

logger = structlog.get_logger(__name__)

RELAY_TASK = "outbox.tasks.relay_messages"


@dataclass(frozen=True)
class Message:
    """A Celery task by name, its JSON keyword arguments, and the key that makes it unique."""

    task: str
    key: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def publish(*messages: Message, using: str = "default") -> None:
    """Record ``messages`` in the current transaction on ``using``; relay them after it commits.

    A key already recorded is ignored, so a writer that runs twice publishes once. One INSERT
    per call and, after the commit, one broker message per transaction, however many calls
    (an order and its two mails are relayed together).
    """
    from outbox.models import OutboxMessage

    trace_id = trace.current_trace_id() or ""
    OutboxMessage.objects.using(using).bulk_create(
        [
            OutboxMessage(key=m.key, task=m.task, kwargs=m.kwargs, trace_id=trace_id)
            for m in messages
        ],
        ignore_conflicts=True,
    )
    _relay_when_committed(messages, using)


def publish_again(*messages: Message) -> None:
    """Make ``messages`` owed again, in the current transaction; relay them after it commits.

    For a sweep that found work owed (an order without its shipment, an invoice not rendered)
    whose message is done or was never recorded: a key never recorded is recorded; a done one
    is owed again with the new arguments, its history (publications, the cap) kept; one still
    owed, or given up on (a person decides, from the failed tasks), is left alone.
    """
    from outbox.models import OutboxMessage

    with transaction.atomic(savepoint=False):
        for message in messages:
            OutboxMessage.objects.filter(key=message.key, done_at__isnull=False).update(
                task=message.task,
                kwargs=message.kwargs,
                trace_id=trace.current_trace_id() or "",
                done_at=None,
                published_at=None,
                lease_expires_at=None,
                last_error=f"owed again: its work was found missing at {timezone.now():%c}",
            )
        publish(*messages)


def outstanding_message(key: str) -> Exists:
    """For a sweep's queryset: there is a message not done whose key is the row's ``key``.

    ``key`` names an annotation (or field) of the outer query holding the outbox key.
    """
    from outbox.models import OutboxMessage

    return Exists(OutboxMessage.objects.filter(key=OuterRef(key), done_at__isnull=True))


def _relay_when_committed(messages: tuple[Message, ...], using: str) -> None:
    keys = [m.key for m in messages]
    relay = _relay_after_commit(using)
    if relay is not None:
        relay.keys += keys
    else:
        # In autocommit (no transaction open) this runs at once: it is given its keys first.
        transaction.on_commit(_Relay(using, keys), using=using)


class _Relay:
    """The on-commit callback of one transaction: relays all its messages.

    In a web request it enqueues the relay task, so the request waits on one broker message
    however many it wrote; in a Celery task (a worker writing on its own) it relays them
    itself, at once, sparing a task and a round trip through the queue.
    """

    def __init__(self, using: str, keys: list[str]) -> None:
        self.using = using
        self.keys = keys
        self.in_worker = bool(current_task)  # the writer runs a Celery task

    def __call__(self) -> None:
        from outbox import broker, relay

        try:
            if self.in_worker:
                relay.relay(self.keys, self.using)
            else:
                # Short timeouts, no retry loop: the request never waits on a sick broker.
                broker.send(RELAY_TASK, args=[self.keys], kwargs={"using": self.using})
        except Exception as error:
            # The messages are committed: the sweep relays them once the broker is back.
            logger.warning(
                "outbox_relay_not_enqueued", keys=self.keys, alias=self.using, error=repr(error)
            )


def _relay_after_commit(using: str) -> _Relay | None:
    """The relay this transaction registered already, if any and not discarded by a rollback.

    Keys added from a savepoint that rolls back later stay in its list; the relay skips them,
    since no such message was committed.
    """
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        return None  # autocommit: on_commit runs at once
    for _savepoints, callback, _robust in connection.run_on_commit:
        if isinstance(callback, _Relay):
            return callback
    return None
