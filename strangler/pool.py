"""Where shadow candidates of reads run: a bounded pool of threads, or inline (tests).

The pool has STRANGLER_SHADOW_WORKERS threads and as many waiting places; a candidate that finds
it full is not run at all (``skipped``), so a slow new handler can never pile work up behind the
requests. A candidate submitted while a request is served starts once its answer has left
(Django's ``request_finished``, sent when the server closes the response), so it shares the
process with the next request at most, never with the rest of its own (the middleware, the
final log line); submitted outside a request, it starts at once. Its place is taken when it is
submitted and it runs in a copy of the submitter's context (trace id, log fields).

Each candidate uses its pool thread's own database connections. A pool thread keeps them from
one candidate to the next, even where CONN_MAX_AGE is 0 (a connection per request: the SQLite
default here): opening them took a quarter of the track route's candidate (docs/adr/0016), and
the threads are few. A connection that failed and no longer works, or one older than a
CONN_MAX_AGE above 0, is closed as Django closes a request's.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from django.core.signals import request_finished, request_started
from django.db import connections

T = TypeVar("T")

_thread = threading.local()
"""``after_response``: the starts of candidates waiting for this thread's answer to leave."""


def recycle_connections() -> None:
    """Django's check between requests, with connections of CONN_MAX_AGE 0 kept."""
    for connection in connections.all(initialized_only=True):
        if connection.settings_dict["CONN_MAX_AGE"] == 0:
            connection.close_at = None
        connection.close_if_unusable_or_obsolete()


def _start_waiting() -> None:
    for start in _thread.__dict__.pop("after_response", ()):
        start()


def _request_started(**_: Any) -> None:
    _start_waiting()  # left by a response that was never closed: late, but never lost
    _thread.after_response = []


def _request_finished(**_: Any) -> None:
    _start_waiting()


def start_after_responses() -> None:
    """Hold candidates submitted during a request until its answer has left (idempotent)."""
    request_started.connect(_request_started, dispatch_uid="strangler.pool.request_started")
    request_finished.connect(_request_finished, dispatch_uid="strangler.pool.request_finished")


class Executor(Protocol):
    def try_submit(self, work: Callable[[], T]) -> Future[T] | None:
        """Start ``work``; None when there is no room for it."""


class BoundedPool:
    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="strangler-shadow")
        self._room = threading.BoundedSemaphore(workers * 2)

    def try_submit(self, work: Callable[[], T]) -> Future[T] | None:
        if not self._room.acquire(blocking=False):
            return None
        context = contextvars.copy_context()
        future: Future[T] = Future()

        def run() -> None:
            recycle_connections()
            try:
                future.set_result(context.run(work))
            except BaseException as error:
                future.set_exception(error)
            finally:
                recycle_connections()
                self._room.release()

        def start() -> None:
            try:
                self._executor.submit(run)
            except RuntimeError:  # shutting down
                self._room.release()
                future.cancel()

        waiting = getattr(_thread, "after_response", None)
        if waiting is None:
            start()
        else:
            waiting.append(start)
        return future


class InlineExecutor:
    """Runs each candidate at once, in the caller's thread (tests; time from the route's clock)."""

    def try_submit(self, work: Callable[[], T]) -> Future[T] | None:
        future: Future[T] = Future()
        try:
            future.set_result(work())
        except BaseException as error:
            future.set_exception(error)
        return future
