"""Traffic counts per route and minute for the ops panel: counted in memory, stored in batches.

The facade counts each request by route and the side that answered, and the publisher each
shadow comparison, in this process's ``TrafficCounter``: one dict increment under a lock, no
I/O, so the request path never writes. A daemon thread (``Flusher``) adds what was counted to
``TrafficMinute`` every STRANGLER_TRAFFIC_FLUSH_SECONDS: per (route, minute) that moved, one
``UPDATE ... SET legacy = legacy + n`` (an INSERT the first time, its race with another
process's INSERT settled by the unique key), so processes add up and never overwrite each
other. Counts that could not be stored (the database away) are kept for the next flush; the
last ones are flushed when the process exits. The panel therefore lags the requests by at
most one flush interval, which is what a per-minute figure can afford.

Prometheus counts the same requests (``strangler.metrics``); the panel must not need it.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import structlog
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import F

from strangler.models import TrafficMinute

logger = structlog.get_logger(__name__)

LEGACY, NEW, COMPARED, MISMATCHED = "legacy", "new", "compared", "mismatched"
FIELDS = (LEGACY, NEW, COMPARED, MISMATCHED)

Pending = dict[tuple[str, int], Counter[str]]


class TrafficCounter:
    """This process's counts not stored yet, by (route, minute since the epoch) and field."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: Pending = defaultdict(Counter)

    def count(self, route: str, field: str, n: int = 1) -> None:
        minute = int(self._clock() // 60)
        with self._lock:
            self._pending[(route, minute)][field] += n

    def forget(self) -> None:
        """Start afresh (a forked child): a lock held at the fork would never be released."""
        self._lock = threading.Lock()
        self._pending = defaultdict(Counter)

    def pending(self) -> Pending:
        with self._lock:
            return {key: Counter(counts) for key, counts in self._pending.items()}

    def flush(self) -> int:
        """Store what was counted; the number of (route, minute) rows it moved (0 on failure,
        the counts then kept for the next flush)."""
        with self._lock:
            taken, self._pending = self._pending, defaultdict(Counter)
        if not taken:
            return 0
        try:
            store(taken)
        except Exception:
            logger.warning("strangler_traffic_not_stored", rows=len(taken), exc_info=True)
            with self._lock:
                for key, counts in taken.items():
                    self._pending[key].update(counts)
            return 0
        return len(taken)


def minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


def store(pending: Mapping[tuple[str, int], Mapping[str, int]]) -> None:
    """Add ``pending`` to the stored counts, in one transaction; rows in key order, so two
    processes flushing at once take their row locks in the same order."""
    with transaction.atomic(using=_alias()):
        for (route, minute), counts in sorted(pending.items()):
            start = minute_start(minute)
            moved = {field: n for field, n in counts.items() if n}
            increments = {field: F(field) + n for field, n in moved.items()}
            rows = TrafficMinute.objects.filter(route=route, minute=start)
            if rows.update(**increments):
                continue
            try:
                with transaction.atomic(using=_alias()):
                    TrafficMinute.objects.create(route=route, minute=start, **moved)
            except IntegrityError:  # another process inserted the minute first
                rows.update(**increments)


def _alias() -> str:
    from django.db import router

    return router.db_for_write(TrafficMinute) or "default"


class Flusher:
    """Flushes a counter every ``every`` seconds from a daemon thread, in each process: the
    thread is started again in a forked child (gunicorn's workers), and the counter flushed
    once more at exit."""

    def __init__(self, counter: TrafficCounter, *, every: float) -> None:
        self.counter = counter
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Flusher:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"strangler-traffic-{os.getpid()}", daemon=True
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._flush()

    def _flush(self) -> None:
        close_old_connections()  # this thread's connection may have gone (a restart)
        self.counter.flush()

    def stop(self) -> None:
        self._stop.set()
        self._flush()


def start_flushing(counter: TrafficCounter, *, every: float) -> Flusher:
    flusher = Flusher(counter, every=every).start()
    # The counts a parent had belong to it; a child counts and flushes its own.
    os.register_at_fork(after_in_child=lambda: _restart_in_child(flusher))
    atexit.register(flusher.stop)
    return flusher


def _restart_in_child(flusher: Flusher) -> None:
    flusher.counter.forget()
    flusher.start()
