"""A bulkhead: a bound on concurrent supplier calls in this process.

Past the bound a call is refused at once, like an open breaker, instead of queueing: a queue in
front of a slow supplier only turns its slowness into ours (every worker thread stuck waiting).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class BulkheadFull(Exception):
    pass


class Bulkhead:
    def __init__(self, max_concurrent: int) -> None:
        self.max_concurrent = max_concurrent
        self._slots = threading.BoundedSemaphore(max_concurrent)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            raise BulkheadFull(f"{self.max_concurrent} supplier calls already in flight")
        try:
            yield
        finally:
            self._slots.release()
