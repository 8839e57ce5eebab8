"""Test helpers, after django-waffle's ``override_flag``: set modes without a database.

``override_modes({"api_place_order": "new"})`` (a context manager) routes by a fixed state for
its duration (``("canary", "12.5")`` a canary's share, ``("shadow", "10")`` a shadow's sample);
``override_modes(all_routes="shadow")`` puts every strangled route in one mode;
``phase="verify"`` sets the data ownership phase the database router reads.
Shadow candidates run inline (``InlineExecutor``) and time comes from ``clock`` when given,
so a test of the time budget advances a ``FakeClock`` instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from strangler import registry, wiring
from strangler.modes import FULL, Mode, RouteState, Snapshot, parse_percent
from strangler.phases import Phase, parse_phase
from strangler.pool import Executor, InlineExecutor
from strangler.state import Clock, StateStore, Timing


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FixedBoard:
    """A version board that says what it is told (no cache)."""

    def __init__(self, version: int | None = None) -> None:
        self.version = version
        self.announced: list[int] = []

    def read(self) -> int | None:
        return self.version

    def announce(self, version: int) -> bool:
        self.announced.append(version)
        self.version = version
        return True

    def offer(self, version: int) -> None:
        if self.version is None:
            self.version = version


def snapshot_of(
    modes: Mapping[str, str | tuple[str, str]],
    *,
    killed: bool = False,
    version: int = 1,
    phase: str | Phase = Phase.LEGACY,
) -> Snapshot:
    """``{"route": "new", "other": ("canary", "12.5"), "third": ("shadow", "10")}`` as a
    snapshot (salt: the route name); the percentage is a canary's share or a shadow's sample."""
    routes = {}
    for name, spec in modes.items():
        mode, percent = (Mode(spec), None) if isinstance(spec, str) else (Mode(spec[0]), spec[1])
        points = None if percent is None else parse_percent(percent)
        if mode is Mode.SHADOW:
            routes[name] = RouteState(mode, 0, name, FULL if points is None else points)
        else:
            routes[name] = RouteState(mode, points or 0, name)
    return Snapshot(version=version, killed=killed, routes=routes, phase=parse_phase(phase))


@contextmanager
def override_modes(
    modes: Mapping[str, str | tuple[str, str]] | None = None,
    *,
    all_routes: str | None = None,
    killed: bool = False,
    phase: str | Phase = Phase.LEGACY,
    clock: Clock | None = None,
    executor: Executor | None = None,
    budget_seconds: float = 0.5,
) -> Iterator[wiring.Runtime]:
    """Route by the given modes (and the kill switch, and the data phase) until the block
    ends."""
    spec: dict[str, str | tuple[str, str]] = dict(modes or {})
    if all_routes is not None:
        for name in registry.routes():
            spec.setdefault(name, all_routes)
    snapshot = snapshot_of(spec, killed=killed, phase=phase)
    the_clock = clock or FakeClock()
    board = FixedBoard(snapshot.version)
    runtime = wiring.Runtime(
        store=StateStore(load=lambda: snapshot, board=board, clock=the_clock, timing=Timing()),
        board=board,
        executor=executor or InlineExecutor(),
        clock=the_clock,
        budget_seconds=budget_seconds,
    )
    previous = wiring.install(runtime)
    try:
        yield runtime
    finally:
        wiring.install(previous)


@contextmanager
def database_state(
    *, clock: Clock | None = None, board: FixedBoard | None = None, timing: Timing | None = None
) -> Iterator[wiring.Runtime]:
    """Route by the state stored in the database, with a fake clock and version board."""
    from strangler import selectors

    the_clock = clock or FakeClock()
    the_board = board or FixedBoard()
    runtime = wiring.Runtime(
        store=StateStore(
            load=selectors.load_snapshot,
            board=the_board,
            clock=the_clock,
            timing=timing or Timing(),
        ),
        board=the_board,
        executor=InlineExecutor(),
        clock=the_clock,
        budget_seconds=0.5,
    )
    previous = wiring.install(runtime)
    try:
        yield runtime
    finally:
        wiring.install(previous)
