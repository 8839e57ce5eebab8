"""Where shadow candidates of reads run: a bounded pool of threads, or inline (tests).

The pool has STRANGLER_SHADOW_WORKERS threads and as many waiting places; a candidate that finds
it full is not run at all (``skipped``), so a slow new handler can never pile work up behind the
requests. Each candidate runs in a copy of the request's context (trace id, log fields) and
with its pool thread's own database connections. A pool thread keeps them from one candidate to
the next, even where CONN_MAX_AGE is 0 (a connection per request: the SQLite default here):
opening a connection cost the track route's candidate more than its queries (44 % of its CPU
time, docs/adr/0016), and the threads are few. A connection that failed and no longer works, or
one older than a CONN_MAX_AGE above 0, is closed as Django closes a request's.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar

from django.db import connections

T = TypeVar("T")


def recycle_connections() -> None:
    """Django's check between requests, with connections of CONN_MAX_AGE 0 kept."""
    for connection in connections.all(initialized_only=True):
        if connection.settings_dict["CONN_MAX_AGE"] == 0:
            connection.close_at = None
        connection.close_if_unusable_or_obsolete()


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

        def run() -> T:
            recycle_connections()
            try:
                return context.run(work)
            finally:
                recycle_connections()
                self._room.release()

        try:
            return self._executor.submit(run)
        except RuntimeError:  # shutting down
            self._room.release()
            return None


class InlineExecutor:
    """Runs each candidate at once, in the caller's thread (tests; time from the route's clock)."""

    def try_submit(self, work: Callable[[], T]) -> Future[T] | None:
        future: Future[T] = Future()
        try:
            future.set_result(work())
        except BaseException as error:
            future.set_exception(error)
        return future
