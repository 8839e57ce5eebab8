"""The in-process copy: no reload per request, a moved version within a check, a fallback expiry."""

from __future__ import annotations

from strangler.modes import Mode, RouteState, Snapshot
from strangler.state import StateStore, Timing
from strangler.testing import FakeClock, FixedBoard

TIMING = Timing(check_every=0.25, fallback_after=1.0, max_age=30.0)


class Database:
    """The stored state, counting how often it is loaded."""

    def __init__(self) -> None:
        self.snapshot = Snapshot(version=1, routes={"r": RouteState(Mode.LEGACY, 0, "s")})
        self.loads = 0
        self.down = False

    def load(self) -> Snapshot:
        self.loads += 1
        if self.down:
            raise ConnectionError("database unreachable")
        return self.snapshot

    def change(self, mode: Mode) -> int:
        version = self.snapshot.version + 1
        self.snapshot = Snapshot(version=version, routes={"r": RouteState(mode, 0, "s")})
        return version


def store_for(database: Database, board: FixedBoard, clock: FakeClock) -> StateStore:
    return StateStore(load=database.load, board=board, clock=clock, timing=TIMING)


def test_requests_read_the_copy_without_loading_the_state_again():
    database, board, clock = Database(), FixedBoard(1), FakeClock()
    store = store_for(database, board, clock)

    for _ in range(1000):
        store.snapshot()
        clock.advance(0.01)  # ten seconds of requests: one version read every 0.25 s

    assert database.loads == 1


def test_a_change_announced_in_the_cache_is_seen_at_the_next_check():
    database, board, clock = Database(), FixedBoard(1), FakeClock()
    store = store_for(database, board, clock)
    store.snapshot()

    board.announce(database.change(Mode.NEW))
    clock.advance(0.2)
    still_old = store.snapshot()
    clock.advance(0.06)
    seen = store.snapshot()

    assert still_old.effective("r").mode is Mode.LEGACY
    assert seen.effective("r").mode is Mode.NEW
    assert database.loads == 2


def test_without_a_readable_version_the_copy_expires_after_the_fallback_period():
    database, board, clock = Database(), FixedBoard(None), FakeClock()
    store = store_for(database, board, clock)
    store.snapshot()
    board.version = None  # Redis unreachable (or the key flushed, or a process-local cache)

    database.change(Mode.SHADOW)
    clock.advance(0.9)
    before = store.snapshot()
    clock.advance(0.11)
    after = store.snapshot()

    assert before.effective("r").mode is Mode.LEGACY
    assert after.effective("r").mode is Mode.SHADOW


def test_a_flushed_version_key_is_offered_again_after_a_reload():
    database, board, clock = Database(), FixedBoard(None), FakeClock()
    store = store_for(database, board, clock)

    store.snapshot()

    assert board.version == 1


def test_a_copy_is_reloaded_after_its_maximum_age_whatever_the_cache_says():
    database, board, clock = Database(), FixedBoard(1), FakeClock()
    store = store_for(database, board, clock)
    store.snapshot()
    database.change(Mode.NEW)  # committed, but its announcement was lost

    clock.advance(29.9)
    stale = store.snapshot()
    clock.advance(0.2)
    fresh = store.snapshot()

    assert stale.effective("r").mode is Mode.LEGACY
    assert fresh.effective("r").mode is Mode.NEW


def test_a_change_made_by_this_process_is_seen_by_its_next_request():
    database, board, clock = Database(), FixedBoard(1), FakeClock()
    store = store_for(database, board, clock)
    store.snapshot()

    database.change(Mode.NEW)
    store.invalidate()

    assert store.snapshot().effective("r").mode is Mode.NEW


def test_while_the_state_cannot_be_loaded_the_last_copy_is_kept():
    database, board, clock = Database(), FixedBoard(1), FakeClock()
    store = store_for(database, board, clock)
    store.snapshot()
    board.announce(database.change(Mode.NEW))
    database.down = True

    clock.advance(0.3)
    kept = store.snapshot()

    assert kept.version == 1


def test_a_process_that_never_loaded_the_state_routes_everything_to_legacy():
    database, board, clock = Database(), FixedBoard(1), FakeClock()
    database.snapshot = Snapshot(version=1, routes={"r": RouteState(Mode.NEW, 0, "s")})
    database.down = True
    store = store_for(database, board, clock)

    assert store.snapshot().effective("r").mode is Mode.LEGACY
