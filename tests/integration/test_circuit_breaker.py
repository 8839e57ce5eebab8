"""The circuit breaker over a real Redis: one state for every process, one probe among them all.

Redis is a private redis-server (tests/redis_server.py) that each test addresses under a key
prefix of its own, so no test shares a database with anything else. Other processes are real
ones: ``python -c`` subprocesses (the breaker needs no Django) or forked workers on a barrier.
Time on the storage's side is moved by rewriting ``opened_at`` (the Redis storage dates by
Redis's clock, which a test cannot drive), and a lease is ended as its expiry would end it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from logistics.adapters.breaker import (
    BreakerConfig,
    CircuitOpen,
    SharedCircuitBreaker,
    build_breaker,
)
from logistics.adapters.breaker_storage import RedisBreakerStorage
from tests.integration.breaker_scenarios import (
    SupplierDown,
    decides_as_the_memory_storage,
    fail,
    race_for_the_probe,
    trip,
)
from tests.redis_server import RedisServer, SilentServer

ROOT = Path(__file__).resolve().parents[2]

MakeBreaker = Callable[..., SharedCircuitBreaker]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("breaker-redis")) as server:
        yield server


@pytest.fixture(scope="module")
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url(), socket_timeout=2)
    yield client
    client.close()


@pytest.fixture
def key_prefix() -> str:
    return f"test-breaker-{uuid.uuid4().hex}"


def config(**overrides: Any) -> BreakerConfig:
    return replace(BreakerConfig(name="supplier", reset_timeout_seconds=30), **overrides)


def shared_breaker(url: str, key_prefix: str, **overrides: Any) -> SharedCircuitBreaker:
    """build_breaker's breaker, with socket timeouts a loaded test machine cannot exceed: a
    timeout would fail open, and these tests are about what the shared state decides."""
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    chosen = config(**overrides)
    return SharedCircuitBreaker(chosen, RedisBreakerStorage(client, key_prefix, chosen.name))


@pytest.fixture
def make_breaker(redis_server: RedisServer, key_prefix: str) -> MakeBreaker:
    def make(**overrides: Any) -> SharedCircuitBreaker:
        return shared_breaker(redis_server.url(), key_prefix, **overrides)

    return make


@pytest.fixture
def rewind(redis_client: redis.Redis, key_prefix: str) -> Callable[[float], None]:
    """Move the breaker's opened_at back, as if that many seconds had passed on Redis."""

    def move(seconds: float) -> None:
        redis_client.hincrbyfloat(f"{key_prefix}:supplier:state", "opened_at", -seconds)

    return move


@pytest.fixture
def end_lease(redis_client: redis.Redis, key_prefix: str) -> Callable[[], None]:
    def end() -> None:
        probe = f"{key_prefix}:supplier:probe"
        assert 0 < cast(int, redis_client.pttl(probe)) <= 30_000  # it would expire by itself
        redis_client.delete(probe)

    return end


# Run in another interpreter: python -c CHILD <redis_url> <key_prefix> <action>.
CHILD = """
import os, sys
import redis
from logistics.adapters.breaker import BreakerConfig, CircuitOpen, SharedCircuitBreaker
from logistics.adapters.breaker_storage import RedisBreakerStorage
url, prefix, action = sys.argv[1:4]
client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
config = BreakerConfig(name="supplier", reset_timeout_seconds=30)
breaker = SharedCircuitBreaker(config, RedisBreakerStorage(client, prefix))
def down():
    raise OSError("down")
def supplier():
    if action == "abandon":
        print("probe", flush=True)
        os._exit(0)  # dies holding the probe, as a killed worker would
    return "called"
if action == "trip":
    for _ in range(breaker.config.fail_max):
        try:
            breaker.call(down)
        except OSError:
            pass
try:
    print(breaker.call(supplier))
except CircuitOpen as refusal:
    print("refused", refusal.retry_after)
"""


def in_another_process(redis_server: RedisServer, key_prefix: str, action: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, redis_server.url(), key_prefix, action],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1].split()  # the last line: log lines come first


