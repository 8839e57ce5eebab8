"""What counting the ops panel's traffic costs a request, in one run on this machine.

1. ``GET /api/orders/<id>/track/`` through Django's WSGI handler (every middleware, the facade
   in ``legacy`` mode) in alternating blocks of 100 requests: with the real counter
   (``strangler.traffic``: a dict increment under a lock; its thread flushing every
   STRANGLER_TRAFFIC_FLUSH_SECONDS as in production) and with a counter that counts nothing.
   The difference of the two medians, as a share of the route's time.
2. ``TrafficCounter.count`` alone, in a loop: its own cost per call, as a share of the route's
   median (the difference in 1 is within this machine's noise; this one is not).
3. A flush of ``--routes`` routes' minute (off the request path: the flushing thread's).

Target: counting costs under 5 % of the track route's time (2: the direct measure decides;
1 is printed beside it). Fresh SQLite databases in a temporary directory; Redis at
``--cache-url`` (the state's version board).

    .venv/bin/python bench/traffic_counts.py --cache-url redis://127.0.0.1:6379/2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.strangler import (  # noqa: E402
    environment,
    prepare,
    seed,
    set_mode,
    timed_requests,
    tracking,
    verdict,
)

TARGET_SHARE = 5.0  # percent of the track route's time
NO_SUPPLIER = "http://127.0.0.1:1"  # tracking a pending shipment asks the supplier nothing


class CountingNothing:
    """The counter's interface, counting nothing: the request path without the panel's counts."""

    def count(self, route: str, field: str, n: int = 1) -> None:
        return None


def route_with_and_without(handler: Any, order_id: int, blocks: int) -> dict[str, float]:
    from strangler import wiring

    runtime = wiring.runtime()
    counter = runtime.traffic
    one_order = tracking([order_id])
    sides: dict[str, Any] = {"counting": counter, "not counting": CountingNothing()}
    durations: dict[str, list[float]] = {name: [] for name in sides}
    for traffic in sides.values():  # warm up
        runtime.traffic = traffic
        timed_requests(handler, one_order, 200)
    for _ in range(blocks):
        for name, traffic in sides.items():
            runtime.traffic = traffic
            durations[name].extend(timed_requests(handler, one_order, 100))
    runtime.traffic = counter
    return {name: statistics.median(values) for name, values in durations.items()}


def count_alone(calls: int) -> float:
    from strangler.traffic import TrafficCounter

    counter = TrafficCounter()
    for _ in range(10_000):
        counter.count("api_track_order", "legacy")
    started = time.perf_counter()
    for _ in range(calls):
        counter.count("api_track_order", "legacy")
    return (time.perf_counter() - started) / calls


def flush_cost(routes: int, rounds: int) -> float:
    from strangler.traffic import TrafficCounter

    counter = TrafficCounter()
    timings = []
    for _ in range(rounds):
        for index in range(routes):
            counter.count(f"bench_route_{index}", "legacy", 7)
            counter.count(f"bench_route_{index}", "new", 3)
        started = time.perf_counter()
        counter.flush()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=40, help="blocks of 100 requests per side")
    parser.add_argument("--calls", type=int, default=1_000_000, help="count() calls timed")
    parser.add_argument("--routes", type=int, default=5, help="routes in a flush")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="traffic-bench-") as tmp:
        env = {**environment(Path(tmp), args.cache_url), "LOG_LEVEL": "WARNING"}
        prepare(Path(tmp), env, NO_SUPPLIER)
        import django

        django.setup()
        from django.core.handlers.wsgi import WSGIHandler

        [order_id] = seed(1)
        set_mode("api_track_order", "legacy")
        medians = route_with_and_without(WSGIHandler(), order_id, args.blocks)
        per_call = count_alone(args.calls)
        flush = flush_cost(args.routes, 50)
        from strangler import wiring

        wiring.runtime().traffic.flush()  # before the databases go (the exit's flush: empty)

    route = medians["not counting"]
    difference = medians["counting"] - route
    share = 100 * per_call / route
    print("GET /api/orders/<id>/track/, legacy mode, median per request:")
    print(f"  not counting      {route * 1000:8.3f} ms")
    print(f"  counting          {medians['counting'] * 1000:8.3f} ms")
    print(f"  difference        {difference * 1e6:8.1f} us ({100 * difference / route:+.2f} %)")
    print(f"TrafficCounter.count alone: {per_call * 1e6:.3f} us per call")
    print(f"  share of the route's time: {share:.3f} % (target < {TARGET_SHARE:g} %)")
    print(f"A flush of {args.routes} routes' minute (flushing thread): {flush * 1000:.2f} ms")
    print(f"{verdict(share < TARGET_SHARE)}: counting costs {share:.3f} % of the track route")


if __name__ == "__main__":
    main()
