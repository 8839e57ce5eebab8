"""Where shadow candidates of reads run: a bounded pool of threads, or inline (tests).

The pool has STRANGLER_SHADOW_WORKERS threads and as many waiting places; a candidate that finds
it full is not run at all (``skipped``), so a slow new handler can never pile work up behind the
requests. Each candidate runs in a copy of the request's context (trace id, log fields) and
with its own database connections, closed when they are too old as Django does between
requests.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar

from django.db import close_old_connections

T = TypeVar("T")


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
            close_old_connections()
            try:
                return context.run(work)
            finally:
                close_old_connections()
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
