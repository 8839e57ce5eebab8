"""The circuit breaker over a real Redis: one state for every process, one probe among them all.

Needs Redis at 127.0.0.1:6379: skipped without it, failed when CI is set. Each test works under
a key prefix of its own and deletes its keys afterwards. Other processes are real ones:
``python -c`` subprocesses (the breaker needs no Django) or forked workers on a barrier.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from structlog.testing import capture_logs

from logistics.adapters.breaker import (
    BreakerConfig,
    CircuitBreaker,
    CircuitOpen,
    MemoryBreakerStorage,
    build_breaker,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[2]

MakeBreaker = Callable[..., CircuitBreaker]


@pytest.fixture(scope="module")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        message = f"Redis is not reachable at {REDIS_URL}: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    prefix = f"test-breaker-{uuid.uuid4().hex}"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}:*"))
    if keys:
        redis_client.delete(*keys)


def config(**overrides: Any) -> BreakerConfig:
    return replace(BreakerConfig(name="supplier", reset_timeout_seconds=0.3), **overrides)


@pytest.fixture
def make_breaker(key_prefix: str) -> MakeBreaker:
    def make(**overrides: Any) -> CircuitBreaker:
        return build_breaker(config(**overrides), REDIS_URL, key_prefix=key_prefix)

    return make


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.config.minimum_calls):
        breaker.acquire().failure()
    assert breaker.state().state == "open"


# Run in another interpreter: python -c CHILD <key_prefix> <reset_timeout> <action>.
CHILD = """
import os, sys
from logistics.adapters.breaker import BreakerConfig, CircuitOpen, build_breaker
prefix, reset_timeout, action = sys.argv[1], float(sys.argv[2]), sys.argv[3]
config = BreakerConfig(name="supplier", reset_timeout_seconds=reset_timeout)
breaker = build_breaker(config, "redis://127.0.0.1:6379/0", key_prefix=prefix)
if action == "trip":
    for _ in range(config.minimum_calls):
        breaker.acquire().failure()
try:
    permit = breaker.acquire()
except CircuitOpen as refusal:
    print("refused", refusal.retry_after)
else:
    print("probe" if permit.is_probe else "permit")
    if action == "abandon":
        os._exit(0)  # dies holding the permit, as a killed worker would
    permit.ignore()
