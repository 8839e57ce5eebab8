"""Benchmark: N orders placed at once through the legacy endpoint ``POST /api/orders/``.

What it measures: the legacy place-order request does everything inline (stock, order, invoice
PDF, confirmation email, then the supplier dispatch with no timeout), so its latency and
throughput under concurrency are the baseline the strangler work must beat. The benchmark fires
N requests through a pool of ``--concurrency`` threads and reports wall time, throughput (201
responses per second of wall time), nearest-rank p50/p95/p99/max latency over *all* requests,
the count of every HTTP status and of every connection error or timeout by exception type, and,
from the 201 bodies, how many orders were dispatched versus left ``dispatch_failed``.

How to run it, against a system that is already up::

    make run                                       # in another terminal (or: docker compose up)
    .venv/bin/python bench/legacy_place.py -n 50   # add --json for one machine-readable object

Stock is finite (seed_demo gives BOX-S 500 units) and is not checked beforehand: once it runs
out, orders come back 400 and are simply counted as such. Use ``--sku`` to pick another product.
The script uses the standard library only, so it also runs outside the project's virtualenv.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

ORDERS_PATH = "/api/orders/"
READY_PATH = "/admin/login/"
NOT_RUNNING_MESSAGE = "start the system first: make run"


@dataclass(frozen=True)
class Outcome:
    """One request: its HTTP status or the exception that replaced it, and how long it took."""

    latency_s: float
    status: int | None = None
    error: str | None = None
    shipping_status: str | None = None


@dataclass(frozen=True)
class Report:
    base_url: str
    sku: str
    n: int
    concurrency: int
    timeout_s: float
    wall_time_s: float
    outcomes: tuple[Outcome, ...]

    @property
    def created(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == 201)

    @property
    def throughput(self) -> float:
        """Orders placed (HTTP 201) per second of wall time."""
        return self.created / self.wall_time_s if self.wall_time_s > 0 else 0.0

    @property
    def request_rate(self) -> float:
        """Requests completed, whatever their outcome, per second of wall time."""
        return len(self.outcomes) / self.wall_time_s if self.wall_time_s > 0 else 0.0

    def latencies_ms(self) -> list[float]:
        return sorted(outcome.latency_s * 1000.0 for outcome in self.outcomes)

    def status_counts(self) -> dict[str, int]:
        counts = Counter(str(o.status) for o in self.outcomes if o.status is not None)
        return dict(sorted(counts.items()))

    def error_counts(self) -> dict[str, int]:
        counts = Counter(o.error for o in self.outcomes if o.error is not None)
        return dict(sorted(counts.items()))

    def shipping_status_counts(self) -> dict[str, int]:
        counts = Counter(
            o.shipping_status
            for o in self.outcomes
            if o.status == 201 and o.shipping_status is not None
        )
        return dict(sorted(counts.items()))

    def to_json(self) -> dict[str, Any]:
        latencies = self.latencies_ms()
        return {
            "benchmark": "legacy_place",
            "base_url": self.base_url,
            "sku": self.sku,
            "n": self.n,
            "concurrency": self.concurrency,
            "timeout_s": self.timeout_s,
            "wall_time_s": round(self.wall_time_s, 3),
            "throughput_orders_per_s": round(self.throughput, 3),
            "requests_per_s": round(self.request_rate, 3),
            "latency_ms": {
                "p50": round(percentile(latencies, 50), 1),
                "p95": round(percentile(latencies, 95), 1),
                "p99": round(percentile(latencies, 99), 1),
                "max": round(latencies[-1], 1) if latencies else 0.0,
                "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
            },
            "status_counts": self.status_counts(),
            "error_counts": self.error_counts(),
            "shipping_status_counts": self.shipping_status_counts(),
        }


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of values at or below it."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def order_payload(index: int, sku: str) -> dict[str, Any]:
    return {
        "customer_name": "Bench Customer",
        "customer_email": f"bench+{index}@example.com",
        "shipping_address": "1 Bench Road\nTestville",
        "lines": [{"sku": sku, "quantity": 1}],
    }


def error_name(exc: BaseException) -> str:
    """The exception type that best names a failure: URLError wraps the real one in reason."""
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        return type(exc.reason).__name__
    return type(exc).__name__


def shipping_status_of(body: bytes) -> str:
    try:
        decoded: Any = json.loads(body)
    except ValueError:
        return "(unparseable body)"
    if isinstance(decoded, dict):
        value = decoded.get("shipping_status")
        if isinstance(value, str):
            return value
    return "(missing)"


def place_one(base_url: str, index: int, sku: str, timeout: float) -> Outcome:
    """POST one order; never raises, every failure becomes part of the Outcome."""
    request = urllib.request.Request(  # noqa: S310  (scheme checked in parse_args)
        base_url + ORDERS_PATH,
        data=json.dumps(order_payload(index, sku)).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status: int = response.status
            body: bytes = response.read()
    except urllib.error.HTTPError as exc:
        exc.read()
        exc.close()
        return Outcome(latency_s=time.perf_counter() - started, status=exc.code)
    except (OSError, http.client.HTTPException) as exc:
        # URLError, connection refused/reset, socket timeouts, truncated responses.
        return Outcome(latency_s=time.perf_counter() - started, error=error_name(exc))
    latency = time.perf_counter() - started
    shipping = shipping_status_of(body) if status == 201 else None
    return Outcome(latency_s=latency, status=status, shipping_status=shipping)


def server_problem(base_url: str, timeout: float) -> str | None:
    """None if GET /admin/login/ answers 200, else what went wrong."""
    url = base_url + READY_PATH
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            status: int = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return f"GET {url} returned HTTP {exc.code}"
    except (OSError, http.client.HTTPException) as exc:
        return f"GET {url} failed: {error_name(exc)}: {exc}"
    if status != 200:
        return f"GET {url} returned HTTP {status}"
    return None


def run(base_url: str, n: int, concurrency: int, sku: str, timeout: float) -> Report:
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench") as pool:
        started = time.perf_counter()
        futures = [pool.submit(place_one, base_url, i, sku, timeout) for i in range(1, n + 1)]
        outcomes = tuple(future.result() for future in futures)
        wall_time = time.perf_counter() - started
    return Report(
        base_url=base_url,
        sku=sku,
        n=n,
        concurrency=concurrency,
        timeout_s=timeout,
        wall_time_s=wall_time,
        outcomes=outcomes,
    )


def format_report(report: Report) -> str:
    data = report.to_json()
    latency = data["latency_ms"]
    lines = [
        f"legacy_place: POST {report.base_url}{ORDERS_PATH}  sku={report.sku}",
        f"  orders (N)       {report.n}",
        f"  concurrency      {report.concurrency}",
        f"  wall time        {report.wall_time_s:.2f} s",
        f"  throughput       {report.throughput:.2f} orders/s (HTTP 201)"
        f"  [{report.request_rate:.2f} requests/s]",
        f"  latency ms       p50 {latency['p50']:.1f}  p95 {latency['p95']:.1f}"
        f"  p99 {latency['p99']:.1f}  max {latency['max']:.1f}",
        "  by status",
    ]
    lines += [f"    HTTP {status:<14} {count}" for status, count in data["status_counts"].items()]
    lines += [f"    {name:<19} {count}" for name, count in data["error_counts"].items()]
    lines.append("  shipping_status (201 bodies)")
    shipping: dict[str, int] = data["shipping_status_counts"]
    if not shipping:
        lines.append("    (no 201 responses)")
    lines += [f"    {name:<19} {count}" for name, count in shipping.items()]
    return "\n".join(lines)


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {raw!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {raw!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/legacy_place.py",
        description="Place N orders concurrently through the legacy POST /api/orders/.",
    )
    parser.add_argument("-n", type=positive_int, default=50, help="orders to place (default 50)")
    parser.add_argument(
        "--concurrency", type=positive_int, default=50, help="requests in flight (default 50)"
    )
    parser.add_argument(
        "--base-url",
        default="http://127.0.0.1:8000",
        help="where Monolithos answers (default http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=60.0,
        help="per-request socket timeout in seconds (default 60)",
    )
    parser.add_argument("--sku", default="BOX-S", help="product ordered, 1 unit each (BOX-S)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    parts = urllib.parse.urlsplit(args.base_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        parser.error(f"--base-url must be an http(s) URL, got {args.base_url!r}")
    args.base_url = args.base_url.rstrip("/")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    base_url: str = args.base_url
    timeout: float = args.timeout
    problem = server_problem(base_url, min(timeout, 10.0))
    if problem is not None:
        print(f"{problem}\n{NOT_RUNNING_MESSAGE}", file=sys.stderr)
        return 2
    report = run(base_url, args.n, args.concurrency, args.sku, timeout)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