def test_open_probe_close_cycle(make_breaker, redis_client, rewind):
    breaker = make_breaker()

    trip(breaker)
    snapshot = breaker.state()
    seconds, micros = redis_client.time()
    assert abs(seconds + micros / 1e6 - snapshot.opened_at) < 1  # dated by Redis's clock
    with pytest.raises(CircuitOpen) as refusal:
        breaker.call(str)
    assert 29 < refusal.value.retry_after <= 30

    rewind(30)
    with pytest.raises(SupplierDown):
        breaker.call(fail)  # the probe, failing
    assert breaker.state().state == "open"  # reopened, for another reset timeout
    with pytest.raises(CircuitOpen):
        breaker.call(str)

    rewind(30)
    assert breaker.call(lambda: "probed") == "probed"
    snapshot = breaker.state()
    assert (snapshot.state, snapshot.failures, snapshot.opened_at) == ("closed", 0, None)


def test_decisions_match_the_memory_storage_call_for_call(make_breaker, rewind):
    """The Lua scripts and the memory storage are one design written twice."""
    shared = make_breaker(fail_max=3)
    shared = SharedCircuitBreaker(shared.config, shared.storage, exclude=[LookupError])

    decides_as_the_memory_storage(shared, lambda: rewind(shared.config.reset_timeout_seconds))


def test_keys_are_one_state_hash_and_an_expiring_probe(
    make_breaker, key_prefix, redis_client, rewind
):
    breaker = make_breaker()
    base = f"{key_prefix}:supplier"
    trip(breaker)
    rewind(30)
    ttl_during_the_probe: list[int] = []

    breaker.call(lambda: ttl_during_the_probe.append(redis_client.pttl(f"{base}:probe")))

    assert sorted(key.decode() for key in redis_client.scan_iter(match=f"{base}:*")) == [
        f"{base}:state"
    ]
    assert redis_client.type(f"{base}:state") == b"hash"
    assert 29_000 < ttl_during_the_probe[0] <= 30_000


def test_a_breaker_opened_by_one_process_refuses_in_another(redis_server, key_prefix, make_breaker):
    tripped = in_another_process(redis_server, key_prefix, "trip")
    elsewhere = in_another_process(redis_server, key_prefix, "call")

    assert tripped[0] == elsewhere[0] == "refused"
    assert 20 < float(elsewhere[1]) <= 30  # the time left on the one open period
    assert make_breaker().state().state == "open"


def test_exactly_one_of_eight_processes_gets_the_probe(
    make_breaker, redis_server, key_prefix, rewind
):
    trip(make_breaker())
    rewind(30)

    outcomes, changes = race_for_the_probe(lambda: shared_breaker(redis_server.url(), key_prefix))

    assert outcomes == ["probe"] + ["refused"] * 7, changes
    # Only the process that made the transitions logged them.
    assert changes == [()] * 7 + [("half_open", "closed")]
    assert make_breaker().state().state == "closed"


def test_a_probe_lost_with_its_process_refuses_the_others_until_its_lease_ends(
    make_breaker, redis_server, key_prefix, rewind, end_lease
):
    breaker = make_breaker()
    trip(breaker)
    rewind(30)

    assert in_another_process(redis_server, key_prefix, "abandon") == ["probe"]
    with pytest.raises(CircuitOpen) as refusal:
        breaker.call(str)
    assert 29 < refusal.value.retry_after <= 30
    assert breaker.state().state == "half_open"

    end_lease()
    assert breaker.call(lambda: "probed") == "probed"
    assert breaker.state().state == "closed"


def test_failures_in_flight_when_it_opened_neither_reopen_nor_redate_it(make_breaker):
    breaker = make_breaker()
    release = threading.Event()

    def hanging_then_down() -> str:
        release.wait(timeout=10)
        raise SupplierDown

    with ThreadPoolExecutor(max_workers=3) as pool:
        in_flight = [pool.submit(breaker.call, hanging_then_down) for _ in range(3)]
        with capture_logs() as logs:
            trip(breaker)
            opened_at = breaker.state().opened_at
            release.set()
            for call in in_flight:
                with pytest.raises(SupplierDown):
                    call.result(timeout=10)

    assert (breaker.state().state, breaker.state().opened_at) == ("open", opened_at)
    assert [entry["to_state"] for entry in logs if "to_state" in entry] == ["open"]


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_ten_calls_in_flight_at_once_are_not_serialized(storage, redis_server, key_prefix):
    """pybreaker's call() holds one lock for the whole call: ten 0.3 s calls through one
    instance take 3 s. One instance per thread, on one storage: all ten are in the supplier at
    once (the supplier answers only when all ten have arrived; serialized, the first would wait
    for the others until the barrier gives up)."""
    redis_url = redis_server.url() if storage == "redis" else None
    breaker = build_breaker(config(), redis_url, key_prefix=key_prefix)
    start, inside = threading.Barrier(10), threading.Barrier(10)

    def slow_supplier() -> str:
        inside.wait(timeout=30)  # the supplier, taking its time until all ten are in
        return "ok"

    def call() -> str:
        start.wait(timeout=30)
        return breaker.call(slow_supplier)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = [future.result() for future in [pool.submit(call) for _ in range(10)]]

    assert answers == ["ok"] * 10


