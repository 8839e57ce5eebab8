"""The broker as the outbox uses it: publishing that never waits long, and what a queue holds.

**Publishing** (``send``): every hand-over the project makes from a request, an on-commit relay or
a sweep goes through here. Each thread keeps its own connection with short connect and socket
timeouts (``BROKER_PUBLISH_TIMEOUT_SECONDS``, 0.25 s), publishes once (no kombu retry loop: a
failed publish is left to the sweep, the row that owes the work is committed already), and
``broker_state`` (``observability.dependencies.Unreachable``) stops every caller but one per
second from trying while the broker is down. A request thus waits at most one short timeout per
second per process on a sick broker, and usually not at all (docs/adr/0015).

**Peeking** (``queue_head``): Redis queues are FIFO lists, so the oldest message still waiting in
a queue says which hand-overs may still be waiting behind it: one handed over before the head
was sent is not in that queue any more (taken by a worker, or lost with the broker's data).
Every message carries the time it was sent (``SENT_AT_HEADER``, added to every publish by
``stamp_sent_at``), so the sweeps can hand over again what a broker lost without duplicating
a herd that is merely waiting its turn. Other transports cannot be peeked: their queues are
``unknown`` and the sweeps fall back on the lease alone.

Infrastructure: imports no app (only Celery, kombu, Django settings and ``observability``).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from celery import current_app
from celery.signals import before_task_publish
from django.conf import settings
from kombu import Connection
from kombu.exceptions import ChannelError

from observability.dependencies import Unreachable
from observability.metrics import BROKER_PUBLISHES

logger = structlog.get_logger(__name__)

# While the broker is down, a process tries it this often; every other publish skips at once.
RETRY_AFTER_SECONDS = 1.0
SENT_AT_HEADER = "monolithos_sent_at"
# The sending hosts' clocks and the sweeping host's may disagree by this much.
CLOCK_SLACK = timedelta(seconds=2)

broker_state = Unreachable("broker", retry_after=RETRY_AFTER_SECONDS)
_local = threading.local()


class BrokerUnavailable(Exception):
    """The broker did not take the message (or was not tried: it failed a moment ago)."""


@before_task_publish.connect(dispatch_uid="outbox.stamp_sent_at")
def stamp_sent_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Every message says when it was sent (the outbox's relay sets its own hand-over time)."""
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())


