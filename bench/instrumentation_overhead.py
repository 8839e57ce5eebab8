"""What logging and metrics cost: requests/s with and without instrumentation.

The instrumentation is the middleware django-prometheus adds (before/after) and the request log
middleware (trace id and final line), with JSON lines rendered for real and written to
/dev/null, and, on the order intake, the hooks that carry the trace id into the broker message.
Three measurements, all in one run:

- http: two gunicorn servers (1 worker, 4 threads each, production-like settings), one with and
  one without the middleware, loaded in turn by the same keep-alive clients, on a trivial
  endpoint (``--path``, ``/healthz``). This is what a client of the trivial endpoint sees.
- in-process, trivial endpoint: the WSGI handler called in a loop, no server and no network.
  The only difference is the middleware, so this is its pure cost per request, and the
  worst-case ratio.
- in-process, order intake: ``POST /api/v1/orders/`` as the web shop's service account sends it
  (token, throttle, catalogue check, the order request's INSERT and its broker message), on
  throwaway test databases (``DATABASE_URL``, else in-memory SQLite) and the configured broker
  (the filesystem transport in a temporary directory by default), on a queue of its own that
  it deletes at the end. The cost that matters: the
  instrumentation as a share of the intake's own time, against the target (under 15%).

Exit status 0, PASS or MISS alike.

    .venv/bin/python bench/instrumentation_overhead.py
    .venv/bin/python bench/instrumentation_overhead.py -n 10000 --rounds 7 --intake-requests 2000
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_FORMAT", "json")
# Production's request path: no DEBUG, so WhiteNoise does not rescan static files per request.
os.environ.setdefault("DEBUG", "false")
# The intake's SQLite files and filesystem broker go to a directory of this run's own; one
# client sends every request: its throttle keeps a second of history, not minutes of it.
VAR_DIR = tempfile.mkdtemp(prefix="instrumentation-overhead-")
os.environ.setdefault("MONOLITHOS_VAR_DIR", VAR_DIR)
os.environ.setdefault("API_THROTTLE_USER", "1000000/second")

from bench.settings_uninstrumented import INSTRUMENTATION  # noqa: E402

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Handler = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Environ = Callable[[], dict[str, Any]]

TARGET = 0.15
BENCH_QUEUE = "bench-instrumentation-overhead"
# In-process, the two handlers take turns every BLOCK requests.
BLOCK = 10
# Packages whose broker-publish hooks are instrumentation (the trace id into the message).
INSTRUMENTATION_PACKAGES = ("observability.", "django_structlog.")


def environ(
    path: str, method: str = "GET", body: bytes = b"", extra: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        **(extra or {}),
    }


def build_handler(middleware: list[str]) -> Handler:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    with override_settings(MIDDLEWARE=middleware):
        handler: Handler = WSGIHandler()  # type: ignore[assignment]
    return handler


def cpu_seconds(handler: Handler, request: Environ, count: int, expected: int) -> float:
    """CPU time of this process for ``count`` requests: the machine's other processes share
    its cores, and wall time would count their work too."""

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        if not status.startswith(str(expected)):
            raise RuntimeError(f"answered {status}, not {expected}")

    started = time.process_time()
    for _ in range(count):
        for _chunk in handler(request(), start_response):
            pass
    return time.process_time() - started


def _is_instrumentation(receiver: Any) -> bool:
    target = receiver() if isinstance(receiver, weakref.ref) else receiver
    return str(getattr(target, "__module__", "")).startswith(INSTRUMENTATION_PACKAGES)


@contextlib.contextmanager
def publish_hooks_disconnected() -> Iterator[None]:
    """Celery's publish signals without the instrumentation's receivers, for the bare runs."""
    from celery.signals import after_task_publish, before_task_publish

    saved = {signal: list(signal.receivers) for signal in (before_task_publish, after_task_publish)}
    for signal, receivers in saved.items():
        signal.receivers = [entry for entry in receivers if not _is_instrumentation(entry[1])]
    try:
        yield
    finally:
        for signal, receivers in saved.items():
            signal.receivers = receivers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(settings_module: str, path: str) -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "4",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py",
         "--access-logfile", "/dev/null", "--error-logfile", "/dev/null",
         "config.wsgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", path)
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"gunicorn with {settings_module} did not start")
            time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=15)


def http_requests_per_second(port: int, path: str, count: int, clients: int) -> float:
    def client(share: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(share):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
        connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, [count // clients] * clients))
    return (count // clients * clients) / (time.perf_counter() - started)


def report(title: str, results: dict[str, list[float]]) -> None:
    bare = statistics.median(results["without instrumentation"])
    instrumented = statistics.median(results["with instrumentation"])
    print(title)
    for name, values in results.items():
        print(f"  {name:<24}{statistics.median(values):>9.0f} req/s (median)")
    print(f"  ratio                  {instrumented / bare:.3f}")
    print(f"  cost per request       {(1 / instrumented - 1 / bare) * 1e6:.1f} us")
    print(f"  overhead               {(bare / instrumented - 1) * 100:.1f}% more time per request")


def measure_http(path: str, count: int, rounds: int) -> None:
    results: dict[str, list[float]] = {"without instrumentation": [], "with instrumentation": []}
    with (
        gunicorn("bench.settings_uninstrumented", path) as bare_port,
        gunicorn("config.settings", path) as instrumented_port,
    ):
        ports = {"without instrumentation": bare_port, "with instrumentation": instrumented_port}
        for port in ports.values():
            http_requests_per_second(port, path, 200, 4)
        for _ in range(rounds):
            for name, port in ports.items():
                results[name].append(http_requests_per_second(port, path, count, 4))
    report(
        f"http: GET {path} through gunicorn (1 worker x 4 threads), 4 keep-alive clients", results
    )


def measure_in_process(
    title: str, handlers: dict[str, Handler], request: Environ, count: int, expected: int
) -> float:
    """Both handlers in turns of BLOCK requests, ``count`` each; return the overhead.

    Each turn of the instrumented handler is paired with a bare turn next to it, and the
    overhead is the median of the pairs' ratios: drift and the neighbours' load hit both halves
    of a pair alike, and a pair that a neighbour's burst disturbed does not move the median.
    """
    bare, instrumented = handlers["without instrumentation"], handlers["with instrumentation"]
    for wsgi_handler in handlers.values():  # warm up: imports, URL resolver, first log line
        cpu_seconds(wsgi_handler, request, min(count, 200), expected)

    def bare_turn() -> float:
        with publish_hooks_disconnected():
            return cpu_seconds(bare, request, BLOCK, expected)

    pairs: list[tuple[float, float]] = []
    for turn in range(max(1, count // BLOCK)):
        if turn % 2:  # each handler goes first in every other pair
            with_ = cpu_seconds(instrumented, request, BLOCK, expected)
            pairs.append((bare_turn(), with_))
        else:
            without = bare_turn()
            pairs.append((without, cpu_seconds(instrumented, request, BLOCK, expected)))
    own = statistics.median(without for without, _ in pairs) / BLOCK
    cost = statistics.median(with_ - without for without, with_ in pairs) / BLOCK
    overhead = statistics.median(with_ / without for without, with_ in pairs) - 1
    print(title)
    print(f"  pairs of turns         {len(pairs)} x {BLOCK} requests each, CPU time")
    print(f"  own time per request   {own * 1e6:.1f} us (without instrumentation, median)")
    print(f"  with instrumentation   {(own + cost) * 1e6:.1f} us")
    print(f"  cost per request       {cost * 1e6:.1f} us (median of the pairs' differences)")
    print(f"  overhead               {overhead * 100:.1f}% (median of the pairs' ratios)")
    return overhead


@contextlib.contextmanager
def intake_request() -> Iterator[Environ]:
    """The web shop's service account placing one order, on throwaway test databases."""
    from django.core.management import call_command
    from django.test.utils import setup_databases, teardown_databases

    from bench.harness.client import ORDERS_PATH, SKU, order_body
    from bench.harness.system import setup_system_data
    from config.celery import app

    # The intake's messages go to a queue of this run's own, emptied at the end: no worker of
    # the configured broker ever sees them.
    app.conf.task_default_queue = BENCH_QUEUE
    databases = setup_databases(verbosity=0, interactive=False, serialized_aliases=set())
    try:
        call_command("seed_demo", stdout=io.StringIO())
        token = setup_system_data(1_000_000, (SKU,))
        body = json.dumps(order_body(1, "instrumentation")).encode()
        headers = {"CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": f"Token {token}"}
        yield lambda: environ(ORDERS_PATH, "POST", body, headers)
    finally:
        teardown_databases(databases, verbosity=0)
        with app.connection_for_write() as connection:
            queue = app.amqp.queues[BENCH_QUEUE].bind(connection.default_channel)
            queue.declare()  # the channel learns its bindings, which delete() removes too
            queue.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per handler")
    parser.add_argument("--path", default="/healthz", help="a trivial endpoint answering 200")
    parser.add_argument(
        "--intake-requests", type=int, default=3000, help="order intake requests per handler"
    )
    parser.add_argument("--mode", choices=("both", "in-process", "http"), default="both")
    args = parser.parse_args()
    try:
        if args.mode in ("both", "http"):
            measure_http(args.path, args.requests, args.rounds)
        if args.mode in ("both", "in-process"):
            measure_both_in_process(args)
    finally:
        shutil.rmtree(VAR_DIR, ignore_errors=True)


