"""Benchmark: choosing ``fail_max`` for pybreaker's rule (it opens after N consecutive failures).

Each candidate runs through the real breaker (``SharedCircuitBreaker`` on process memory) with a
hand-driven clock, so open periods take no time: a refused call moves the clock to the probe,
which plays the same outcome. For each ``fail_max`` it prints

- trips per 1,000 calls (closed to open; a failed probe's reopening is not a trip) when calls
  fail at random: 50 % (supplier_sim's default 503s), 55 % (its 10 % of hangs on top, which time
  out) and 70 %, mean over ``--seeds`` streams of 1,000 calls;
- calls until a supplier that fails 90 % of its calls opens the breaker (mean over the seeds);
- calls until a hard outage (every call failing) opens it, from the worst point: a fresh count.

PASS: it rides out the simulator's default chaos, tripping at most 0.5 times per 1,000 calls at
55 %. The smallest value that passes opens fastest in an outage.

    .venv/bin/python bench/breaker_trip_rule.py
    .venv/bin/python bench/breaker_trip_rule.py --seeds 200 --candidates 5,8,10,12,15
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from logistics.adapters.breaker import (  # noqa: E402
    BreakerConfig,
    CircuitOpen,
    SharedCircuitBreaker,
)
from logistics.adapters.breaker_storage import MemoryBreakerStorage  # noqa: E402

RATES = (0.5, 0.55, 0.7)


class Down(Exception):
    pass


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def breaker(fail_max: int, clock: Clock) -> SharedCircuitBreaker:
    config = BreakerConfig(name="trip-rule", fail_max=fail_max, reset_timeout_seconds=30)
    return SharedCircuitBreaker(config, MemoryBreakerStorage(config.name, clock), timer=clock)


def down() -> None:
    raise Down


def up() -> None:
    return None


def play(guarded: SharedCircuitBreaker, clock: Clock, failed: bool) -> None:
    try:
        guarded.call(down if failed else up)
    except Down:
        pass
    except CircuitOpen as refusal:
        clock.now += refusal.retry_after
        play(guarded, clock, failed)


def trips(fail_max: int, rate: float, seed: int, calls: int = 1000) -> int:
    clock, rng = Clock(), random.Random(seed)
    guarded, count = breaker(fail_max, clock), 0
    for _ in range(calls):
        was_closed = guarded.storage.state == "closed"
        play(guarded, clock, rng.random() < rate)
        count += was_closed and guarded.storage.state == "open"
    return count


def calls_to_open(fail_max: int, rate: float, seed: int) -> int:
    clock, rng = Clock(), random.Random(seed)
    guarded, calls = breaker(fail_max, clock), 0
    while guarded.storage.state == "closed":
        play(guarded, clock, rng.random() < rate)
        calls += 1
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--candidates", default="5,6,8,10,12,15")
    args = parser.parse_args()
    seeds = range(args.seeds)
    # Thousands of transitions: their log lines would drown the table.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))

    print(f"trips per 1,000 calls, mean over {args.seeds} seeds; calls until open")
    header = "".join(f"{f'{rate:.0%}':>8}" for rate in RATES)
    print(f"{'fail_max':>8}{header}{'at 90%':>10}{'outage':>8}")
    for fail_max in (int(value) for value in args.candidates.split(",")):
        rates = [statistics.mean(trips(fail_max, rate, seed) for seed in seeds) for rate in RATES]
        sick = statistics.mean(calls_to_open(fail_max, 0.9, seed) for seed in seeds)
        outage = calls_to_open(fail_max, 1.0, 0)
        verdict = "PASS" if rates[1] <= 0.5 else "MISS"
        cells = "".join(f"{value:8.2f}" for value in rates)
        print(f"{fail_max:>8}{cells}{sick:10.1f}{outage:8d}   {verdict}")


if __name__ == "__main__":
    main()