"""


def in_another_process(key_prefix: str, action: str, reset_timeout: float = 30.0) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, key_prefix, str(reset_timeout), action],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1].split()  # the last line: log lines come first


def test_open_probe_close_cycle(make_breaker, redis_client):
    breaker = make_breaker()

    trip(breaker)
    snapshot = breaker.state()
    seconds, micros = redis_client.time()
    assert abs(seconds + micros / 1e6 - snapshot.opened_at) < 1  # dated by Redis's clock
    with pytest.raises(CircuitOpen) as refusal:
        breaker.acquire()
    assert 0 < refusal.value.retry_after <= 0.3

    time.sleep(0.35)
    probe = breaker.acquire()
    assert probe.is_probe
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    probe.failure()
    assert breaker.state().state == "open"  # reopened, for another reset timeout
    with pytest.raises(CircuitOpen):
        breaker.acquire()

    time.sleep(0.35)
    breaker.acquire().success(0.01)
    snapshot = breaker.state()
    assert (snapshot.state, snapshot.calls_in_window, snapshot.opened_at) == ("closed", 0, None)


def test_decisions_match_the_memory_storage_call_for_call(make_breaker):
    """The Lua scripts and the Python state machine are one design written twice."""
    shared = make_breaker(failure_rate_threshold=0.6)
    local = CircuitBreaker(shared.config, MemoryBreakerStorage())
    pattern = "FSFFSLFSSFFFISFFSFSSFFFFSSSSFSFFLFFIFSSSFFFSFSFFFFS" * 4

    for outcome in pattern:
        for breaker in (shared, local):
            permit = breaker.acquire()
            if outcome == "F":
                permit.failure()
            elif outcome == "I":
                permit.ignore()
            else:
                permit.success(3.0 if outcome == "L" else 0.01)
        seen = [
            (b.state().state, b.state().calls_in_window, b.state().failure_rate)
            for b in (shared, local)
        ]
        assert seen[0] == seen[1]
        if seen[0][0] == "open":
            shared.force_close()
            local.force_close()


def test_keys_are_a_state_hash_a_trimmed_window_and_an_expiring_probe(
    make_breaker, key_prefix, redis_client
):
    breaker = make_breaker(window_size=20, failure_rate_threshold=1.0)
    for _ in range(30):
        breaker.acquire().success(0.01)
    base = f"{key_prefix}:supplier"

    assert redis_client.type(f"{base}:window") == b"list"
    assert redis_client.llen(f"{base}:window") == 20
    trip(make_breaker(minimum_calls=1, window_size=1))
    time.sleep(0.35)
    breaker.acquire()
    assert redis_client.type(f"{base}:state") == b"hash"
    assert 0 < redis_client.pttl(f"{base}:probe") <= 300


def test_a_breaker_opened_by_one_process_refuses_in_another(key_prefix, make_breaker):
    tripped = in_another_process(key_prefix, "trip")
    elsewhere = in_another_process(key_prefix, "acquire")

    assert tripped[0] == elsewhere[0] == "refused"
    assert 29 < float(elsewhere[1]) <= 30
    assert make_breaker(reset_timeout_seconds=30).state().state == "open"


def _race_for_the_probe(key_prefix: str, barrier: Any, results: Any) -> None:
    breaker = build_breaker(config(reset_timeout_seconds=2.0), REDIS_URL, key_prefix=key_prefix)
    barrier.wait(timeout=10)
    with capture_logs() as logs:
        try:
            permit = breaker.acquire()
            outcome = "probe" if permit.is_probe else "permit"
        except CircuitOpen:
            outcome = "refused"
    results.put((outcome, [entry["to_state"] for entry in logs if "to_state" in entry]))


def test_exactly_one_of_eight_processes_gets_the_probe(make_breaker, key_prefix):
    trip(make_breaker(reset_timeout_seconds=2.0))
    # Past the reset timeout by the time they start; the probe they race for lives 2 s.
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(8), context.Queue()
    workers = [
        context.Process(target=_race_for_the_probe, args=(key_prefix, barrier, results))
        for _ in range(8)
    ]
    time.sleep(2.05)
    for worker in workers:
        worker.start()
    answers = [results.get(timeout=20) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)

    outcomes = sorted(outcome for outcome, _ in answers)
    assert outcomes == ["probe"] + ["refused"] * 7
    # Only the process that made the transition logged it.
    assert sorted(map(tuple, (changes for _, changes in answers))) == [()] * 7 + [("half_open",)]


def test_a_probe_lost_with_its_process_expires_and_another_is_let_through(make_breaker, key_prefix):
    breaker = make_breaker(reset_timeout_seconds=1.0)
    trip(breaker)
    time.sleep(1.05)

    assert in_another_process(key_prefix, "abandon", reset_timeout=1.0) == ["probe"]
    with pytest.raises(CircuitOpen) as refusal:
        breaker.acquire()
    assert breaker.state().state == "half_open"

    time.sleep(refusal.value.retry_after + 0.05)
    probe = breaker.acquire()
    assert probe.is_probe
    probe.success(0.01)
    assert breaker.state().state == "closed"


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_ten_calls_in_flight_at_once_are_not_serialized(storage, key_prefix):
    redis_url = REDIS_URL if storage == "redis" else None
    breaker = build_breaker(config(), redis_url, key_prefix=key_prefix)
    start = threading.Barrier(10)
    in_flight, most, lock = 0, 0, threading.Lock()

    def call() -> None:
        nonlocal in_flight, most
        start.wait(timeout=5)
        with breaker.guard():
            with lock:
                in_flight += 1
                most = max(most, in_flight)
            time.sleep(0.3)  # the supplier, taking its time
            with lock:
                in_flight -= 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=10) as pool:
        for future in [pool.submit(call) for _ in range(10)]:
            future.result()
    elapsed = time.perf_counter() - started

    print(f"10 guarded calls of 0.3 s each, {storage}: {elapsed:.2f} s")
    assert most == 10
    assert elapsed < 0.9  # serialized, as pybreaker's call() does, they take 3 s
    assert breaker.state().calls_in_window == 10


def test_an_open_breaker_refuses_within_a_redis_round_trip(make_breaker):
    breaker = make_breaker(reset_timeout_seconds=60)
    trip(breaker)

    timings = []
    for _ in range(1000):
        started = time.perf_counter()
        with pytest.raises(CircuitOpen):
            breaker.acquire()
        timings.append(time.perf_counter() - started)

    p50 = statistics.median(timings) * 1000
    p99 = statistics.quantiles(timings, n=100)[98] * 1000
    print(f"acquire on an open breaker over Redis: p50 {p50:.3f} ms, p99 {p99:.3f} ms")
    assert p99 < 5


def test_an_unreachable_redis_lets_calls_through_and_says_so(key_prefix):
    # Nobody listens on port 1: the breaker must not become the outage.
    breaker = build_breaker(config(), "redis://127.0.0.1:1/0", key_prefix=key_prefix)

    with capture_logs() as logs:
        permit = breaker.acquire()
        permit.failure()

    assert [entry["event"] for entry in logs] == ["circuit_breaker_storage_unavailable"]
