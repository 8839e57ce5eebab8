"""What logging and metrics cost: requests/s of a trivial endpoint with and without instrumentation.

The instrumentation is the middleware django-prometheus adds (before/after) and the request log
middleware (trace id and final line), with JSON lines rendered for real and written to
/dev/null. Two measurements, both in one run:

- in-process: the WSGI handler called in a loop, no server and no network. The only difference
  is the middleware, so this is its pure cost per request, and the worst-case ratio.
- http: two gunicorn servers (1 worker, 4 threads each, production-like settings), one with and
  one without the middleware, loaded in turn by the same keep-alive client. This is what a
  client of the trivial endpoint sees.

    .venv/bin/python bench/instrumentation_overhead.py
    .venv/bin/python bench/instrumentation_overhead.py -n 10000 --rounds 7
"""

from __future__ import annotations

import argparse
import http.client
import io
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_FORMAT", "json")
# Production's request path: no DEBUG, so WhiteNoise does not rescan static files per request.
os.environ.setdefault("DEBUG", "false")

from bench.settings_uninstrumented import INSTRUMENTATION  # noqa: E402

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Handler = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def environ(path: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
    }


def build_handler(middleware: list[str]) -> Handler:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    with override_settings(MIDDLEWARE=middleware):
        handler: Handler = WSGIHandler()  # type: ignore[assignment]
    return handler


def requests_per_second(handler: Handler, path: str, count: int) -> float:
    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"{path} answered {status}")

    started = time.perf_counter()
    for _ in range(count):
        for _chunk in handler(environ(path), start_response):
            pass
    return count / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per handler")
    parser.add_argument("--path", default="/healthz", help="a trivial endpoint answering 200")
    parser.add_argument("--mode", choices=("both", "in-process", "http"), default="both")
    args = parser.parse_args()
    if args.mode in ("both", "http"):
        measure_http(args.path, args.requests, args.rounds)
    if args.mode == "http":
        return

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
    for wsgi_handler in handlers.values():  # warm up: imports, URL resolver, first log line
        requests_per_second(wsgi_handler, args.path, 200)

    results: dict[str, list[float]] = {name: [] for name in handlers}
    for _ in range(args.rounds):  # alternate, so drift in machine load hits both alike
        for name, wsgi_handler in handlers.items():
            results[name].append(requests_per_second(wsgi_handler, args.path, args.requests))
    report(f"in-process: GET {args.path}, WSGI handler in a loop, no network", results)


if __name__ == "__main__":
    main()