def measure_both_in_process(args: argparse.Namespace) -> None:
    import django
    from django.conf import settings

    django.setup()
    devnull = open(os.devnull, "w")  # noqa: SIM115  (held for the whole run)
    for log_handler in logging.getLogger().handlers:
        if isinstance(log_handler, logging.StreamHandler):
            log_handler.setStream(devnull)

    instrumented_middleware = list(settings.MIDDLEWARE)
    missing = [name for name in INSTRUMENTATION if name not in instrumented_middleware]
    if missing:
        sys.exit(f"instrumentation middleware not configured: {missing}")
    bare_middleware = [name for name in instrumented_middleware if name not in INSTRUMENTATION]
    handlers = {
        "without instrumentation": build_handler(bare_middleware),
        "with instrumentation": build_handler(instrumented_middleware),
    }
    measure_in_process(
        f"in-process: GET {args.path}, WSGI handler in a loop, no network",
        handlers,
        lambda: environ(args.path),
        args.requests * args.rounds,
        200,
    )
    with intake_request() as request:
        overhead = measure_in_process(
            "in-process: POST /api/v1/orders/ (the order intake), WSGI handler in a loop, "
            f"{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
            f"broker {settings.CELERY_BROKER_URL.partition(':')[0]}",
            handlers,
            request,
            args.intake_requests,
            202,
        )
    verdict = "PASS" if overhead < TARGET else "MISS"
    print(
        f"  target                 instrumentation under {TARGET:.0%} of the intake's own time: "
        f"{overhead:.1%} {verdict}"
    )


if __name__ == "__main__":
    main()
