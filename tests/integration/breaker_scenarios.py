"""What every shared store of the supplier breaker must decide alike: the file's tests and Redis's.

``decides_as_the_memory_storage`` plays one pattern of outcomes through a breaker on the store
and through one on the memory storage; ``race_for_the_probe`` has eight forked processes call a
breaker due for its probe at once.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from logistics.adapters.breaker import CircuitOpen, SharedCircuitBreaker
from logistics.adapters.breaker_storage import MemoryBreakerStorage

# F: the supplier fails, S: it answers, I: an excluded error (not the supplier's fault).
PATTERN = "FSFFSFSSFFFISFFSFSSFFFFSSSSFSFFIFFIFSSSFFFSFSFFFFS" * 2


class SupplierDown(Exception):
    pass


def fail() -> str:
    raise SupplierDown


def trip(breaker: SharedCircuitBreaker) -> None:
    for _ in range(breaker.config.fail_max):
        with pytest.raises(SupplierDown):
            breaker.call(fail)
    assert breaker.state().state == "open"


def _outcome(kind: str) -> Callable[[], str]:
    def supplier() -> str:
        if kind == "F":
            raise SupplierDown
        if kind == "I":
            raise LookupError
        return "ok"

    return supplier


def decides_as_the_memory_storage(
    shared: SharedCircuitBreaker,
    pass_reset_timeout: Callable[[], None],
    *,
    compare: Callable[[Any], tuple[Any, ...]] = lambda s: (s.state, s.failures),
) -> None:
    """Each call answers alike on ``shared`` and on the memory storage, and leaves alike.

    ``shared`` excludes LookupError; ``pass_reset_timeout`` moves its store's time on by the
    reset timeout whenever the breaker is open, so that the next outcome is the probe's.
    """
    now = [1_700_000_000.0]
    local = SharedCircuitBreaker(
        shared.config,
        MemoryBreakerStorage(shared.config.name, lambda: now[0]),
        exclude=[LookupError],
        timer=lambda: now[0],
    )
    for kind in PATTERN:
        answers, states = [], []
        for breaker in (shared, local):
            try:
                answers.append(breaker.call(_outcome(kind)))
            except (SupplierDown, LookupError, CircuitOpen) as error:
                answers.append(type(error).__name__)
            states.append(compare(breaker.state()))
        assert (answers[0], states[0]) == (answers[1], states[1]), kind
        if states[0][0] == "open":
            pass_reset_timeout()
            now[0] += shared.config.reset_timeout_seconds


def _call_at_the_barrier(
    make: Callable[[], SharedCircuitBreaker], barrier: Any, decisions: Any, logs_out: Any, done: Any
) -> None:
    breaker = make()

    def probe() -> None:
        decisions.put("probe")
        done.wait(timeout=20)  # in flight until every process has been answered

    barrier.wait(timeout=10)
    with capture_logs() as logs:
        try:
            breaker.call(probe)
        except CircuitOpen:
            decisions.put("refused")
    logs_out.put(tuple(entry["to_state"] for entry in logs if "to_state" in entry))


def race_for_the_probe(
    make: Callable[[], SharedCircuitBreaker], processes: int = 8
) -> tuple[list[str], list[tuple[str, ...]]]:
    """Each forked process's decision, and the transitions each logged, sorted."""
    context = multiprocessing.get_context("fork")  # ``make`` is inherited, never pickled
    barrier, decisions, logs, done = (
        context.Barrier(processes), context.Queue(), context.Queue(), context.Event()
    )  # fmt: skip
    workers = [
        context.Process(target=_call_at_the_barrier, args=(make, barrier, decisions, logs, done))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = sorted(decisions.get(timeout=30) for _ in workers)
    done.set()
    changes = sorted(logs.get(timeout=30) for _ in workers)
    for worker in workers:
        worker.join(timeout=10)
    return outcomes, changes
