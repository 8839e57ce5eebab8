"""The breaker's state in a SQLite file: one state for every process of the host, as with Redis.

The file is the test's own. Other processes are real ones: ``python -c`` interpreters (the
breaker needs no Django) and forked workers on a barrier. Time is the storage's clock, a
hand-driven one where the test runs in one process; across processes a test moves
``opened_at`` back in the file, as the clock passing would.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from logistics.adapters.breaker import BreakerConfig, SharedCircuitBreaker
from logistics.adapters.breaker_sqlite import SqliteBreakerStorage
from tests.integration.breaker_scenarios import (
    SupplierDown,
    decides_as_the_memory_storage,
    fail,
    race_for_the_probe,
    trip,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = BreakerConfig(name="supplier", fail_max=3, reset_timeout_seconds=30)


def rewind(path: Path, seconds: float) -> None:
    """As if ``seconds`` had passed since the breaker opened."""
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE breaker SET opened_at = opened_at - ?", (seconds,))


def unavailable() -> float:
    value = REGISTRY.get_sample_value(
        "monolithos_supplier_breaker_storage_unavailable_total", {"breaker": "supplier"}
    )
    return value or 0.0


def test_decisions_match_the_memory_storage_call_for_call(tmp_path):
    """StoredState's rules, run under a mutex or in a write transaction, decide alike."""
    now = [1_700_000_000.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    filed = SharedCircuitBreaker(
        CONFIG,
        SqliteBreakerStorage(tmp_path / "breaker.sqlite3", clock=clock),
        exclude=[LookupError],
        timer=clock,
    )

    def pass_reset_timeout() -> None:
        now[0] += CONFIG.reset_timeout_seconds

    decides_as_the_memory_storage(
        filed,
        pass_reset_timeout,
        compare=lambda s: (s.state, s.failures, s.seconds_until_probe),
    )


# Run in another interpreter: python -c CHILD <state file> <action>.
CHILD = """
import sys
from pathlib import Path
from logistics.adapters.breaker import BreakerConfig, CircuitOpen, SharedCircuitBreaker
from logistics.adapters.breaker_sqlite import SqliteBreakerStorage
path, action = Path(sys.argv[1]), sys.argv[2]
config = BreakerConfig(name="supplier", fail_max=3, reset_timeout_seconds=30)
breaker = SharedCircuitBreaker(config, SqliteBreakerStorage(path))
def down():
    raise OSError("down")
if action == "trip":
    for _ in range(config.fail_max):
        try:
            breaker.call(down)
        except OSError:
            pass
try:
    print(breaker.call(lambda: "called"))
except CircuitOpen as refusal:
    print("refused", refusal.retry_after)
"""


def in_another_process(path: Path, action: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), action],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1].split()


def test_a_breaker_opened_by_one_process_refuses_in_another(tmp_path):
    path = tmp_path / "breaker.sqlite3"

    tripped = in_another_process(path, "trip")
    elsewhere = in_another_process(path, "call")

    assert tripped[0] == elsewhere[0] == "refused"
    assert 0 < float(elsewhere[1]) <= 30  # the time left on the one open period
    here = SharedCircuitBreaker(CONFIG, SqliteBreakerStorage(path))
    assert here.state().state == "open"
    rewind(path, 30)
    assert in_another_process(path, "call") == ["called"]  # its probe closed it, for everyone
    assert here.state().state == "closed"


def test_exactly_one_of_eight_processes_gets_the_probe(tmp_path):
    path = tmp_path / "breaker.sqlite3"
    trip(SharedCircuitBreaker(CONFIG, SqliteBreakerStorage(path)))
    rewind(path, 30)

    outcomes, changes = race_for_the_probe(
        lambda: SharedCircuitBreaker(CONFIG, SqliteBreakerStorage(path, timeout=5))
    )

    assert outcomes == ["probe"] + ["refused"] * 7, changes
    assert changes == [()] * 7 + [("half_open", "closed")]  # announced once, by the prober


def test_a_healthy_breakers_calls_take_no_write_lock(tmp_path):
    path = tmp_path / "breaker.sqlite3"
    breaker = SharedCircuitBreaker(CONFIG, SqliteBreakerStorage(path, timeout=0.05))
    assert breaker.call(lambda: "warm") == "warm"  # the file and its row made
    counted = unavailable()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        answers = [breaker.call(lambda: "ok") for _ in range(20)]
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert answers == ["ok"] * 20
    assert unavailable() == counted  # read, never waited on the lock, never failed open


def test_a_locked_or_unusable_file_fails_open_and_an_operators_command_raises(tmp_path):
    path = tmp_path / "breaker.sqlite3"
    retry_clock = [0.0]
    storage = SqliteBreakerStorage(path, timeout=0.05, retry_clock=lambda: retry_clock[0])
    breaker = SharedCircuitBreaker(CONFIG, storage)
    counted = unavailable()
    writer = sqlite3.connect(path, isolation_level=None)
    storage.snapshot(30)  # the table exists
    writer.execute("BEGIN IMMEDIATE")
    try:
        with capture_logs() as logs:
            for _ in range(CONFIG.fail_max + 2):  # failures it cannot count, so it never opens
                with pytest.raises(SupplierDown):
                    breaker.call(fail)
        with pytest.raises(sqlite3.OperationalError):
            breaker.force_open("held by an operator")
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert unavailable() > counted
    assert [entry["event"] for entry in logs].count("circuit_breaker_storage_unavailable") == 1
    assert breaker.state().state == "closed"
    retry_clock[0] += 1.0  # a second later the file is tried again, and answers
    breaker.force_open("supplier maintenance")
    assert (breaker.state().state, breaker.state().forced) == ("open", True)


def test_a_file_that_cannot_be_opened_lets_calls_through_and_says_so(tmp_path):
    not_a_file = tmp_path / "breaker.sqlite3"
    not_a_file.mkdir()
    breaker = SharedCircuitBreaker(CONFIG, SqliteBreakerStorage(not_a_file))

    for _ in range(CONFIG.fail_max + 1):
        with pytest.raises(SupplierDown):
            breaker.call(fail)

    assert breaker.state().unknown
    assert breaker.call(lambda: "through") == "through"
