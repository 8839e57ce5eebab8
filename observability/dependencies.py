"""What a process knows about a dependency that stopped answering: try once, then wait a while.

A request must not wait on a sick Redis (docs/adr/0015). Short socket timeouts bound one wait;
``Unreachable`` bounds how often it is paid: after a failure, callers skip the dependency (and
take their fallback at once) for ``retry_after`` seconds; then exactly one caller tries it again
while the others keep skipping, and its outcome decides for everyone. A process thus spends at
most one timeout per ``retry_after`` on a dependency that is down, however many requests it
serves. The cache (``config.cache``) and the broker publisher (``outbox.broker``) each hold one;
``/readyz`` reads them.

Imports nothing of the project but the standard library: every package may use it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


class Unreachable:
    """The state of one dependency, as this process has seen it (thread-safe)."""

    def __init__(self, name: str, *, retry_after: float, clock: Clock = time.monotonic) -> None:
        self.name = name
        self.retry_after = retry_after
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_try = 0.0
        self.last_error = ""

    def should_try(self) -> bool:
        """True when the caller should use the dependency; False: take the fallback at once."""
        with self._lock:
            if self._down_since is None:
                return True
            now = self._clock()
            if now < self._next_try:
                return False
            # This caller probes; the others skip until it reports (or the window passes again).
            self._next_try = now + self.retry_after
            return True

    def failed(self, error: BaseException) -> bool:
        """Record a failure; True when the dependency was up until now (worth one log line)."""
        with self._lock:
            now = self._clock()
            self._next_try = now + self.retry_after
            self.last_error = f"{type(error).__name__}"
            if self._down_since is None:
                self._down_since = now
                return True
            return False

    def succeeded(self) -> None:
        if self._down_since is None:  # the usual case, without the lock
            return
        with self._lock:
            self._down_since = None
            self._next_try = 0.0
            self.last_error = ""

    def down_for(self) -> float | None:
        """Seconds since this process last found the dependency answering, None while it does."""
        with self._lock:
            if self._down_since is None:
                return None
            return max(0.0, self._clock() - self._down_since)