def test_an_open_breaker_refuses_in_two_redis_round_trips(make_breaker, monkeypatch):
    """A refusal costs two commands to Redis (the state, the lease script: docs/adr/0017),
    counted rather than timed; the latency itself is bench/supplier.py's to measure."""
    breaker = make_breaker()
    trip(breaker)
    client = breaker.storage._redis
    commands: list[str] = []
    send = client.execute_command

    def counted(*args: Any, **options: Any) -> Any:
        commands.append(str(args[0]))
        return send(*args, **options)

    monkeypatch.setattr(client, "execute_command", counted)
    with pytest.raises(CircuitOpen):
        breaker.call(str)  # loads the scripts into this connection's server once
    commands.clear()
    for _ in range(100):
        with pytest.raises(CircuitOpen):
            breaker.call(str)

    assert commands == ["HGET", "EVALSHA"] * 100


def unavailable(breaker: str = "supplier") -> float:
    labels = {"breaker": breaker}
    value = REGISTRY.get_sample_value(
        "monolithos_supplier_breaker_storage_unavailable_total", labels
    )
    return value or 0.0


def test_an_unreachable_redis_lets_calls_through_and_says_so(key_prefix):
    # Nobody listens on port 1: the breaker must not become the outage.
    breaker = build_breaker(config(fail_max=1), "redis://127.0.0.1:1/0", key_prefix=key_prefix)
    counted = unavailable()

    with capture_logs() as logs:
        with pytest.raises(SupplierDown):
            breaker.call(fail)
        assert breaker.call(lambda: "called") == "called"  # nothing counted, nothing opened

    assert [entry["event"] for entry in logs] == ["circuit_breaker_storage_unavailable"]
    assert unavailable() > counted
    assert breaker.state().unknown


def test_a_lost_redis_fails_open_and_the_breaker_shares_again_once_it_is_back(tmp_path):
    clock = [0.0]
    with RedisServer(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url(), socket_timeout=0.25)
        storage = RedisBreakerStorage(client, "lost", "supplier", clock=lambda: clock[0])
        breaker = SharedCircuitBreaker(config(), storage)
        trip(breaker)
        counted = unavailable()

        server.kill()
        with capture_logs() as logs:
            answers = [breaker.call(lambda: "called") for _ in range(5)]  # the supplier is called

        assert answers == ["called"] * 5
        assert breaker.state().unknown
        assert [entry["event"] for entry in logs] == ["circuit_breaker_storage_unavailable"]
        assert unavailable() > counted

        server.start()  # empty: the state was in memory only
        clock[0] += 1.0  # the next try is due
        trip(breaker)
        other_process = shared_breaker(server.url(), "lost")
        with pytest.raises(CircuitOpen):
            other_process.call(str)


def test_a_hung_redis_costs_one_socket_timeout_per_second_not_one_per_call():
    hung, clock = SilentServer(), [0.0]
    try:
        client = redis.Redis.from_url(hung.url(), socket_timeout=0.05, socket_connect_timeout=0.05)
        breaker = SharedCircuitBreaker(
            config(), RedisBreakerStorage(client, "hung", "supplier", clock=lambda: clock[0])
        )

        for _ in range(20):
            assert breaker.call(lambda: "called") == "called"
        assert hung.accepted == 1

        clock[0] += 1.0
        breaker.call(lambda: "called")
        assert hung.accepted == 2
    finally:
        hung.close()
