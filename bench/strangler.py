"""What the strangler facade costs, in one run on this machine.

1. The facade in ``legacy`` mode against the same route with no facade: Django's WSGI handler
   (every middleware, JSON log lines rendered to /dev/null) called in a loop on
   ``GET /api/orders/<id>/track/`` of an undispatched order (no supplier call), once through
   ``config.urls`` (the facade) and once through ``bench/strangler_urls.py`` (the legacy view
   mounted directly), in alternating rounds. Targets: under 5 % of the route's own time and
   under 0.2 ms.
2. Shadow mode's added latency on the legacy answer, p50 and p99: the same loop in ``legacy``,
   in ``legacy`` again (the same mode measured twice: what this machine's noise alone makes of
   a p99) and in ``shadow`` mode at each ``--samples`` rate, in small blocks whose order turns
   (each mode spread over the whole run), for the track route (a read: the candidate on the
   shadow pool once the answer has left; ``--orders`` orders tracked in turn, so a sample by
   routing key takes its share of them) and, with
   ``--placement``, for ``POST /api/orders/`` (a write: the candidate first, in a rolled-back
   transaction; a customer of its own per placement; needs the supplier simulator, started
   here). Target: under 10 % on p99. ``--profile`` instead runs the read in shadow mode, one
   request at a time and each candidate under cProfile, and prints where its time goes.
3. The time for a mode change to reach every process: ``--processes`` separate Python processes
   each route a request a millisecond through their own state store (the code gunicorn's
   workers run); the parent changes the mode ``--changes`` times with the service the command
   calls and records, per change, when the last process saw it. Once with the shared cache
   (CACHE_URL, Redis) and once with its Redis unreachable (the fallback expiry). Target: 1 s.

Fresh SQLite databases in a temporary directory; Redis at ``--cache-url`` (a database of its
own: it is flushed).

    .venv/bin/python bench/strangler.py
    .venv/bin/python bench/strangler.py --placement --samples 100,10,1
    .venv/bin/python bench/strangler.py --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UNREACHABLE_CACHE = "redis://127.0.0.1:1/0"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Handler = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Scenario = Callable[[int], tuple[str, str, bytes]]
"""The ``index``-th request of a scenario: method, path, body."""

TARGET_ADDED_P99 = 10.0  # percent
TARGET_FACADE_SHARE, TARGET_FACADE_US = 5.0, 200.0
TARGET_PROPAGATION_MS = 1000.0


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def environment(directory: Path, cache_url: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{directory}/default.sqlite3",
        "LOGISTICS_DATABASE_URL": f"sqlite:///{directory}/logistics.sqlite3",
        "MONOLITHOS_VAR_DIR": str(directory),
        "MEDIA_ROOT": str(directory / "media"),
        "CACHE_URL": cache_url,
        "LOG_FORMAT": "json",
        "DEBUG": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


# ---------------------------------------------------------------------- in-process requests


def wsgi_environ(method: str, path: str, body: bytes = b"") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
    }


def timed_requests(
    handler: Handler, scenario: Scenario, count: int, pace: float = 0.0, first: int = 0
) -> list[float]:
    """Per-request durations; with ``pace``, one request starts every ``pace`` seconds (an
    open loop below saturation, so a shadow candidate has the time it would have in a process
    that is not overloaded), else back to back."""
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen.append(status)

    durations = []
    next_start = time.perf_counter()
    for index in range(first, first + count):
        method, path, payload = scenario(index)
        expected = "201" if method == "POST" else "200"
        if pace:
            time.sleep(max(0.0, next_start - time.perf_counter()))
            next_start += pace
        started = time.perf_counter()
        answer = handler(wsgi_environ(method, path, payload), start_response)
        for _chunk in answer:
            pass
        durations.append(time.perf_counter() - started)
        # What the server does once the client has its answer (request_finished: connections).
        close = getattr(answer, "close", None)
        if close is not None:
            close()
        if not seen[-1].startswith(expected):
            raise SystemExit(f"{method} {path} answered {seen[-1]}")
    return durations


def set_mode(route: str, mode: str, sample: float | None = None) -> None:
    from strangler import services

    services.set_mode(
        route=route,
        mode=mode,
        sample=None if sample is None or sample >= 100 else f"{sample:g}",
        reason="bench",
        actor="bench",
        via="command",
    )


def tracking(order_ids: list[int]) -> Scenario:
    def request(index: int) -> tuple[str, str, bytes]:
        return "GET", f"/api/orders/{order_ids[index % len(order_ids)]}/track/", b""

    return request


def placing(index: int) -> tuple[str, str, bytes]:
    order = {
        "customer_name": "Ada",
        "customer_email": f"bench{index}@example.com",
        "shipping_address": "12 Analytical Row",
        "lines": [{"sku": "BOX-S", "quantity": 1}],
    }
    return "POST", "/api/orders/", json.dumps(order).encode()


def facade_cost(handler: Handler, order_id: int, count: int, rounds: int) -> dict[str, Any]:
    """Median per request of each URLconf, alternating in blocks of 100 requests (this machine's
    load drifts more between seconds than the facade costs: blocks keep the two side by side)."""
    from django.test.utils import override_settings

    one_order = tracking([order_id])
    results: dict[str, list[float]] = {"no facade": [], "facade, legacy mode": []}
    urlconfs = {"no facade": "bench.strangler_urls", "facade, legacy mode": "config.urls"}
    set_mode("api_track_order", "legacy")
    for urlconf in urlconfs.values():  # warm up
        with override_settings(ROOT_URLCONF=urlconf):
            timed_requests(handler, one_order, 200)
    for _ in range(max(1, count * rounds // 100)):
        for name, urlconf in urlconfs.items():
            with override_settings(ROOT_URLCONF=urlconf):
                results[name].extend(timed_requests(handler, one_order, 100))
    bare = statistics.median(results["no facade"])
    facade = statistics.median(results["facade, legacy mode"])
    return {"route_ms": bare * 1000, "facade_ms": facade * 1000, "cost_ms": (facade - bare) * 1000}


def facade_alone(count: int) -> dict[str, float]:
    """The facade's own cost, in microseconds, around a view that does nothing, no middleware:
    in legacy mode, and in shadow mode for a request outside the sample (no candidate runs)."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from config.strangled_routes import TRACK_ORDER
    from strangler import hashing, wiring
    from strangler.facade import StrangledView

    def nothing(request: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse(b"")

    view = StrangledView(TRACK_ORDER, legacy=nothing, new=nothing)
    request = RequestFactory().get("/api/orders/1/track/")
    set_mode("api_track_order", "shadow", 0.01)
    salt = wiring.store().snapshot().configured("api_track_order").salt
    outside = next(n for n in range(1, 100) if not hashing.sampled(salt, str(n), 1))
    timings = {}
    for name, call, mode in (
        ("bare", nothing, "legacy"),
        ("legacy", view, "legacy"),
        ("unsampled", view, "shadow"),
    ):
        set_mode("api_track_order", mode, 0.01 if mode == "shadow" else None)
        for _ in range(1000):
            call(request, order_id=outside)
        started = time.perf_counter()
        for _ in range(count):
            call(request, order_id=outside)
        timings[name] = (time.perf_counter() - started) / count
    set_mode("api_track_order", "legacy")
    return {name: (timings[name] - timings["bare"]) * 1e6 for name in ("legacy", "unsampled")}


LEGACY, LEGACY_AGAIN = "legacy", "legacy again"
ModeKey = str | float
"""A measured mode: legacy, legacy again (measured twice: the machine's noise) or a sample."""


def shadow_cost(
    handler: Handler,
    route: str,
    scenario: Scenario,
    count: int,
    rounds: int,
    samples: list[float],
    pace: float = 0.0,
    block: int = 100,
) -> dict[ModeKey, dict[str, Any]]:
    """Legacy, legacy again and shadow at each sample, ``count`` x ``rounds`` requests each, in
    blocks of ``block`` requests whose order turns every time (this machine's load drifts over
    seconds: small blocks spread each mode over the whole run). Latency percentiles of the
    legacy answer and the shadow results each mode produced."""
    modes: list[ModeKey] = [LEGACY, LEGACY_AGAIN, *samples]
    durations: dict[ModeKey, list[float]] = {mode: [] for mode in modes}
    results: dict[ModeKey, dict[str, float]] = {mode: {} for mode in modes}
    index = 0

    def run(mode: ModeKey, requests: int) -> list[float]:
        nonlocal index
        sample = mode if isinstance(mode, float) else None
        set_mode(route, "legacy" if sample is None else "shadow", sample)
        before = shadow_results(route)
        taken = timed_requests(handler, scenario, requests, pace, first=index)
        index += requests
        settle(route, before, 0 if sample is None else requests)
        for result, value in shadow_results(route).items():
            moved = value - before.get(result, 0.0)
            if moved:
                results[mode][result] = results[mode].get(result, 0.0) + moved
        return taken

    for mode in modes:  # warm up
        run(mode, min(block, 50))
    for counts in results.values():
        counts.clear()
    for turn in range(max(1, count * rounds // block)):
        first = turn % len(modes)
        for mode in modes[first:] + modes[:first]:
            durations[mode].extend(run(mode, block))
    set_mode(route, "legacy")
    return {
        mode: {
            "p50_ms": percentile(values, 50) * 1000,
            "p99_ms": percentile(values, 99) * 1000,
            "results": results[mode],
        }
        for mode, values in durations.items()
    }


def settle(route: str, before: dict[str, float], requests: int) -> None:
    """Wait for the candidates still running on the pool (a read's), so that the next block's
    requests do not share the process with this block's comparisons."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        counted = sum(shadow_results(route).values()) - sum(before.values())
        if counted >= requests:
            return
        time.sleep(0.01)


def shadow_results(route: str) -> dict[str, float]:
    from prometheus_client import REGISTRY

    from strangler.experiment import OUTCOMES

    counts = {}
    for result in OUTCOMES:
        value = REGISTRY.get_sample_value(
            "monolithos_strangler_shadow_results_total", {"route": route, "result": result}
        )
        if value:
            counts[result] = value
    return counts


class ProfiledExecutor:
    """The shadow pool, with each candidate's work (the new handler, the comparison, the
    result's publication) run under cProfile; the profiles are added up."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.stats: pstats.Stats | None = None
        self.lock = threading.Lock()
        self.last: Future[Any] | None = None

    def try_submit(self, work: Callable[[], Any]) -> Any:
        def profiled() -> Any:
            profile = cProfile.Profile()
            try:
                return profile.runcall(work)
            finally:
                with self.lock:
                    if self.stats is None:
                        self.stats = pstats.Stats(profile, stream=sys.stdout)
                    else:
                        self.stats.add(profile)

        self.last = self.inner.try_submit(profiled)
        return self.last


def profile_candidates(handler: Handler, scenario: Scenario, count: int, pace: float) -> None:
    from strangler import wiring

    runtime = wiring.runtime()
    profiled = ProfiledExecutor(runtime.executor)
    set_mode("api_track_order", "shadow")
    timed_requests(handler, scenario, 100, pace)  # warm up
    runtime.executor = profiled
    try:
        # One request at a time, its candidate waited for (it starts once the answer has left):
        # a profile then holds the candidate's own time, not time waiting for the GIL while the
        # next request runs.
        for index in range(100, 100 + count):
            timed_requests(handler, scenario, 1, first=index)
            if profiled.last is not None:
                profiled.last.result(timeout=30)
    finally:
        runtime.executor = profiled.inner
        set_mode("api_track_order", "legacy")
    assert profiled.stats is not None
    print(f"cProfile of {count} shadow candidates of GET /api/orders/<id>/track/ (pool threads)")
    profiled.stats.sort_stats("cumulative").print_stats(60)
    profiled.stats.sort_stats("tottime").print_stats(30)


# ---------------------------------------------------------------------- propagation


def watch() -> None:
    """A process routing a request a millisecond; prints each version it routes by."""
    import django

    django.setup()
    from strangler import wiring

    store = wiring.store()
    last = None
    print(json.dumps({"pid": os.getpid(), "ready": True}), flush=True)
    while True:
        snapshot = store.snapshot()
        if snapshot.version != last:
            last = snapshot.version
            print(json.dumps({"pid": os.getpid(), "version": last, "at": time.time()}), flush=True)
        time.sleep(0.001)


def propagation(env: dict[str, str], processes: int, changes: int) -> dict[str, float]:
    from strangler import wiring

    watchers = [
        subprocess.Popen(
            [sys.executable, __file__, "--watch"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    seen: dict[int, dict[int, float]] = {}  # version -> pid -> when

    streams = [w.stdout for w in watchers if w.stdout is not None]

    def everyone_saw(version: int) -> bool:
        return len(seen.get(version, {})) == processes

    def read(version: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not everyone_saw(version):
            if time.monotonic() > deadline:
                raise SystemExit("a watcher did not see a change within its deadline")
            ready, _, _ = select.select(streams, [], [], 0.05)
            for stream in ready:
                line = json.loads(stream.readline())
                if "version" in line:
                    seen.setdefault(line["version"], {})[line["pid"]] = line["at"]

    try:
        current = wiring.store().snapshot().version
        read(current, 60)
        delays = []
        for index in range(changes):
            time.sleep(0.3)  # changes a human makes are seconds apart; let the copies settle
            set_mode("api_ship_order", "new" if index % 2 == 0 else "legacy")
            committed = time.time()
            version = wiring.store().snapshot().version
            read(version, 10)
            delays.append(max(seen[version].values()) - committed)
    finally:
        for watcher in watchers:
            watcher.kill()
            watcher.wait()
    return {
        "median_ms": statistics.median(delays) * 1000,
        "max_ms": max(delays) * 1000,
        "changes": len(delays),
    }


# ---------------------------------------------------------------------- the run


def prepare(directory: Path, env: dict[str, str], supplier_url: str) -> None:
    os.environ.update(env)
    os.environ["SUPPLIER_API_URL"] = supplier_url
    for alias in ("default", "logistics"):
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--database", alias, "--no-input"],
            cwd=ROOT,
            env=os.environ,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def seed(orders: int) -> list[int]:
    """Orders whose shipments are pending: tracking them asks the supplier nothing."""
    from decimal import Decimal

    from django.core.cache import cache
    from django.db import transaction

    from logistics.public import build_logistics_service
    from monolithos import placement
    from monolithos.models import Customer, Order, Product

    cache.clear()
    product = Product.objects.create(
        sku="BOX-S", name="Box", price=Decimal("0.90"), stock=1_000_000
    )
    customer = Customer.objects.create(name="Ada", email="ada@example.com")
    logistics = build_logistics_service()
    ids = []
    with transaction.atomic():
        for _ in range(orders):
            order = Order.objects.create(
                customer=customer, shipping_name="Ada", shipping_address="12 Analytical Row"
            )
            order.number = f"ORD-{order.pk:06d}"
            order.save()
            order.lines.create(product=product, sku="BOX-S", quantity=1, unit_price=1, line_total=1)
            ids.append(int(order.pk))
    for order in Order.objects.filter(pk__in=ids).select_related("customer"):
        logistics.create_shipment(placement.shipment_command(order))
    return ids


def start_supplier() -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "supplier_sim", "--port", str(port), "--failure-rate", "0",
         "--hang-rate", "0", "--seed", "7"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import urllib.request

    deadline = time.monotonic() + 15
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the supplier simulator did not start") from None
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--placement", action="store_true", help="also shadow POST /api/orders/")
    parser.add_argument("--placements", type=int, default=100, help="placements per round")
    parser.add_argument(
        "--samples",
        default="100",
        help="shadow samples to measure, in percent, comma-separated (e.g. 100,10,1)",
    )
    parser.add_argument("--orders", type=int, default=1000, help="orders the reads track")
    parser.add_argument(
        "--pace-ms", type=float, default=10.0, help="one shadowed read every this many ms"
    )
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument(
        "--profile", action="store_true", help="profile the read's candidates, then stop"
    )
    parser.add_argument("--watch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch:
        watch()
        return
    try:
        args.samples = [float(sample) for sample in args.samples.split(",")]
    except ValueError:
        parser.error("--samples: percentages separated by commas")
    if not all(0 < sample <= 100 for sample in args.samples):
        parser.error("--samples: each above 0 and at most 100")

    with tempfile.TemporaryDirectory(prefix="strangler-bench-") as tmp:
        directory = Path(tmp)
        env = environment(directory, args.cache_url)
        supplier, supplier_url = start_supplier()
        try:
            run(args, directory, env, supplier_url)
        finally:
            supplier.terminate()
            supplier.wait(timeout=10)


def run(args: argparse.Namespace, directory: Path, env: dict[str, str], supplier_url: str) -> None:
    prepare(directory, env, supplier_url)
    import django

    django.setup()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    devnull = open(os.devnull, "w")  # noqa: SIM115  (held for the whole run)
    for log_handler in logging.getLogger().handlers:
        if isinstance(log_handler, logging.StreamHandler):
            log_handler.setStream(devnull)
    order_ids = seed(args.orders)
    handler: Handler = WSGIHandler()  # type: ignore[assignment]
    pace = args.pace_ms / 1000
    if args.profile:
        profile_candidates(handler, tracking(order_ids), args.requests, pace)
        return

    print(
        f"strangler facade, {os.cpu_count()} CPUs, SQLite, Redis cache {args.cache_url}, "
        f"{settings.STRANGLER_SHADOW_WORKERS} shadow threads, "
        f"switch interval {sys.getswitchinterval() * 1000:g} ms"
    )
    cost = facade_cost(handler, order_ids[0], args.requests, args.rounds)
    alone = facade_alone(50_000)
    share = cost["cost_ms"] / cost["route_ms"] * 100
    passed = share < TARGET_FACADE_SHARE and cost["cost_ms"] * 1000 < TARGET_FACADE_US
    print("1. facade cost in legacy mode, GET /api/orders/<id>/track/ (median per request)")
    print(f"   no facade          {cost['route_ms']:.3f} ms")
    print(f"   facade, legacy     {cost['facade_ms']:.3f} ms")
    print(
        f"   cost               {cost['cost_ms'] * 1000:.1f} us ({share:.1f} % of the route)  "
        f"{verdict(passed)} (< {TARGET_FACADE_SHARE:g} %, < {TARGET_FACADE_US:g} us)"
    )
    print(
        f"   the facade alone   {alone['legacy']:.1f} us (around a view doing nothing); "
        f"{alone['unsampled']:.1f} us in shadow mode outside the sample"
    )

    print(f"2. shadow mode's added p99 on the legacy answer (target < {TARGET_ADDED_P99:g} %)")
    track = tracking(order_ids)
    paced = shadow_cost(
        handler, "api_track_order", track, args.requests // 2, args.rounds, args.samples, pace
    )
    print_shadow(
        f"GET /api/orders/<id>/track/ (read), one every {args.pace_ms:g} ms, "
        f"{len(order_ids)} orders",
        paced,
    )
    saturated = shadow_cost(
        handler, "api_track_order", track, args.requests, args.rounds, args.samples
    )
    print_shadow("GET /api/orders/<id>/track/ (read), back to back (saturated)", saturated)
    if args.placement:
        placement = shadow_cost(
            handler, "api_place_order", placing, args.placements, args.rounds, args.samples,
            block=10,
        )  # fmt: skip
        print_shadow("POST /api/orders/ (write), a new customer each", placement)

    print("3. a mode change reaching every process (request every 1 ms in each)")
    shared = propagation(env, args.processes, args.changes)
    print_propagation(f"shared cache ({args.cache_url})", args.processes, shared)
    unreachable = propagation({**env, "CACHE_URL": UNREACHABLE_CACHE}, args.processes, 5)
    print_propagation("cache unreachable (fallback expiry)", args.processes, unreachable)


def print_shadow(label: str, result: dict[ModeKey, dict[str, Any]]) -> None:
    legacy = result[LEGACY]
    print(f"   {label}")
    print(f"     {'legacy':<22} p50 {legacy['p50_ms']:7.3f} ms  p99 {legacy['p99_ms']:7.3f} ms")
    for mode, shadow in result.items():
        if mode == LEGACY:
            continue
        added = (shadow["p99_ms"] / legacy["p99_ms"] - 1) * 100
        name = f"shadow, sample {mode:g} %" if isinstance(mode, float) else str(mode)
        judged = verdict(added < TARGET_ADDED_P99) if isinstance(mode, float) else "(noise)"
        print(
            f"     {name:<22} p50 {shadow['p50_ms']:7.3f} ms  p99 {shadow['p99_ms']:7.3f} ms  "
            f"added p99 {shadow['p99_ms'] - legacy['p99_ms']:+.3f} ms ({added:+.1f} %)  {judged}"
        )
        counts = shadow["results"]
        if counts:
            total = sum(counts.values())
            compared = total - counts.get("unsampled", 0.0)
            shown = ", ".join(f"{k} {v:.0f}" for k, v in sorted(counts.items()))
            print(f"       {shown}: {compared / total * 100:.1f} % of requests in the sample")


def print_propagation(label: str, processes: int, result: dict[str, float]) -> None:
    print(
        f"   {label}: {processes} processes, {result['changes']:.0f} changes: median "
        f"{result['median_ms']:.0f} ms, max {result['max_ms']:.0f} ms  "
        f"{verdict(result['max_ms'] < TARGET_PROPAGATION_MS)} (< 1 s)"
    )


if __name__ == "__main__":
    main()
