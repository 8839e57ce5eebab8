"""Benchmark: what the breaker's shared state costs per guarded call, by where it lives.

The supplier breaker (``SharedCircuitBreaker``, pybreaker underneath) keeps its state in process
memory (one process only), in a SQLite file (every process of the host: the embedded defaults
since docs/adr/0024) or in Redis (every process: ``REDIS_URL``). For each storage it times, in
one thread, the breaker's own work around a guarded call that does nothing:

- a success through a closed breaker (pybreaker reads the state, resets the run of failures);
- a failure counted by a closed breaker (reads the state, increments, reads the count);
- a refusal by an open breaker (reads the state, asks for the probe, is refused);

and, with ``--threads`` threads at once, failures counted (the SQLite file's write lock, or
Redis's single thread, taken by every one of them). Each measurement runs in ``--rounds``
rounds, the storages in turn within each, and prints the median of the rounds' medians and
their p99, in microseconds.

    .venv/bin/python bench/breaker_storage.py
    .venv/bin/python bench/breaker_storage.py --redis-url redis://127.0.0.1:6379/10 --calls 5000
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import structlog  # noqa: E402

from logistics.adapters.breaker import (  # noqa: E402
    BreakerConfig,
    CircuitOpen,
    SharedCircuitBreaker,
)
from logistics.adapters.breaker_sqlite import SqliteBreakerStorage  # noqa: E402
from logistics.adapters.breaker_storage import (  # noqa: E402
    BreakerStorage,
    MemoryBreakerStorage,
    RedisBreakerStorage,
)


class Down(Exception):
    pass


def down() -> None:
    raise Down


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def storages(workdir: Path, redis_url: str | None) -> dict[str, Callable[[str], BreakerStorage]]:
    made: dict[str, Callable[[str], BreakerStorage]] = {
        "memory": lambda name: MemoryBreakerStorage(name),
        "sqlite file": lambda name: SqliteBreakerStorage(workdir / f"{name}.sqlite3", name),
    }
    if redis_url:
        client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        made["redis"] = lambda name: RedisBreakerStorage(client, "bench-breaker", name)
    return made


def breaker(make: Callable[[str], BreakerStorage]) -> SharedCircuitBreaker:
    # Never trips on its own: the failures measured are counted, not refused.
    config = BreakerConfig(name=f"bench-{uuid.uuid4().hex[:8]}", fail_max=10**9)
    return SharedCircuitBreaker(config, make(config.name))


def timed_calls(
    guarded: SharedCircuitBreaker, func: Callable[[], object], calls: int
) -> list[float]:
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        with suppress(Down, CircuitOpen):
            guarded.call(func)
        timings.append((time.perf_counter() - started) * 1e6)
    return timings


def success(make: Callable[[str], BreakerStorage], calls: int) -> list[float]:
    guarded = breaker(make)
    timed_calls(guarded, str, 50)  # warm: the connection, the table, the row
    return timed_calls(guarded, str, calls)


def failure(make: Callable[[str], BreakerStorage], calls: int) -> list[float]:
    guarded = breaker(make)
    timed_calls(guarded, down, 50)
    timings = timed_calls(guarded, down, calls)
    guarded.reset()
    return timings


def refusal(make: Callable[[str], BreakerStorage], calls: int) -> list[float]:
    guarded = breaker(make)
    guarded.force_open("bench")
    timed_calls(guarded, str, 50)
    timings = timed_calls(guarded, str, calls)
    guarded.reset()
    return timings


def concurrent_failures(
    make: Callable[[str], BreakerStorage], calls: int, threads: int
) -> list[float]:
    guarded = breaker(make)
    timed_calls(guarded, down, 10)
    barrier = threading.Barrier(threads)
    results: list[list[float]] = []

    def run() -> None:
        timed_calls(guarded, down, 10)  # this thread's own connection and pybreaker
        barrier.wait()
        results.append(timed_calls(guarded, down, calls // threads))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    guarded.reset()
    return [timing for result in results for timing in result]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--redis-url", default=None, help="also measure Redis (a database of its own)"
    )
    args = parser.parse_args()
    # The transitions' log lines (every opened breaker) would be timed with the calls.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))

    with tempfile.TemporaryDirectory(prefix="monolithos-bench-breaker-") as workdir:
        made = storages(Path(workdir), args.redis_url)
        measurements: dict[str, Callable[[Callable[[str], BreakerStorage]], list[float]]] = {
            "success, closed": lambda make: success(make, args.calls),
            "failure, closed": lambda make: failure(make, args.calls),
            "refusal, open": lambda make: refusal(make, args.calls),
            f"failure, {args.threads} threads": lambda make: concurrent_failures(
                make, args.calls, args.threads
            ),
        }
        print(f"per guarded call, us: median of {args.rounds} rounds' medians (their p99)")
        print(f"{'':<22}" + "".join(f"{name:>22}" for name in made))
        for label, measure in measurements.items():
            medians: dict[str, list[float]] = {name: [] for name in made}
            tails: dict[str, list[float]] = {name: [] for name in made}
            for _ in range(args.rounds):
                for name, make in made.items():  # in turn, so that load falls on all alike
                    timings = measure(make)
                    medians[name].append(statistics.median(timings))
                    tails[name].append(percentile(timings, 0.99))
            row = "".join(
                f"{statistics.median(medians[n]):>13.1f} ({statistics.median(tails[n]):>6.1f})"
                for n in made
            )
            print(f"{label:<22}{row}")


if __name__ == "__main__":
    main()
