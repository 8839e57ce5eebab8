"""The one place the strangler's collaborators are built from the settings.

The facade, the services and the commands ask here for the state store, the version board, the
shadow pool, the clock and the traffic counter; ``strangler.testing`` swaps them in tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings

from strangler import selectors
from strangler.pool import BoundedPool, Executor
from strangler.state import Clock, StateStore, Timing, VersionBoard
from strangler.traffic import TrafficCounter, start_flushing
from strangler.version_board import CacheVersionBoard


@dataclass
class Runtime:
    store: StateStore
    board: VersionBoard
    executor: Executor
    clock: Clock
    budget_seconds: float
    # Tests get a counter nothing flushes (they flush it when they read the counts).
    traffic: TrafficCounter = field(default_factory=TrafficCounter)


_override: Runtime | None = None


@cache
def _board() -> VersionBoard:
    return CacheVersionBoard()


@cache
def _runtime() -> Runtime:
    board = _board()
    store = StateStore(
        load=selectors.load_snapshot,
        board=board,
        clock=time.monotonic,
        timing=Timing(
            check_every=settings.STRANGLER_STATE_CHECK_SECONDS,
            fallback_after=settings.STRANGLER_STATE_FALLBACK_SECONDS,
            max_age=settings.STRANGLER_STATE_MAX_AGE_SECONDS,
        ),
    )
    traffic = TrafficCounter()
    start_flushing(traffic, every=settings.STRANGLER_TRAFFIC_FLUSH_SECONDS)
    return Runtime(
        traffic=traffic,
        store=store,
        board=board,
        executor=BoundedPool(settings.STRANGLER_SHADOW_WORKERS),
        clock=time.monotonic,
        budget_seconds=settings.STRANGLER_SHADOW_BUDGET_SECONDS,
    )


def runtime() -> Runtime:
    return _override if _override is not None else _runtime()


def install(override: Runtime | None) -> Runtime | None:
    """Replace the runtime (tests); returns the one replaced. None restores the real one."""
    global _override
    previous, _override = _override, override
    return previous


def store() -> StateStore:
    return runtime().store


def board() -> VersionBoard:
    return runtime().board
