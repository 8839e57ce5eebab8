"""Benchmark: what the resilience layer does for callers of the Supplier Protocol API.

Starts its own supplier simulator (chaos defaults: 50% of requests answered 503, 10% of the
rest hang 5 s) on a free port and, in one run, prints:

1. fail-fast latency of an open breaker: a call refused by a forced-open breaker,
   process-local and shared through Redis (``--redis-url``, default redis://127.0.0.1:6379/15;
   skipped with a note when Redis is not there), median and p99 in microseconds;
2. dispatch latency seen by callers under chaos, ``--calls`` dispatches from ``--threads``
   threads: the plain HTTP call without timeout (the legacy behaviour) against the resilient
   gateway with the settings' defaults (one attempt, 1 s connect, 3 s read, 4 s deadline);
3. the time to drain ``--drain`` dispatches under chaos through the logistics service with
   the background policy, ``--workers`` dispatchers in parallel retrying whatever is still
   pending, on temporary SQLite files, with the simulator's ledger checked for exactly one
   dispatch per shipment;
4. ten calls of 0.3 s (a slow fake supplier) from ten threads at once: through one
   ``pybreaker.CircuitBreaker``, whose ``call()`` holds its lock for the whole call, and
   through the project's breaker (an instance per thread), process-local and Redis-shared.
   PASS when the project's breaker takes under 0.6 s (the calls overlap).

``--steps 3`` runs the drain alone (it also prints how often the breaker opened).

    .venv/bin/python bench/supplier.py
    .venv/bin/python bench/supplier.py --calls 100 --threads 20 --drain 200
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@contextmanager
def simulator(seed: int) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "supplier_sim", "--port", str(port), "--seed", str(seed)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/health", timeout=1).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def fail_fast(redis_url: str) -> None:
    from logistics.adapters.breaker import BreakerConfig, CircuitOpen, build_breaker

    print("1. open breaker, a call refused (1,000 calls)")
    for label, url in (("process-local", None), ("Redis-shared", redis_url)):
        breaker = build_breaker(
            BreakerConfig(name=f"bench-{uuid.uuid4().hex[:8]}"), url, key_prefix="bench"
        )
        try:
            breaker.force_open()
        except Exception as error:  # Redis down: say so, measure the rest
            print(f"   {label:<14} not measured: {error}")
            continue
        timings = []
        for _ in range(1000):
            started = time.perf_counter()
            with suppress(CircuitOpen):
                breaker.call(str)
            timings.append((time.perf_counter() - started) * 1e6)
        breaker.reset()
        print(
            f"   {label:<14} median {statistics.median(timings):7.1f} us"
            f"   p99 {percentile(timings, 0.99):7.1f} us"
        )


def caller_latency(url: str, calls: int, threads: int) -> None:
    import requests
    from django.conf import settings

    from logistics import wiring
    from logistics.domain import ShipmentItem
    from logistics.ports import DispatchRequest, SupplierFailure

    settings.SUPPLIER_API_URL = url
    wiring.supplier_breaker.cache_clear()
    gateway = wiring.supplier_gateway()
    body = {"order_ref": "BENCH", "destination": "x", "items": [{"sku": "BOX-S", "quantity": 1}]}

    def plain(n: int) -> tuple[float, str]:
        started = time.perf_counter()
        response = requests.post(url + "/v1/dispatches", json=body, timeout=None)  # noqa: S113
        return time.perf_counter() - started, str(response.status_code)

    def resilient(n: int) -> tuple[float, str]:
        request = DispatchRequest(
            f"BENCH-{n}", "x", (ShipmentItem("BOX-S", 1),), f"bench-{uuid.uuid4()}"
        )
        started = time.perf_counter()
        try:
            gateway.dispatch(request)
            outcome = "dispatched"
        except SupplierFailure as failure:
            outcome = failure.kind
        return time.perf_counter() - started, outcome

    print(f"2. caller latency under chaos defaults: {calls} dispatches from {threads} threads")
    for label, call in (("without resilience", plain), ("with resilience", resilient)):
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(call, range(calls)))
        seconds = [elapsed for elapsed, _ in results]
        outcomes = Counter(outcome for _, outcome in results)
        print(
            f"   {label:<19} p50 {percentile(seconds, 0.5) * 1000:7.0f} ms"
            f"   p99 {percentile(seconds, 0.99) * 1000:7.0f} ms"
            f"   max {max(seconds) * 1000:7.0f} ms   {dict(outcomes)}"
        )
    print(f"   deadline configured: {settings.SUPPLIER_DEADLINE * 1000:.0f} ms")


def drain(
    url: str, count: int, workers: int, ledger: Callable[[], list[dict[str, object]]]
) -> None:
    from django.conf import settings
    from django.utils import timezone

    from logistics import wiring
    from logistics.contracts import CreateShipment, ItemIn
    from logistics.domain import IllegalTransition
    from logistics.models import ShipmentRecord

    settings.SUPPLIER_API_URL = url
    wiring.supplier_breaker.cache_clear()
    service = wiring.build_logistics_service(background=True)
    shipments = [
        service.create_shipment(
            CreateShipment(
                order_ref=f"DRAIN-{n:05d}",
                destination="1 Dock Road",
                items=[ItemIn(sku="BOX-S", quantity=1)],
            )
        )
        for n in range(count)
    ]
    pending = ShipmentRecord.objects.filter(status="pending")

    def dispatch(shipment_id: uuid.UUID) -> None:
        with suppress(IllegalTransition):
            service.dispatch(shipment_id)

    opened_before = breaker_transitions()
    started = time.perf_counter()
    sweeps = 0
    deadline = time.monotonic() + 300
    # Workers in parallel, as several sweep processes (or Celery workers) would; each round
    # retries every shipment still pending, without waiting out its backoff.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(dispatch, [shipment.id for shipment in shipments]))
        while pending.exists() and time.monotonic() < deadline:
            pending.update(next_attempt_at=timezone.now())
            list(pool.map(dispatch, list(pending.values_list("id", flat=True))))
            sweeps += 1
    elapsed = time.perf_counter() - started
    per_order = Counter(str(d["order_ref"]) for d in ledger() if str(d["order_ref"]) != "BENCH")
    drained = sum(1 for ref in per_order if ref.startswith("DRAIN-"))
    duplicates = sum(1 for times in per_order.values() if times > 1)
    print(
        f"3. drain {count} dispatches under chaos defaults ({workers} workers, background policy)"
    )
    left = pending.count()
    print(
        f"   {elapsed:.1f} s, {sweeps} sweep(s), {left} left pending; "
        f"ledger: {drained} shipments, {duplicates} dispatched twice"
    )
    opened, probes, closed = (
        after - before for after, before in zip(breaker_transitions(), opened_before, strict=True)
    )
    failed_probes = probes - closed
    print(f"   breaker: {opened - failed_probes:.0f} trip(s), {failed_probes:.0f} failed probe(s)")


def breaker_transitions() -> tuple[float, ...]:
    """The supplier breaker's transitions so far, to open, half-open and closed."""
    from prometheus_client import REGISTRY

    return tuple(
        REGISTRY.get_sample_value(
            "monolithos_supplier_breaker_transitions_total",
            {"breaker": "supplier", "to_state": to_state},
        )
        or 0.0
        for to_state in ("open", "half_open", "closed")
    )


