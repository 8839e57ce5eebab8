"""The state every process routes by: an in-process copy, invalidated through a version key.

A request reads the in-process ``Snapshot`` (no query). At most every
STRANGLER_STATE_CHECK_SECONDS a process reads the version key from the shared cache (CACHE_URL:
one Redis GET) and reloads the state from the database only when the version moved. When the
version cannot be read (Redis unreachable, the key flushed, or a cache private to the process on
embedded defaults), the copy expires after STRANGLER_STATE_FALLBACK_SECONDS instead and is
reloaded from the database; whatever the cache says, a copy older than
STRANGLER_STATE_MAX_AGE_SECONDS is reloaded (a version announced while Redis was down is never
missed for longer). A change announces its version after its commit
(``strangler.services``). A process that cannot load the state at all routes by its last copy,
or by legacy for every route if it never had one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from strangler.modes import Snapshot

logger = structlog.get_logger(__name__)

Clock = Callable[[], float]


class VersionBoard(Protocol):
    """Where the current version is announced to every process (the cache)."""

    def read(self) -> int | None:
        """The announced version; None when it cannot be known (unreachable, missing)."""

    def announce(self, version: int) -> bool:
        """Announce a new version; False when it could not be announced."""

    def offer(self, version: int) -> None:
        """Announce ``version`` only where no version is announced (a flushed key)."""


@dataclass(frozen=True)
class Timing:
    check_every: float = 0.25
    fallback_after: float = 1.0
    max_age: float = 30.0


@dataclass(frozen=True)
class _Copy:
    snapshot: Snapshot
    loaded_at: float
    next_check: float


class StateStore:
    def __init__(
        self,
        *,
        load: Callable[[], Snapshot],
        board: VersionBoard,
        clock: Clock,
        timing: Timing,
    ) -> None:
        self._load = load
        self._board = board
        self._clock = clock
        self._timing = timing
        self._copy: _Copy | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        """The state to route this request by."""
        copy = self._copy
        if copy is not None and self._clock() < copy.next_check:
            return copy.snapshot
        with self._lock:
            return self._refresh()

    def invalidate(self) -> None:
        """This process changed the state: the next request reloads it."""
        self._copy = None

    @property
    def age(self) -> float | None:
        copy = self._copy
        return None if copy is None else self._clock() - copy.loaded_at

    def _refresh(self) -> Snapshot:
        now = self._clock()
        copy = self._copy
        if copy is not None and now < copy.next_check:
            return copy.snapshot  # another thread refreshed it while we waited
        announced = self._read_version()
        if copy is not None and now - copy.loaded_at < self._timing.max_age:
            expired = now - copy.loaded_at >= self._timing.fallback_after
            if announced == copy.snapshot.version or (announced is None and not expired):
                # The next check, but never later than the copy expires.
                expires = copy.loaded_at + (
                    self._timing.fallback_after if announced is None else self._timing.max_age
                )
                next_check = min(now + self._timing.check_every, expires)
                self._copy = _Copy(copy.snapshot, copy.loaded_at, next_check)
                return copy.snapshot
        snapshot = self._reload(now, copy)
        if announced is None and snapshot.version:
            self._offer(snapshot.version)
        return snapshot

    def _reload(self, now: float, copy: _Copy | None) -> Snapshot:
        try:
            snapshot = self._load()
        except Exception:
            logger.warning("strangler_state_unavailable", exc_info=True)
            snapshot = copy.snapshot if copy is not None else Snapshot()
            # Try again at the next check, keeping the copy's age.
            loaded_at = copy.loaded_at if copy is not None else now
            self._copy = _Copy(snapshot, loaded_at, now + self._timing.check_every)
            return snapshot
        self._copy = _Copy(snapshot, now, now + self._timing.check_every)
        return snapshot

    def _offer(self, version: int) -> None:
        try:
            self._board.offer(version)
        except Exception:
            logger.warning("strangler_version_not_offered", exc_info=True)

    def _read_version(self) -> int | None:
        try:
            return self._board.read()
        except Exception:
            logger.warning("strangler_version_unreadable", exc_info=True)
            return None
