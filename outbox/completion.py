"""Completion, not publication, ends an outbox message (docs/adr/0015).

The relay publishes a message's task under a task id naming the message (``task_id_for``: its
key, and its database alias when that is not ``default``), the same id every time it hands the
message over, so the task run knows which message it pays (``message_of``) and the redelivery
cap (``outbox.reliability``) counts its deliveries across hand-overs. The run marks its message:

- **done** when the task returns. A receiver whose effect is written on ``default``, beside its
  message, marks it inside the very transaction that commits the effect
  (``done_in_this_transaction``): the effect and the mark commit together or not at all. Any
  other task (its effect on another database than its message's, or nothing left to do) is
  marked right after it returns, that is after its effect committed; a process killed between
  the two leaves the message owed, and the next delivery finds the effect through the
  receiver's idempotency key (or its version), does nothing, and marks it.
- **retrying**: its lease is stretched to cover the countdown, so the sweep does not hand over
  again a message whose retry is merely waiting for its time.
- **failed** when the task fails for good (its retries spent, its worker killed too often):
  the sweep stops; the failed-task table and its alert take over.

Infrastructure: imports no app. Models are imported where used: the Celery app's task class
imports this module before Django's apps are ready.
"""

from __future__ import annotations

import numbers
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from outbox.models import OutboxMessage

TASK_ID_PREFIX = "outbox:"
# A message on another alias than ``default``: ``outbox@<alias>:<key>``.
_ALIAS_MARK = "outbox@"


@dataclass(frozen=True)
class MessageRef:
    """Which message a task run pays: its key, on the database alias that holds it."""

    key: str
    alias: str = "default"


def task_id_for(key: str, alias: str = "default") -> str:
    if alias == "default":
        return f"{TASK_ID_PREFIX}{key}"
    return f"{_ALIAS_MARK}{alias}:{key}"


def message_of(task_id: str | None) -> MessageRef | None:
    """The message a task id was published for, None for a task the outbox did not send."""
    if not task_id:
        return None
    if task_id.startswith(TASK_ID_PREFIX):
        return MessageRef(task_id[len(TASK_ID_PREFIX) :])
    if task_id.startswith(_ALIAS_MARK):
        alias, colon, key = task_id[len(_ALIAS_MARK) :].partition(":")
        if alias and colon:
            return MessageRef(key, alias)
    return None


@dataclass
class _Run:
    message: MessageRef
    marked: bool = False


_current: ContextVar[_Run | None] = ContextVar("outbox_current_run", default=None)


def begin(task_id: str | None) -> tuple[_Run | None, Token[_Run | None]]:
    """Start paying the message of ``task_id`` (if the outbox sent it) in this context."""
    message = message_of(task_id)
    run = _Run(message) if message is not None else None
    return run, _current.set(run)


def end(token: Token[_Run | None]) -> None:
    _current.reset(token)


def done_in_this_transaction() -> None:
    """Mark the message the running task pays as done, in the caller's ``default`` transaction.

    For receivers whose effect is written on ``default``: call it inside the atomic block that
    writes the effect. A no-op outside an outbox task (a web request, a task sent otherwise), and
    for a message held on another alias (no transaction spans two: it is marked when the task
    returns).
    """
    run = _current.get()
    if run is None or run.marked or run.message.alias != "default":
        return
    _mark_done(run.message)

    def committed() -> None:
        run.marked = True

    transaction.on_commit(committed)


def _messages(message: MessageRef) -> QuerySet[OutboxMessage]:
    from outbox.models import OutboxMessage

    return OutboxMessage.objects.using(message.alias).filter(key=message.key)


def _mark_done(message: MessageRef) -> None:
    _messages(message).filter(done_at__isnull=True).update(done_at=timezone.now())


def finished(run: _Run | None) -> None:
    """The task returned: its message is done, unless its transaction said so already."""
    if run is None or run.marked:
        return
    _mark_done(run.message)
    run.marked = True


def retrying(run: _Run | None, when: object) -> None:
    """The task will run again at ``when`` (a countdown in seconds, or a datetime)."""
    from outbox.models import OWED

    if run is None:
        return
    now = timezone.now()
    if isinstance(when, datetime):
        due = when
    elif isinstance(when, numbers.Real):
        due = now + timedelta(seconds=float(when))
    else:
        due = now
    lease_until = max(due, now) + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    _messages(run.message).filter(OWED).update(lease_expires_at=lease_until)


def failed_for_good(task_id: str | None) -> None:
    """The task failed for good: no more hand-overs (the failed-task table has it now)."""
    from outbox.models import OWED

    message = message_of(task_id)
    if message is not None:
        _messages(message).filter(OWED).update(failed_at=timezone.now())
