"""The supplier's circuit breaker: pybreaker's state machine, one instance per thread, one storage.

``pybreaker.CircuitBreaker`` decides: it counts consecutive failures, opens at ``fail_max``, goes
half-open after ``reset_timeout`` and closes on a successful trial call. What it leaves to its
users, and this module adds at its seams (docs/adr/0017):

- ``call()`` holds one lock for the whole guarded call, so each thread gets its own instance
  (``SharedCircuitBreaker`` keeps them in a ``threading.local``); they agree because pybreaker
  reads the state from its storage on every call, and no thread waits on another's call.
- Transitions are the storage's atomic ones (``logistics.adapters.breaker_storage``), which say
  whether the caller made them: only that caller announces a transition, once for all
  processes, through a ``CircuitBreakerListener`` that logs and counts it.
- Its half-open state lets every caller through. Here going half-open takes the storage's probe
  lease: the holder calls, everyone else, in any process, is refused until it answers or the
  lease expires.
- An excluded error (a 4xx) counts as neither success nor failure (pybreaker counts it as a
  success), and a success slower than ``slow_call_seconds`` as a failure.
- An operator's ``force_open`` holds until ``force_close``, through a flag in the storage, with
  the operator's note beside it (who, when, why: ``manage.py breaker`` writes it).

Imports no Django, so any process (or a bare ``python -c``) can use it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar, cast, overload

import pybreaker
import redis
import structlog
from prometheus_client import Counter, Gauge

from logistics.adapters.breaker_sqlite import SqliteBreakerStorage
from logistics.adapters.breaker_storage import (
    BreakerSnapshot,
    BreakerStorage,
    MemoryBreakerStorage,
    RedisBreakerStorage,
    State,
    state_label,
)

logger = structlog.get_logger(__name__)

T = TypeVar("T")
Exclusion = type[BaseException] | Callable[[Any], bool]

BREAKER_STATE = Gauge(
    "monolithos_supplier_breaker_state",
    "Circuit breaker state, set by the process that made the last change: 0 closed, "
    "1 half-open, 2 open.",
    ["breaker"],
    multiprocess_mode="mostrecent",
)
BREAKER_TRANSITIONS = Counter(
    "monolithos_supplier_breaker_transitions",
    "Circuit breaker state changes, counted once by the process that made them.",
    ["breaker", "to_state"],
)
_GAUGE_VALUE: dict[State, int] = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True)
class BreakerConfig:
    fail_max: int = 12
    slow_call_seconds: float = 2.0
    reset_timeout_seconds: float = 30.0
    name: str = "supplier"

    def __post_init__(self) -> None:
        # Checked here so that a bad setting stops the process at start-up, not at the first call.
        if self.fail_max < 1:
            raise ValueError("fail_max must be at least 1")
        if self.slow_call_seconds <= 0 or self.reset_timeout_seconds <= 0:
            raise ValueError("slow_call_seconds and reset_timeout_seconds must be positive")


class CircuitOpen(pybreaker.CircuitBreakerError):
    def __init__(self, breaker: str, retry_after: float) -> None:
        super().__init__(f"circuit breaker {breaker!r} is open, retry in {retry_after:.1f} s")
        self.breaker = breaker
        self.retry_after = retry_after


class TransitionLog(pybreaker.CircuitBreakerListener):
    """Logs and counts each transition, in the process that made it, and sets the gauge."""

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        name, to_state = cb.name or "", state_label(new_state.name)
        BREAKER_STATE.labels(name).set(_GAUGE_VALUE[to_state])
        BREAKER_TRANSITIONS.labels(name, to_state).inc()
        logger.warning(
            "circuit_breaker_state_changed",
            breaker=name,
            from_state=state_label(old_state.name) if old_state else None,
            to_state=to_state,
        )


def _owner(state: pybreaker.CircuitBreakerState) -> ProbeLeaseBreaker:
    return cast(ProbeLeaseBreaker, state._breaker)


class _IgnoresExcluded(pybreaker.CircuitBreakerState):
    """pybreaker counts an excluded error as a success: it resets the run of failures and closes
    a half-open breaker. A 4xx says nothing about the supplier's health, so here it counts as
    nothing, and a probe that got one hands the probe to the next caller."""

    @overload
    def _handle_error(self, exc: BaseException, reraise: Literal[True] = ...) -> NoReturn: ...

    @overload
    def _handle_error(self, exc: BaseException, reraise: Literal[False] = ...) -> None: ...

    def _handle_error(self, exc: BaseException, reraise: bool = True) -> None:
        if self._breaker.is_system_error(exc):
            super()._handle_error(exc, reraise=False)
        else:
            _owner(self).release_probe()
        if reraise:
            raise exc


class _Closed(_IgnoresExcluded, pybreaker.CircuitClosedState):
    pass


class _Open(pybreaker.CircuitOpenState):
    def before_call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # pybreaker compares opened_at with this host's clock and lets every caller half-open
        # the breaker; half_open() asks the storage, which decides by its own clock, once.
        engine = _owner(self)
        engine.half_open()
        return engine.call(func, *args, **kwargs)


class _HalfOpen(_IgnoresExcluded, pybreaker.CircuitHalfOpenState):
    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # pybreaker lets every caller through in half-open; only the probe's holder goes here.
        engine = _owner(self)
        if engine.probe_token is None:
            engine.half_open()  # takes an expired lease over, or raises CircuitOpen
            return engine.call(func, *args, **kwargs)
        return super().call(func, *args, **kwargs)


_STATE_CLASSES: dict[str, type[_Closed | _Open | _HalfOpen]] = {
    pybreaker.STATE_CLOSED: _Closed,
    pybreaker.STATE_OPEN: _Open,
    pybreaker.STATE_HALF_OPEN: _HalfOpen,
}


class ProbeLeaseBreaker(pybreaker.CircuitBreaker):
    """One thread's pybreaker. Its transitions are the storage's atomic ones.

    pybreaker notifies its listeners whenever an instance notices a new state in the storage,
    and its closed state then resets the shared failure count: with an instance per thread and
    per process, each transition would be announced once per thread, and failures counted
    since would be lost. Here states are built without notifying, the storage's operations
    reset the counts, and only the caller whose operation made a transition announces it.
    Used by one thread only, so pybreaker's lock is never contended.
    """

    def __init__(
        self,
        config: BreakerConfig,
        storage: BreakerStorage,
        *,
        exclude: Sequence[Exclusion],
        listeners: Sequence[pybreaker.CircuitBreakerListener],
    ) -> None:
        self.probe_token: str | None = None  # set while this thread's call is the probe
        self._storage = storage
        super().__init__(
            fail_max=config.fail_max,
            reset_timeout=config.reset_timeout_seconds,
            exclude=exclude,
            listeners=listeners,
            state_storage=storage,
            name=config.name,
            throw_new_error_on_trip=False,  # callers see the supplier's own error
        )

    def _create_new_state(
        self,
        new_state: str,
        prev_state: pybreaker.CircuitBreakerState | None = None,
        notify: bool = False,
    ) -> _Closed | _Open | _HalfOpen:
        return _STATE_CLASSES[new_state](self, prev_state)

    def open(self) -> bool:
        # Only a call made as the probe fails as the probe; any other failure trips from closed.
        probe = self.probe_token if self._state.name == pybreaker.STATE_HALF_OPEN else None
        self._announce(self._storage.trip(probe), pybreaker.STATE_OPEN)
        self.probe_token = None
        return self._throw_new_error_on_trip

    def half_open(self) -> None:
        lease = self._storage.take_probe(secrets.token_hex(8), self.reset_timeout)
        if lease.retry_after is not None:
            raise CircuitOpen(self.name or "", lease.retry_after)
        self.probe_token = lease.token
        if lease.left_open:
            self._announce(pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN)

    def close(self) -> None:
        self._announce(self._storage.close(self.probe_token), pybreaker.STATE_CLOSED)
        self.probe_token = None

    def release_probe(self) -> None:
        if self.probe_token is not None:
            self._storage.release_probe(self.probe_token)
            self.probe_token = None

    def _announce(self, left: str | None, to_state: str) -> None:
        if left is None:
            return  # another caller made this transition, or none was made
        old = self._create_new_state(left)
        self._state = self._create_new_state(to_state, prev_state=old)
        for listener in self.listeners:
            listener.state_change(self, old, self._state)


class _SlowSuccess(Exception):
    """Raised inside the guarded call so that pybreaker counts it as the failure it is."""

    def __init__(self, result: object) -> None:
        super().__init__("slow call")
        self.result = result


def _interrupted(error: BaseException) -> bool:
    return not isinstance(error, Exception)  # exiting or interrupted: nothing learnt


class SharedCircuitBreaker:
    """What callers use: ``call(func)`` through this thread's pybreaker, on the shared storage.

    ``exclude`` lists the errors that say nothing about the guarded service (pybreaker's
    ``exclude``: types or predicates); interruptions (not an ``Exception``) are excluded too.
    """

    def __init__(
        self,
        config: BreakerConfig,
        storage: BreakerStorage,
        *,
        exclude: Sequence[Exclusion] = (),
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config
        self.storage = storage
        self._exclude: list[Exclusion] = [*exclude, _interrupted]
        self._listeners = [TransitionLog()]
        self._timer = timer
        self._threads = threading.local()

    def _engine(self) -> ProbeLeaseBreaker:
        engine: ProbeLeaseBreaker | None = getattr(self._threads, "engine", None)
        if engine is None:
            engine = ProbeLeaseBreaker(
                self.config, self.storage, exclude=self._exclude, listeners=self._listeners
            )
            self._threads.engine = engine
        return engine

    def call(self, func: Callable[[], T]) -> T:
        """``func()``, or ``CircuitOpen`` at once without calling it."""
        engine = self._engine()
        try:
            return engine.call(lambda: self._timed(func))
        except _SlowSuccess as slow:
            return cast(T, slow.result)  # counted as a failure; the answer still stands
        finally:
            engine.probe_token = None  # a lease outlives its call only until it expires

    def _timed(self, func: Callable[[], T]) -> T:
        started = self._timer()
        result = func()
        if self._timer() - started > self.config.slow_call_seconds:
            raise _SlowSuccess(result)
        return result

    def state(self) -> BreakerSnapshot:
        snapshot = self.storage.snapshot(self.config.reset_timeout_seconds)
        if not snapshot.unknown:
            BREAKER_STATE.labels(self.config.name).set(_GAUGE_VALUE[snapshot.state])
        return snapshot

    def force_open(self, note: str = "") -> None:
        """Open until an operator closes it: no probe, whatever the timeout."""
        self.storage.hold(True, note)
        self._engine().open()

    def force_close(self, note: str = "") -> None:
        """Close now, from any state, with nothing counted."""
        self.storage.hold(False, note)
        self._engine().close()

    def reset(self, note: str = "") -> None:
        """Forget everything stored, without a transition: as if new."""
        self.storage.reset(note)


def build_breaker(
    config: BreakerConfig,
    redis_url: str | None,
    *,
    state_file: Path | None = None,
    key_prefix: str = "monolithos:breaker",
    exclude: Sequence[Exclusion] = (),
) -> SharedCircuitBreaker:
    """Shared state in Redis when a URL is given, else in ``state_file`` (every process of the
    host), else in this process's memory."""
    storage: BreakerStorage
    if redis_url:
        # Short timeouts: a breaker that waits on a stuck Redis is the hang it exists to prevent.
        client = redis.Redis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
        storage = RedisBreakerStorage(client, key_prefix, config.name)
    elif state_file is not None:
        storage = SqliteBreakerStorage(state_file, config.name)
    else:
        storage = MemoryBreakerStorage(config.name)
    return SharedCircuitBreaker(config, storage, exclude=exclude)