def overlapping_calls(redis_url: str) -> None:
    import pybreaker

    from logistics.adapters.breaker import BreakerConfig, build_breaker

    def slow_supplier() -> str:
        time.sleep(0.3)
        return "ok"

    one_instance = pybreaker.CircuitBreaker()
    config = BreakerConfig(name=f"bench-{uuid.uuid4().hex[:8]}")
    print("4. ten calls of 0.3 s from ten threads at once")
    for label, call, judged in (
        ("one pybreaker instance", one_instance.call, False),
        ("ours, process-local", build_breaker(config, None).call, True),
        ("ours, Redis-shared", build_breaker(config, redis_url, key_prefix="bench").call, True),
    ):
        with ThreadPoolExecutor(max_workers=10) as pool:
            started = time.perf_counter()
            list(pool.map(call, [slow_supplier] * 10))
            elapsed = time.perf_counter() - started
        verdict = ("PASS" if elapsed < 0.6 else "MISS") if judged else "(reference)"
        print(f"   {label:<23} {elapsed:5.2f} s   {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--drain", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8, help="parallel dispatchers for 3")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--steps", default="1,2,3,4", help="which of the steps to run")
    args = parser.parse_args()
    steps = {int(step) for step in args.steps.split(",")}

    workdir = Path(tempfile.mkdtemp(prefix="monolithos-bench-supplier-"))
    os.environ.update(MONOLITHOS_VAR_DIR=str(workdir), LOG_LEVEL="ERROR", DEBUG="false")
    for name in ("DATABASE_URL", "LOGISTICS_DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    for alias in ("default", "logistics"):
        call_command("migrate", database=alias, verbosity=0)
    try:
        if 1 in steps:
            fail_fast(args.redis_url)
        with simulator(args.seed) as url:
            if 2 in steps:
                caller_latency(url, args.calls, args.threads)

            def ledger() -> list[dict[str, object]]:
                import json

                with urllib.request.urlopen(url + "/v1/ledger", timeout=5) as response:  # noqa: S310
                    dispatches: list[dict[str, object]] = json.loads(response.read())["dispatches"]
                return dispatches

            if 3 in steps:
                drain(url, args.drain, args.workers, ledger)
        if 4 in steps:
            overlapping_calls(args.redis_url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
