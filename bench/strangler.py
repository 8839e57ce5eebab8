"""What the strangler facade costs, in one run on this machine.

1. The facade in ``legacy`` mode against the same route with no facade: Django's WSGI handler
   (every middleware, JSON log lines rendered to /dev/null) called in a loop on
   ``GET /api/orders/<id>/track/`` of an undispatched order (no supplier call), once through
   ``config.urls`` (the facade) and once through ``bench/strangler_urls.py`` (the legacy view
   mounted directly), in alternating rounds. Targets: under 5 % of the route's own time and
   under 0.2 ms.
2. Shadow mode's added latency on the legacy answer, p50 and p99: the same loop in ``legacy``
   and in ``shadow`` mode, for the track route (a read: the candidate on the shadow pool beside
   the control) and, with ``--placement``, for ``POST /api/orders/`` (a write: the candidate
   first, in a rolled-back transaction; needs the supplier simulator, started here). Target:
   under 10 % on p99.
3. The time for a mode change to reach every process: ``--processes`` separate Python processes
   each route a request a millisecond through their own state store (the code gunicorn's
   workers run); the parent changes the mode ``--changes`` times with the service the command
   calls and records, per change, when the last process saw it. Once with the shared cache
   (CACHE_URL, Redis) and once with its Redis unreachable (the fallback expiry). Target: 1 s.

Fresh SQLite databases in a temporary directory; Redis at ``--cache-url`` (a database of its
own: it is flushed).

    .venv/bin/python bench/strangler.py
    .venv/bin/python bench/strangler.py --requests 3000 --rounds 5 --placement
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UNREACHABLE_CACHE = "redis://127.0.0.1:1/0"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Handler = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


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
    handler: Handler,
    method: str,
    path: str,
    count: int,
    body: Callable[[int], bytes] | None,
    pace: float = 0.0,
) -> list[float]:
    """Per-request durations; with ``pace``, one request starts every ``pace`` seconds (an
    open loop below saturation, so a shadow candidate has the time it would have in a process
    that is not overloaded), else back to back."""
    expected = "201" if method == "POST" else "200"
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen.append(status)

    durations = []
    next_start = time.perf_counter()
    for index in range(count):
        payload = body(index) if body else b""
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


def set_mode(route: str, mode: str) -> None:
    from strangler import services

    services.set_mode(route=route, mode=mode, reason="bench", actor="bench", via="command")


def facade_cost(handler: Handler, order_id: int, count: int, rounds: int) -> dict[str, Any]:
    """Median per request of each URLconf, alternating in blocks of 100 requests (this machine's
    load drifts more between seconds than the facade costs: blocks keep the two side by side)."""
    from django.test.utils import override_settings

    path = f"/api/orders/{order_id}/track/"
    results: dict[str, list[float]] = {"no facade": [], "facade, legacy mode": []}
    urlconfs = {"no facade": "bench.strangler_urls", "facade, legacy mode": "config.urls"}
    set_mode("api_track_order", "legacy")
    for urlconf in urlconfs.values():  # warm up
        with override_settings(ROOT_URLCONF=urlconf):
            timed_requests(handler, "GET", path, 200, None)
    for _ in range(max(1, count * rounds // 100)):
        for name, urlconf in urlconfs.items():
            with override_settings(ROOT_URLCONF=urlconf):
                results[name].extend(timed_requests(handler, "GET", path, 100, None))
    bare = statistics.median(results["no facade"])
    facade = statistics.median(results["facade, legacy mode"])
    return {"route_ms": bare * 1000, "facade_ms": facade * 1000, "cost_ms": (facade - bare) * 1000}


def facade_alone(count: int) -> float:
    """The facade's own cost, in microseconds: around a view that does nothing, no middleware."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from config.strangled_routes import TRACK_ORDER
    from strangler.facade import StrangledView

    def nothing(request: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse(b"")

    view = StrangledView(TRACK_ORDER, legacy=nothing, new=nothing)
    request = RequestFactory().get("/api/orders/1/track/")
    timings = {}
    for name, call in (("bare", nothing), ("facade", view)):
        for _ in range(1000):
            call(request, order_id=1)
        started = time.perf_counter()
        for _ in range(count):
            call(request, order_id=1)
        timings[name] = (time.perf_counter() - started) / count
    return (timings["facade"] - timings["bare"]) * 1e6


def shadow_cost(
    handler: Handler,
    route: str,
    method: str,
    path: str,
    count: int,
    rounds: int,
    body: Callable[[int], bytes] | None = None,
    pace: float = 0.0,
) -> dict[str, dict[str, float]]:
    samples: dict[str, list[float]] = {"legacy": [], "shadow": []}
    for mode in samples:  # warm up
        set_mode(route, mode)
        timed_requests(handler, method, path, min(count, 50), body, pace)
    for _ in range(rounds):
        for mode in samples:
            set_mode(route, mode)
            samples[mode].extend(timed_requests(handler, method, path, count, body, pace))
    set_mode(route, "legacy")
    return {
        mode: {"p50_ms": percentile(values, 50) * 1000, "p99_ms": percentile(values, 99) * 1000}
        for mode, values in samples.items()
    }


def shadow_results(route: str) -> dict[str, float]:
    from prometheus_client import REGISTRY

    counts = {}
    for result in ("match", "mismatch", "error", "timeout", "skipped"):
        value = REGISTRY.get_sample_value(
            "monolithos_strangler_shadow_results_total", {"route": route, "result": result}
        )
        if value:
            counts[result] = value
    return counts


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


def seed() -> int:
    """An order whose shipment is pending: tracking it asks the supplier nothing."""
    from decimal import Decimal

    from django.core.cache import cache

    from logistics.public import build_logistics_service
    from monolithos import placement
    from monolithos.models import Customer, Order, Product

    cache.clear()
    Product.objects.create(sku="BOX-S", name="Box", price=Decimal("0.90"), stock=1_000_000)
    customer = Customer.objects.create(name="Ada", email="ada@example.com")
    order = Order.objects.create(
        customer=customer, shipping_name="Ada", shipping_address="12 Analytical Row"
    )
    order.number = f"ORD-{order.pk:06d}"
    order.save()
    order.lines.create(
        product=Product.objects.get(), sku="BOX-S", quantity=1, unit_price=1, line_total=1
    )
    build_logistics_service().create_shipment(placement.shipment_command(order))
    return int(order.pk)


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
        "--pace-ms", type=float, default=10.0, help="one shadowed read every this many ms"
    )
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--watch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch:
        watch()
        return

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
    from django.core.handlers.wsgi import WSGIHandler

    devnull = open(os.devnull, "w")  # noqa: SIM115  (held for the whole run)
    for log_handler in logging.getLogger().handlers:
        if isinstance(log_handler, logging.StreamHandler):
            log_handler.setStream(devnull)
    order_id = seed()
    handler: Handler = WSGIHandler()  # type: ignore[assignment]

    print(f"strangler facade, {os.cpu_count()} CPUs, SQLite, Redis cache {args.cache_url}")
    cost = facade_cost(handler, order_id, args.requests, args.rounds)
    print("1. facade cost in legacy mode, GET /api/orders/<id>/track/ (median per request)")
    print(f"   no facade          {cost['route_ms']:.3f} ms")
    print(f"   facade, legacy     {cost['facade_ms']:.3f} ms")
    share = cost["cost_ms"] / cost["route_ms"] * 100
    print(f"   cost               {cost['cost_ms'] * 1000:.1f} us ({share:.1f} % of the route)")
    print(f"   the facade alone   {facade_alone(100_000):.1f} us (around a view doing nothing)")

    print("2. shadow mode's added latency on the legacy answer")
    track_path = f"/api/orders/{order_id}/track/"
    paced = shadow_cost(
        handler, "api_track_order", "GET", track_path, args.requests // 2, args.rounds,
        pace=args.pace_ms / 1000,
    )  # fmt: skip
    print_shadow(
        f"GET /api/orders/<id>/track/ (read), one every {args.pace_ms:g} ms",
        paced,
        shadow_results("api_track_order"),
    )
    saturated = shadow_cost(
        handler, "api_track_order", "GET", track_path, args.requests, args.rounds
    )
    print_shadow(
        "GET /api/orders/<id>/track/ (read), back to back (saturated)",
        saturated,
        shadow_results("api_track_order"),
    )
    if args.placement:

        def order(index: int) -> bytes:
            return json.dumps(
                {
                    "customer_name": "Ada",
                    "customer_email": f"bench{index % 50}@example.com",
                    "shipping_address": "12 Analytical Row",
                    "lines": [{"sku": "BOX-S", "quantity": 1}],
                }
            ).encode()

        placement = shadow_cost(
            handler, "api_place_order", "POST", "/api/orders/",
            args.placements, args.rounds, order,
        )  # fmt: skip
        print_shadow("POST /api/orders/ (write)", placement, shadow_results("api_place_order"))

    print("3. a mode change reaching every process (request every 1 ms in each)")
    shared = propagation(env, args.processes, args.changes)
    print_propagation(f"shared cache ({args.cache_url})", args.processes, shared)
    unreachable = propagation({**env, "CACHE_URL": UNREACHABLE_CACHE}, args.processes, 5)
    print_propagation("cache unreachable (fallback expiry)", args.processes, unreachable)


def print_shadow(label: str, result: dict[str, dict[str, float]], counts: dict[str, float]) -> None:
    legacy, shadow = result["legacy"], result["shadow"]
    added = (shadow["p99_ms"] / legacy["p99_ms"] - 1) * 100
    print(f"   {label}")
    print(f"     legacy  p50 {legacy['p50_ms']:.3f} ms  p99 {legacy['p99_ms']:.3f} ms")
    print(f"     shadow  p50 {shadow['p50_ms']:.3f} ms  p99 {shadow['p99_ms']:.3f} ms")
    print(f"     added p99 {shadow['p99_ms'] - legacy['p99_ms']:.3f} ms ({added:+.1f} %)")
    print(f"     comparisons: {', '.join(f'{k} {v:.0f}' for k, v in counts.items())}")


def print_propagation(label: str, processes: int, result: dict[str, float]) -> None:
    print(
        f"   {label}: {processes} processes, {result['changes']:.0f} changes: median "
        f"{result['median_ms']:.0f} ms, max {result['max_ms']:.0f} ms"
    )


if __name__ == "__main__":
    main()