def _connection() -> Connection:
    """This thread's publishing connection, with short timeouts (a new one after a fork)."""
    held: tuple[int, Connection] | None = getattr(_local, "held", None)
    if held is not None and held[0] == os.getpid():
        return held[1]
    timeout = settings.BROKER_PUBLISH_TIMEOUT_SECONDS
    options = {
        **(current_app.conf.broker_transport_options or {}),
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    connection: Connection = current_app.connection_for_write(
        connect_timeout=timeout, transport_options=options
    )
    _local.held = (os.getpid(), connection)
    return connection


def _drop_connection() -> None:
    held: tuple[int, Connection] | None = getattr(_local, "held", None)
    _local.held = None
    if held is not None and held[0] == os.getpid():
        # A broken connection may fail to close; it is dropped either way.
        with contextlib.suppress(Exception):
            held[1].release()


def _attempt(operation: str) -> None:
    if not broker_state.should_try():
        BROKER_PUBLISHES.labels(outcome="skipped").inc()
        down = broker_state.down_for() or 0.0
        raise BrokerUnavailable(
            f"broker unreachable for {down:.0f} s ({broker_state.last_error}); {operation} "
            f"not tried"
        )


def _failed(operation: str, error: Exception) -> BrokerUnavailable:
    _drop_connection()
    if broker_state.failed(error):
        logger.warning("broker_unreachable", operation=operation, error=repr(error))
    return BrokerUnavailable(f"{operation} failed: {error!r}")


def send(
    task: str,
    *,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    task_id: str | None = None,
    headers: dict[str, Any] | None = None,
) -> None:
    """Publish ``task`` once, within the short timeouts; raises BrokerUnavailable otherwise."""
    _attempt("publish")
    try:
        current_app.send_task(
            task,
            args=args,
            kwargs=kwargs,
            task_id=task_id,
            headers=headers,
            connection=_connection(),
            retry=False,
        )
    except Exception as error:
        BROKER_PUBLISHES.labels(outcome="failed").inc()
        raise _failed("publish", error) from error
    broker_state.succeeded()
    BROKER_PUBLISHES.labels(outcome="sent").inc()


def queue_of(task: str) -> str:
    """The queue the settings route ``task`` to."""
    route: dict[str, Any] = current_app.amqp.router.route({}, task)
    return str(route["queue"].name)


@dataclass(frozen=True)
class QueueHead:
    """The oldest message waiting in a queue, as far as the broker can tell.

    ``known`` False: this broker cannot be peeked (not Redis); the sweeps then go by the lease
    alone. Otherwise ``sent_at`` is when the oldest waiting message was sent (epoch seconds),
    None for an empty queue; ``unstamped``: the head carries no time (sent by an older
    process), so nothing can be said about what waits behind it.
    """

    known: bool
    sent_at: float | None = None
    unstamped: bool = False

    def passed(self, handed_over_at: float, *, slack: float) -> bool:
        """True when a message handed over at ``handed_over_at`` cannot be waiting here.

        The queue is empty, or its oldest message was sent after it (by more than ``slack``,
        for clocks that disagree): FIFO, so everything handed over before the head has left.
        """
        if not self.known or self.unstamped:
            return False
        return self.sent_at is None or self.sent_at > handed_over_at + slack


UNKNOWN = QueueHead(known=False)


def queue_head(queue: str) -> QueueHead:
    """Peek at ``queue``; raises BrokerUnavailable when the broker does not answer."""
    _attempt("peek")
    connection = _connection()
    try:
        if connection.transport.driver_type != "redis":
            return UNKNOWN
        channel: Any = connection.default_channel  # kombu's channels are untyped
        # kombu pushes on the left and workers pop on the right: index -1 is the oldest.
        raw = channel.client.lindex(queue, -1)
    except Exception as error:
        raise _failed("peek", error) from error
    broker_state.succeeded()
    if raw is None:
        return QueueHead(known=True)
    try:
        sent_at = json.loads(raw)["headers"][SENT_AT_HEADER]
        return QueueHead(known=True, sent_at=float(sent_at))
    except (ValueError, KeyError, TypeError):
        return QueueHead(known=True, unstamped=True)  # sent by a process without the stamp


def queue_depths(queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each queue (0 for one never declared: nothing was sent to it)."""
    _attempt("count")
    connection = _connection()
    depths: dict[str, int] = {}
    try:
        channel: Any = connection.default_channel
        for queue in queues:
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except ChannelError:
                depths[queue] = 0
    except Exception as error:
        raise _failed("count", error) from error
    broker_state.succeeded()
    return depths


def ping() -> None:
    """Raise BrokerUnavailable unless the broker answers, within the short timeouts."""
    _attempt("ping")
    try:
        channel: Any = _connection().default_channel
        client = getattr(channel, "client", None)  # Redis: a round trip; others: connected
        if client is not None:
            client.ping()
    except Exception as error:
        raise _failed("ping", error) from error
    broker_state.succeeded()


def queue_heads(tasks: set[str]) -> dict[str, QueueHead]:
    """The head of the queue of each of ``tasks``, one peek per queue."""
    heads: dict[str, QueueHead] = {}
    by_queue: dict[str, QueueHead] = {}
    for task in tasks:
        queue = queue_of(task)
        if queue not in by_queue:
            by_queue[queue] = queue_head(queue)
        heads[task] = by_queue[queue]
    return heads


def left_behind(head: QueueHead) -> datetime | None:
    """The time before which a hand-over cannot be waiting in a queue with this ``head``.

    None when there is no such limit to tell: the queue is empty (nothing waits, whenever it
    was handed over), or the broker cannot be peeked (the lease is all there is to go by).
    """
    if not head.known or head.unstamped or head.sent_at is None:
        return None
    return datetime.fromtimestamp(head.sent_at, tz=UTC) - CLOCK_SLACK
