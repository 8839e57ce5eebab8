"""Benchmark: the thundering herd. N orders at once at ``POST /api/v1/orders/``, then the drain.

Starts the whole system on fresh PostgreSQL databases and two dedicated Redis databases (the
broker, the cache): gunicorn (config/gunicorn.py, ``--web-workers`` workers), real Celery
workers laid out as in docker-compose (by default ``intake,notifications`` and ``invoices`` on
one prefork process each, one per core, and ``logistics`` on 16 threads: a dispatch mostly
waits on the supplier), celery beat, and the supplier simulator at its chaos defaults (50% of
requests answered 503, 10% of the rest hang 5 s), these at a lower CPU priority than the web
(``--worker-nice``). Then, in one run, it prints:

1. intake: N orders fired at once (connections opened first, every request written at one
   common instant, latency measured from that instant to the last byte of each answer):
   accepted (202), throughput, p50/p95/p99/max;
2. drain: from the same instant, the time until every accepted order request is placed by the
   intake worker and its order has its shipment dispatched at the supplier
   (``logistics_shipment.status``), its invoice rendered
   (``monolithos_invoice.rendered_version``) and its confirmation mail sent
   (``notifications_notification``), each also checked against what really left the system:
   the simulator's ledger and the mail files (filebased backend), and where the CPU went;
3. lost and duplicated work, both of which must be 0: accepted orders missing or unfinished
   at the timeout, and dispatches, shipments, orders, mails or PDFs produced more than once;
4. two references measured on this machine in the same run: (a) a bare DRF endpoint that
   inserts one row (bench/floor, bench/settings_floor.py), on its own PostgreSQL database,
   hit by the same herd through the same gunicorn configuration and worker count; (b) WeasyPrint
   rendering the same invoice in a loop; and the targets against them:
   intake throughput >= 0.5 x the floor's, intake p99 <= 2 x the floor's p99, drain time
   <= 1.3 x rendering floor (orders x median render time / processes consuming ``invoices``).

Exit status: 0 whether the targets are met or missed; 1 when work was lost or duplicated, an
order was not accepted, or the drain timed out; 2 when the run itself could not be made.

    .venv/bin/python bench/herd.py                 # 1,000 orders, 2 web workers, chaos on
    .venv/bin/python bench/herd.py -n 200 --no-chaos --worker intake,notifications=1 \\
        --worker logistics=8:threads --worker invoices=1 --timeout 300 --keep
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.system.mails import read_messages  # noqa: E402

ORDERS_PATH = "/api/v1/orders/"
FLOOR_PATH = "/floor/accept/"
SKU = "BOX-S"
HERD_USERNAME = "herd"
SYSTEM_SETTINGS = "config.settings"
FLOOR_SETTINGS = "bench.settings_floor"
DEFAULT_WORKERS = ("intake,notifications=1", "logistics=16:threads", "invoices=1")
# Variables of the caller's environment that would point a process somewhere else.
FOREIGN_VARIABLES = (
    "DATABASE_URL",
    "LOGISTICS_DATABASE_URL",
    "REPLICA_DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "SUPPLIER_API_URL",
    "MONOLITHOS_VAR_DIR",
    "MEDIA_ROOT",
    "STATIC_ROOT",
    "DJANGO_ENV",
    "DJANGO_SETTINGS_MODULE",
    "EMAIL_HOST",
    "EMAIL_BACKEND",
    "EMAIL_FILE_PATH",
    "PROMETHEUS_MULTIPROC_DIR",
    "GUNICORN_BIND",
    "WEB_CONCURRENCY",
)


class RunFailed(Exception):
    """The run itself could not be made (exit status 2)."""


# --------------------------------------------------------------------------------------------
# The herd: N requests on pre-opened connections, written at one common instant.


@dataclass(frozen=True)
class Outcome:
    latency_s: float
    status: int | None = None
    body: bytes = b""
    error: str | None = None


@dataclass(frozen=True)
class Herd:
    outcomes: tuple[Outcome, ...]
    started: float  # perf_counter() of the common start instant

    def accepted(self, status: int) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]

    @property
    def wall_s(self) -> float:
        return max((outcome.latency_s for outcome in self.outcomes), default=0.0)

    def throughput(self, status: int) -> float:
        return len(self.accepted(status)) / self.wall_s if self.wall_s > 0 else 0.0

    def latencies_ms(self) -> list[float]:
        return sorted(outcome.latency_s * 1000 for outcome in self.outcomes)

    def problems(self, status: int) -> dict[str, int]:
        counts = Counter(
            outcome.error or f"HTTP {outcome.status}"
            for outcome in self.outcomes
            if outcome.status != status
        )
        return dict(sorted(counts.items()))


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest rank, as bench/legacy_place.py: the smallest value with p% at or below it."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def http_request(
    port: int,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        "Accept: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


async def _read_answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, started: float, timeout: float
) -> Outcome:
    try:
        async with asyncio.timeout(timeout):
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await (reader.readexactly(length) if length is not None else reader.read())
        return Outcome(time.perf_counter() - started, status=status, body=body)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        return Outcome(time.perf_counter() - started, error=type(exc).__name__)
    except TimeoutError:
        return Outcome(time.perf_counter() - started, error="TimeoutError")
    finally:
        writer.close()


async def _herd(port: int, requests: Sequence[bytes], timeout: float) -> Herd:
    connecting = asyncio.Semaphore(100)

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with connecting:
            return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)

    connections = await asyncio.gather(*(connect() for _ in requests), return_exceptions=True)
    # Let the server's workers accept what the kernel already completed: the herd starts with
    # every client connected and waiting, as many browsers or clients would be.
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    readers: list[asyncio.Task[Outcome]] = []
    failed: list[Outcome] = []
    for connection, raw in zip(connections, requests, strict=True):
        if isinstance(connection, BaseException):
            failed.append(Outcome(0.0, error=f"connect: {type(connection).__name__}"))
            continue
        reader, writer = connection
        writer.write(raw)
        readers.append(asyncio.ensure_future(_read_answer(reader, writer, started, timeout)))
    outcomes = [*await asyncio.gather(*readers), *failed]
    return Herd(outcomes=tuple(outcomes), started=started)


def fire(port: int, requests: Sequence[bytes], timeout: float) -> Herd:
    return asyncio.run(_herd(port, requests, timeout))


def order_body(index: int, run_id: str, skus: Sequence[str] = (SKU,)) -> dict[str, Any]:
    return {
        "customer_name": f"Herd Customer {index}",
        "customer_email": f"herd-{run_id}-{index}@example.com",
        "shipping_address": f"{index} Herd Lane\nStampede Town",
        "lines": [{"sku": skus[index % len(skus)], "quantity": 1}],
    }


# --------------------------------------------------------------------------------------------
# Processes: each in its own session, so that it and its children stop together.


@dataclass
class Processes:
    log_dir: Path
    running: list[tuple[str, subprocess.Popen[bytes], TextIO]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("w")
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.running.append((name, process, log))
        return process

    def check(self) -> None:
        for name, process, _ in self.running:
            if process.poll() is not None:
                raise RunFailed(
                    f"{name} exited with status {process.returncode}; "
                    f"see {self.log_dir / (name + '.log')}"
                )

    def stop(self, names: Sequence[str] | None = None) -> None:
        """SIGTERM to each main process, a grace period, then SIGKILL to its process group."""
        chosen = [entry for entry in self.running if names is None or entry[0] in names]
        for _, process, _ in chosen:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, process, log in chosen:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Whatever is left of the group (a stuck process, a worker's pool children). While a
            # member lives, the kernel hands the group's id to no other process.
            if process.poll() is None or group_members(process.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            log.close()
        self.running = [entry for entry in self.running if entry not in chosen]


def group_members(pgid: int) -> list[int]:
    """Processes still in the process group ``pgid`` (Linux /proc; empty elsewhere)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Fields after the command name, which may hold spaces: state, ppid, pgrp, ...
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                members.append(int(stat.parent.name))
    return members


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time of ``pids`` and of their children they reaped (Linux /proc; 0 elsewhere)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def named(command: str) -> list[int]:
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == command:
                pids.append(int(comm.parent.name))
    return pids


def cpu_snapshot(processes: Processes) -> dict[str, float]:
    """CPU seconds so far of each process this run started (with its group) and of the servers.

    A PostgreSQL backend's time survives its exit in the postmaster's reaped-children fields,
    as a Celery pool process's does in its parent's.
    """
    snapshot = {
        name: cpu_seconds(group_members(process.pid) or [process.pid])
        for name, process, _ in processes.running
    }
    snapshot["bench client"] = cpu_seconds([os.getpid()])
    snapshot["PostgreSQL"] = cpu_seconds(named("postgres"))
    snapshot["Redis"] = cpu_seconds(named("redis-server"))
    return snapshot


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], bool], processes: Processes, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not probe():
        processes.check()
        if time.monotonic() > deadline:
            raise RunFailed(f"{what} not ready within {seconds:.0f} s")
        time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (our own http URL)
            return int(response.status) < 500
    except urllib.error.HTTPError as error:
        error.close()
        return error.code < 500
    except OSError:
        return False


def manage(env: dict[str, str], *command: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RunFailed(f"manage.py {' '.join(command)} failed:\n{result.stderr[-3000:]}")


def gunicorn_argv() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]


# --------------------------------------------------------------------------------------------
# PostgreSQL and Redis.


def recreate_databases(server_url: str, names: Sequence[str], *, create: bool = True) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as connection:
        for name in names:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            if create:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def count_rows(database_url: str, table: str) -> int:
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()
    return int(row[0]) if row else 0


# --------------------------------------------------------------------------------------------
# Configuration of a run.


@dataclass(frozen=True)
class WorkerSpec:
    queues: tuple[str, ...]
    concurrency: int
    pool: str = "prefork"

    @property
    def label(self) -> str:
        pool = "" if self.pool == "prefork" else f" {self.pool}"
        return f"{','.join(self.queues)} x{self.concurrency}{pool}"

    @property
    def processes(self) -> int:
        """Processes that can render at the same time (threads share one interpreter)."""
        return self.concurrency if self.pool == "prefork" else 1


POOLS = ("prefork", "threads", "solo")


def worker_spec(raw: str) -> WorkerSpec:
    """``QUEUES=CONCURRENCY[:POOL]``, e.g. ``invoices=1`` or ``logistics=8:threads``."""
    queues, _, rest = raw.partition("=")
    concurrency, _, pool = rest.partition(":")
    names = tuple(name.strip() for name in queues.split(",") if name.strip())
    known = ("intake", "logistics", "invoices", "notifications")
    if not names or any(name not in known for name in names):
        raise argparse.ArgumentTypeError(f"queues must be among {', '.join(known)}: {raw!r}")
    try:
        count = int(concurrency or "1")
    except ValueError:
        raise argparse.ArgumentTypeError(f"concurrency must be an integer: {raw!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"concurrency must be at least 1: {raw!r}")
    if (pool or "prefork") not in POOLS:
        raise argparse.ArgumentTypeError(f"pool must be one of {', '.join(POOLS)}: {raw!r}")
    return WorkerSpec(names, count, pool or "prefork")


def add_server_arguments(
    parser: argparse.ArgumentParser, *, db_prefix: str, broker_db: int, cache_db: int
) -> None:
    """Where a benchmark creates its databases: PostgreSQL, and two Redis databases it flushes."""
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432",
        help="PostgreSQL server URL, no database name (postgres://postgres@127.0.0.1:5432)",
    )
    parser.add_argument(
        "--db-prefix", default=db_prefix, help=f"databases created and dropped ({db_prefix})"
    )
    parser.add_argument(
        "--redis",
        default=f"redis://127.0.0.1:6379/{broker_db}",
        help="dedicated Redis database for the broker, flushed",
    )
    parser.add_argument(
        "--cache",
        default=f"redis://127.0.0.1:6379/{cache_db}",
        help="dedicated Redis database for the cache (CACHE_URL: throttles, quotes), flushed",
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/herd.py",
        description="Thundering herd: N orders at once, the drain, and the floors.",
    )
    parser.add_argument("-n", "--orders", type=int, default=1000, help="orders fired (1000)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--worker",
        action="append",
        type=worker_spec,
        metavar="QUEUES=CONCURRENCY[:POOL]",
        help="a Celery worker, repeatable (default: intake,notifications=1, "
        "logistics=16:threads, invoices=1); every queue must be consumed",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for the drain (600)"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=120.0, help="per-request timeout (120 s)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=12.0,
        help="seconds to keep watching after the drain before duplicates are counted (12: more "
        "than one sweep interval)",
    )
    parser.add_argument(
        "--chaos",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="supplier simulator at its chaos defaults (default) or well-behaved",
    )
    parser.add_argument(
        "--skus",
        type=lambda raw: [sku.strip() for sku in raw.split(",") if sku.strip()],
        default=[SKU],
        help=f"products ordered, one unit per order, round robin ({SKU}: every order takes stock "
        "from the same row, as in a flash sale)",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        choices=range(20),
        metavar="0-19",
        help="CPU niceness of the Celery workers, beat and the supplier simulator (10): on one "
        "host, web requests come first and the workers take the rest, as docker-compose's "
        "cpu_shares lay it out; the simulator stands for the supplier's own servers",
    )
    parser.add_argument(
        "--floor-under-load",
        action="store_true",
        help="fire the floor's herd again once the intake is done, while the workers drain: "
        "what the same machine's contention costs the floor (informational; adds its load to "
        "the drain)",
    )
    parser.add_argument("--render-samples", type=int, default=20, help="timed renders (20)")
    parser.add_argument(
        "--keep", action="store_true", help="leave the databases and the run directory"
    )
    add_server_arguments(parser, db_prefix="monolithos_herd", broker_db=12, cache_db=14)
    args = parser.parse_args(argv)
    args.worker = args.worker or [worker_spec(raw) for raw in DEFAULT_WORKERS]
    consumed = {queue for spec in args.worker for queue in spec.queues}
    missing = {"intake", "logistics", "invoices", "notifications"} - consumed
    if missing:
        parser.error(f"no worker consumes {', '.join(sorted(missing))}")
    if args.orders < 1 or args.web_workers < 1 or args.render_samples < 1:
        parser.error("-n, --web-workers and --render-samples must be at least 1")
    args.postgres = args.postgres.rstrip("/")
    return args


@dataclass
class Run:
    args: argparse.Namespace
    directory: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    loads: list[tuple[str, float]] = field(default_factory=list)

    def note_load(self, phase: str) -> None:
        self.loads.append((phase, os.getloadavg()[0]))

    @property
    def databases(self) -> dict[str, str]:
        prefix = self.args.db_prefix
        return {"default": prefix, "logistics": f"{prefix}_logistics", "floor": f"{prefix}_floor"}

    def database_url(self, key: str) -> str:
        return f"{self.args.postgres}/{self.databases[key]}"

    @property
    def mail_dir(self) -> Path:
        return self.directory / "mail"

    @property
    def media_dir(self) -> Path:
        return self.directory / "media"

    def environment(self, *, settings: str, web_port: int, supplier_url: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in FOREIGN_VARIABLES}
        floor = settings == FLOOR_SETTINGS
        env.update(
            DJANGO_SETTINGS_MODULE=settings,
            DATABASE_URL=self.database_url("floor" if floor else "default"),
            LOGISTICS_DATABASE_URL=self.database_url("floor" if floor else "logistics"),
            REDIS_URL=self.args.redis,
            CACHE_URL=self.args.cache,
            SUPPLIER_API_URL=supplier_url,
            MONOLITHOS_VAR_DIR=str(self.directory / ("floor" if floor else "system")),
            MEDIA_ROOT=str(self.media_dir),
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=str(self.mail_dir),
            WEB_CONCURRENCY=str(self.args.web_workers),
            GUNICORN_BIND=f"127.0.0.1:{web_port}",
            LOG_LEVEL="WARNING",
            # Production's request path: no query log, no static-file rescans per request.
            DEBUG="false",
            API_THROTTLE_USER="100000/minute",
            API_THROTTLE_ANON="100000/minute",
            PROMETHEUS_MULTIPROC_DIR=str(
                self.directory / ("prometheus-floor" if floor else "prometheus")
            ),
            PYTHONUNBUFFERED="1",
        )
        for directory in ("MONOLITHOS_VAR_DIR", "PROMETHEUS_MULTIPROC_DIR", "EMAIL_FILE_PATH"):
            Path(env[directory]).mkdir(parents=True, exist_ok=True)
        return env


# --------------------------------------------------------------------------------------------
# Phase (a): the bare DRF floor.


def measure_floor(run: Run, processes: Processes) -> tuple[Herd, int]:
    port = free_port()
    env = run.environment(settings=FLOOR_SETTINGS, web_port=port, supplier_url="http://127.0.0.1:9")
    manage(env, "migrate", "--database", "default", "--no-input")
    processes.start("floor-web", gunicorn_argv(), env)
    wait_for("floor gunicorn", lambda: answers(f"http://127.0.0.1:{port}/healthz"), processes, 60)
    warm_up(port, lambda i: http_request(port, FLOOR_PATH, {"warm": i}))
    requests = [
        http_request(port, FLOOR_PATH, order_body(i, run.run_id, run.args.skus), herd_headers("-"))
        for i in range(1, run.args.orders + 1)
    ]
    before = count_rows(run.database_url("floor"), "floor_accepted")
    herd = fire(port, requests, run.args.request_timeout)
    processes.stop(["floor-web"])
    rows = count_rows(run.database_url("floor"), "floor_accepted") - before
    return herd, rows


def warm_up(port: int, request: Callable[[int], bytes]) -> Herd:
    """Three small bursts, so that every gunicorn worker has imported its views and connected."""
    for burst in range(3):
        herd = fire(port, [request(burst * 32 + i) for i in range(32)], 30)
    time.sleep(1)
    return herd


def herd_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}", "Idempotency-Key": str(uuid.uuid4())}


# --------------------------------------------------------------------------------------------
# Phase 1-3: the system.


@dataclass
class Progress:
    """When each kind of work was complete for every accepted order (seconds from the start)."""

    placed: int = 0
    rejected: int = 0
    shipments: int = 0
    invoices: int = 0
    mails: int = 0
    numbers: list[str] = field(default_factory=list)
    done_at: dict[str, float] = field(default_factory=dict)


KINDS = ("placed", "shipments", "invoices", "mails")


def poll_progress(request_ids: Sequence[int], progress: Progress) -> None:
    """Requests placed (their order numbers) and rejected, then the placed orders' work done."""
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT r.status, o.number FROM monolithos_orderrequest r "
            "LEFT JOIN monolithos_order o ON o.id = r.order_id "
            "WHERE r.id = ANY(%s) AND r.status <> 'received'",
            [list(request_ids)],
        )
        rows = cursor.fetchall()
        numbers = [number for status, number in rows if status == "placed" and number]
        progress.numbers = numbers
        progress.placed = len(numbers)
        progress.rejected = sum(1 for status, _ in rows if status == "rejected")
        cursor.execute(
            "SELECT count(*) FROM monolithos_invoice i "
            "JOIN monolithos_order o ON o.id = i.order_id "
            "WHERE i.rendered_version IS NOT NULL AND o.number = ANY(%s)",
            [numbers],
        )
        progress.invoices = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT count(DISTINCT idempotency_key) FROM notifications_notification "
            "WHERE kind = 'order_confirmation' AND status = 'sent' AND idempotency_key = ANY(%s)",
            [[f"order-confirmation:{number}" for number in numbers]],
        )
        progress.mails = int(cursor.fetchone()[0])
    with connections["logistics"].cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT order_ref) FROM logistics_shipment "
            "WHERE status = 'dispatched' AND order_ref = ANY(%s)",
            [numbers],
        )
        progress.shipments = int(cursor.fetchone()[0])


def wait_for_drain(
    request_ids: Sequence[int], started: float, timeout: float, processes: Processes
) -> Progress:
    progress = Progress()
    total = len(request_ids)
    last_print = 0.0
    while True:
        now = time.perf_counter() - started
        poll_progress(request_ids, progress)
        for name in KINDS:
            if getattr(progress, name) >= total and name not in progress.done_at:
                progress.done_at[name] = now
        if (
            progress.shipments >= math.ceil(0.99 * total)
            and "shipments 99%" not in progress.done_at
        ):
            progress.done_at["shipments 99%"] = now  # the drain's tail is measured against it
        if all(name in progress.done_at for name in KINDS):
            progress.done_at["all"] = max(progress.done_at[name] for name in KINDS)
            return progress
        if now - last_print >= 15:
            last_print = now
            print(
                f"   ... {now:5.0f} s: placed {progress.placed}, dispatched "
                f"{progress.shipments}, rendered {progress.invoices}, mailed {progress.mails} "
                f"of {total}",
                file=sys.stderr,
                flush=True,
            )
        if now > timeout or progress.rejected:
            return progress
        processes.check()
        time.sleep(0.5)


def setup_system_data(orders: int, skus: Sequence[str]) -> str:
    """The client's user and token, and stock for every order; returns the token."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token

    from monolithos.models import Product

    # The web shop's service account: it places orders for any customer.
    user, _ = get_user_model().objects.get_or_create(username=HERD_USERNAME)
    user.user_permissions.add(Permission.objects.get(codename="place_order_for_any_customer"))
    token, _ = Token.objects.get_or_create(user=user)
    updated = Product.objects.filter(sku__in=skus).update(stock=orders * 10 + 1000)
    if updated != len(set(skus)):
        raise RunFailed(f"seed_demo did not create every product of {', '.join(skus)}")
    return str(token.key)


def ping_workers(expected: int) -> Callable[[], bool]:
    from config.celery import app

    def probe() -> bool:
        try:
            return len(app.control.ping(timeout=0.5) or []) >= expected
        except Exception:  # broker not reachable yet
            return False

    return probe


@dataclass
class SystemResult:
    herd: Herd
    request_ids: list[int]
    numbers: list[str] = field(default_factory=list)
    progress: Progress | None = None
    ledger: list[dict[str, Any]] = field(default_factory=list)
    supplier_calls: dict[str, int] = field(default_factory=dict)
    integrity: dict[str, dict[str, int]] = field(default_factory=dict)
    metrics: dict[str, tuple[float, float]] = field(default_factory=dict)
    log_events: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    loaded_floor: Herd | None = None
    missing_endpoint: bool = False


def start_system(run: Run, processes: Processes) -> tuple[int, str]:
    web_port, supplier_port = free_port(), free_port()
    supplier_url = f"http://127.0.0.1:{supplier_port}"
    env = run.environment(settings=SYSTEM_SETTINGS, web_port=web_port, supplier_url=supplier_url)
    manage(env, "migrate", "--database", "default", "--no-input")
    manage(env, "migrate", "--database", "logistics", "--no-input")
    manage(env, "seed_demo")
    # This process reads the system's databases and pings its workers: same settings.
    os.environ.update(env)
    import django

    django.setup()
    chaos = [] if run.args.chaos else ["--failure-rate", "0", "--hang-rate", "0"]
    nice = ["nice", "-n", str(run.args.worker_nice)] if run.args.worker_nice else []
    processes.start(
        "supplier",
        [*nice, sys.executable, "-m", "supplier_sim", "--port", str(supplier_port), *chaos],
        env,
    )
    for index, spec in enumerate(run.args.worker, start=1):
        processes.start(
            f"worker{index}",
            [*nice, sys.executable, "-m", "celery", "-A", "config", "worker",
             "-n", f"herd{index}-{run.run_id}@%h", "--queues", ",".join(spec.queues),
             "--concurrency", str(spec.concurrency), "--pool", spec.pool,
             "--without-gossip", "--without-mingle",
             "--loglevel", "WARNING"],
            env,
        )  # fmt: skip
    processes.start(
        "beat",
        [*nice, sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING",
         "--schedule", str(run.directory / "system" / "celerybeat-schedule")],
        env,
    )  # fmt: skip
    processes.start("web", gunicorn_argv(), env)
    wait_for("supplier simulator", lambda: answers(f"{supplier_url}/health"), processes, 30)
    wait_for("gunicorn", lambda: answers(f"http://127.0.0.1:{web_port}/healthz"), processes, 60)
    wait_for("Celery workers", ping_workers(len(run.args.worker)), processes, 60)
    return web_port, supplier_url


def measure_system(run: Run, processes: Processes, token: str, web_port: int) -> SystemResult:
    auth = {"Authorization": f"Token {token}"}
    # OPTIONS runs the middleware, the token lookup and the view's set-up, and writes nothing.
    probe = warm_up(web_port, lambda i: http_request(web_port, ORDERS_PATH, None, auth, "OPTIONS"))
    if any(outcome.status == 404 for outcome in probe.outcomes):
        return SystemResult(herd=probe, request_ids=[], missing_endpoint=True)
    requests = [
        http_request(
            web_port, ORDERS_PATH, order_body(i, run.run_id, run.args.skus), herd_headers(token)
        )
        for i in range(1, run.args.orders + 1)
    ]
    before = cpu_snapshot(processes)
    herd = fire(web_port, requests, run.args.request_timeout)
    request_ids = order_requests(herd)
    result = SystemResult(herd=herd, request_ids=request_ids)
    if request_ids and run.args.floor_under_load:
        result.loaded_floor, _ = measure_floor(run, processes)
    if request_ids:
        result.progress = wait_for_drain(request_ids, herd.started, run.args.timeout, processes)
        result.numbers = result.progress.numbers
        after = cpu_snapshot(processes)
        result.cpu = {name: after[name] - before.get(name, 0.0) for name in after}
        if len(result.progress.done_at) == len(KINDS) + 1 and run.args.settle > 0:
            time.sleep(run.args.settle)  # duplicates show up late, if they do (sweeps, retries)
    return result


def order_requests(herd: Herd) -> list[int]:
    """The order requests' ids from the 202 bodies."""
    ids: list[int] = []
    for outcome in herd.accepted(202):
        try:
            body = json.loads(outcome.body)
        except ValueError:
            continue
        if isinstance(body, dict) and isinstance(body.get("id"), int):
            ids.append(body["id"])
    return ids


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310  (our own http URL)
        return json.loads(response.read())


def read_mails(mail_dir: Path) -> list[tuple[str, str]]:
    """(recipient, subject) of every message the filebased backend wrote."""
    return [
        (recipient.strip().lower(), str(message.get("Subject", "")))
        for message in read_messages(mail_dir)
        for recipient in str(message.get("To", "")).split(",")
    ]


def check_integrity(run: Run, result: SystemResult, supplier_url: str) -> None:
    """Lost, unfinished and duplicated work, from what the system recorded and what left it.

    Lost: accepted and gone (no order), recorded as done without the evidence outside (no
    dispatch in the supplier's ledger, no mail, no PDF file), or unfinished with nothing left
    that will finish it (a shipment pending with no next attempt, a failed notification).
    Unfinished: still owed when the drain gave up, but scheduled (the sweep will come back).
    """
    from datetime import UTC, datetime

    from django.db import connections

    numbers = result.numbers
    wanted = set(numbers)
    keys = [f"order-confirmation:{number}" for number in numbers]
    ledger: list[dict[str, Any]] = get_json(f"{supplier_url}/v1/ledger")["dispatches"]
    result.ledger = ledger
    calls: list[dict[str, Any]] = get_json(f"{supplier_url}/_admin/requests")["requests"]
    result.supplier_calls = dict(
        Counter(
            str(r.get("outcome"))
            for r in calls
            if r.get("method") == "POST" and str(r.get("path", "")).startswith("/v1/dispatches")
        )
    )
    per_ref = Counter(str(d.get("order_ref")) for d in ledger if str(d.get("order_ref")) in wanted)
    per_key = Counter(str(d.get("idempotency_key")) for d in ledger if d.get("idempotency_key"))

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM monolithos_order")
        orders_in_db = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT o.number, lower(c.email), i.rendered_version IS NOT NULL, i.pdf "
            "FROM monolithos_order o JOIN monolithos_customer c ON c.id = o.customer_id "
            "LEFT JOIN monolithos_invoice i ON i.order_id = o.id WHERE o.number = ANY(%s)",
            [numbers],
        )
        orders = {row[0]: (row[1], bool(row[2]), row[3] or "") for row in cursor.fetchall()}
        cursor.execute(
            "SELECT idempotency_key, status FROM notifications_notification "
            "WHERE idempotency_key = ANY(%s)",
            [keys],
        )
        notification_rows = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM outbox_failedtask")
        failed_tasks = int(cursor.fetchone()[0])
        cursor.execute("SELECT count(*) FROM outbox_outboxmessage WHERE published_at IS NULL")
        unpublished = int(cursor.fetchone()[0])
    with connections["logistics"].cursor() as cursor:
        cursor.execute(
            "SELECT order_ref, status, attempt_count, next_attempt_at FROM logistics_shipment "
            "WHERE order_ref = ANY(%s)",
            [numbers],
        )
        shipment_rows = cursor.fetchall()
    shipments = {row[0]: row for row in shipment_rows}
    notifications = {key: status for key, status in notification_rows}

    mails = read_mails(run.mail_dir)
    prefix = f"herd-{run.run_id}-"
    to_customers = [(to, subject) for to, subject in mails if to.startswith(prefix)]
    mails_per_customer = Counter(to for to, _ in to_customers)
    identical = Counter(to_customers)
    pdfs = list(run.media_dir.rglob("*.pdf"))

    now = datetime.now(UTC)
    dispatched = {n for n, row in shipments.items() if row[1] == "dispatched"}
    pending = [row for n, row in shipments.items() if row[1] == "pending"]
    deferred = [row for row in pending if row[3] is not None]
    latest = max((row[3] for row in deferred), default=None)
    sent = {n for n in wanted if notifications.get(f"order-confirmation:{n}") == "sent"}
    rendered = {n for n, (_, done, _) in orders.items() if done}
    lost = {
        "requests accepted, not placed": len(result.request_ids) - len(numbers),
        "orders placed, missing from the database": len(wanted - orders.keys()),
        "dispatched, absent from the supplier's ledger": sum(
            1 for n in dispatched if not per_ref[n]
        ),
        "pending shipments with no next attempt": sum(
            1 for row in pending if row[3] is None and row[2] > 0
        ),
        "shipments in another state": sum(
            1 for row in shipments.values() if row[1] not in ("pending", "dispatched")
        ),
        "rendered, no PDF file": sum(
            1 for n in rendered if not (run.media_dir / orders[n][2]).is_file()
        ),
        "confirmations failed": sum(1 for status in notifications.values() if status == "failed"),
        "sent, no mail to the customer": sum(
            1 for n in sent if not mails_per_customer[orders[n][0]]
        ),
    }
    unfinished = {
        "shipments not created": len(wanted - shipments.keys()),
        "shipments pending, never tried": sum(
            1 for row in pending if row[3] is None and not row[2]
        ),
        "shipments pending, next attempt scheduled": len(deferred),
        "invoices not rendered": len(wanted - rendered),
        "confirmations not sent": len(wanted - sent),
        "outbox messages not published": unpublished,
    }
    duplicated = {
        "order requests answered twice": len(result.request_ids) - len(set(result.request_ids)),
        "orders placed twice": len(numbers) - len(wanted),
        "orders beyond those accepted": max(0, orders_in_db - len(wanted)),
        "orders dispatched twice at the supplier": sum(1 for c in per_ref.values() if c > 1),
        "supplier idempotency keys used twice": sum(1 for c in per_key.values() if c > 1),
        "orders with two shipments": len(shipment_rows) - len(shipments),
        "confirmation records twice": len(notification_rows) - len(notifications),
        "identical mails sent twice": sum(c - 1 for c in identical.values() if c > 1),
    }
    renders = result.metrics.get("renders", (0.0, 0.0))[0]
    if renders:  # PDF names are deterministic (overwritten): count the renders themselves
        duplicated["invoices rendered more than once"] = max(0, int(renders) - len(rendered))
    info = {
        "supplier ledger entries": len(ledger),
        "mails to customers": len(to_customers),
        "mails in all": len(mails),
        "PDF files": len(pdfs),
        "failed tasks recorded": failed_tasks,
    }
    if latest is not None:
        info["last deferred shipment due in s"] = max(0, round((latest - now).total_seconds()))
    result.integrity = {
        "lost": lost,
        "unfinished": unfinished,
        "duplicated": duplicated,
        "info": info,
    }


def read_log_events(directory: Path, names: Sequence[str]) -> dict[str, int]:
    """Warnings and errors the system's processes logged, by event, most frequent first."""
    # structlog's console lines ("[warning  ] event"), gunicorn's ("[ERROR]"), Celery's ("ERROR/").
    pattern = re.compile(
        r"\[(warning|error|critical)\s*\]\s+(\S+)|\[(WARNING|ERROR|CRITICAL)\]|(WARNING|ERROR)/"
    )
    counts: Counter[str] = Counter()
    for name in names:
        path = directory / f"{name}.log"
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            found = pattern.search(line)
            if found is None:
                continue
            counts[found.group(2) or f"({name}) {found.group(3) or found.group(4)}"] += 1
    return dict(counts.most_common(8))


def read_metrics(directory: Path) -> dict[str, tuple[float, float]]:
    """Counts and sums of the workers' histograms (Prometheus multiprocess files)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    totals: dict[str, list[float]] = {}
    for family in registry.collect():
        for sample in family.samples:
            if family.name == "monolithos_invoice_render_seconds":
                if sample.labels.get("where") != "worker":
                    continue
                name = "renders"
            elif family.name == "monolithos_task_seconds":
                task = sample.labels.get("task", "?").rsplit(".", 1)[-1]
                name = f"task {task} {sample.labels.get('state', '?')}"
            elif family.name == "monolithos_order_placement_seconds":
                if sample.labels.get("side") != "new":
                    continue
                name = f"placement {sample.labels.get('outcome', '?')}"
            elif family.name == "monolithos_order_request_wait_seconds":
                name = "request wait"
            else:
                continue
            if sample.name.endswith("_count"):
                totals.setdefault(name, [0.0, 0.0])[0] += sample.value
            elif sample.name.endswith("_sum"):
                totals.setdefault(name, [0.0, 0.0])[1] += sample.value
    return {name: (count, total) for name, (count, total) in sorted(totals.items())}


# --------------------------------------------------------------------------------------------
# Phase (b): the rendering floor.


@dataclass(frozen=True)
class RenderFloor:
    median_s: float
    samples: int
    invoice: str
    synthetic: bool
    pdf_bytes: int


class _Rollback(Exception):
    pass


def measure_render(numbers: Sequence[str], samples: int) -> RenderFloor:
    from monolithos.invoicing import render_invoice_pdf
    from monolithos.models import Invoice

    def timed(invoice: Any) -> tuple[float, int]:
        for _ in range(2):  # fonts and the template are loaded once per process
            render_invoice_pdf(invoice)
        times = []
        size = 0
        for _ in range(samples):
            started = time.perf_counter()
            size = len(render_invoice_pdf(invoice))
            times.append(time.perf_counter() - started)
        return statistics.median(times), size

    invoice = (
        Invoice.objects.select_related("order").filter(order__number__in=list(numbers[:50])).first()
    )
    if invoice is not None:
        median, size = timed(invoice)
        return RenderFloor(median, samples, invoice.number, False, size)
    # No invoice from the herd (intake missing or failed): render one like it, then roll back.
    from django.db import transaction

    measured: list[RenderFloor] = []
    with contextlib.suppress(_Rollback), transaction.atomic():
        invoice = synthetic_invoice()
        median, size = timed(invoice)
        measured.append(RenderFloor(median, samples, invoice.number, True, size))
        raise _Rollback
    return measured[0]


def synthetic_invoice() -> Any:
    from decimal import Decimal

    from monolithos.models import Customer, Invoice, Order, OrderLine, Product

    product = Product.objects.get(sku=SKU)
    customer = Customer.objects.create(name="Herd Customer 1", email="herd-render@example.com")
    total = product.price
    order = Order.objects.create(
        number="ORD-999999",
        customer=customer,
        subtotal=total,
        total=total,
        tax=Decimal("0.00"),
        shipping_name=customer.name,
        shipping_address="1 Herd Lane\nStampede Town",
    )
    OrderLine.objects.create(
        order=order, product=product, sku=SKU, quantity=1, unit_price=total, line_total=total
    )
    return Invoice.objects.create(order=order, number="INV-999999", amount=total)


# --------------------------------------------------------------------------------------------
# Report.


def intake_line(label: str, herd: Herd, status: int, n: int) -> str:
    latencies = herd.latencies_ms()
    return (
        f"  {label:<26}{len(herd.accepted(status)):>5}/{n:<5}{herd.wall_s:>8.2f} s"
        f"{herd.throughput(status):>9.1f}/s{percentile(latencies, 50):>9.0f}"
        f"{percentile(latencies, 95):>8.0f}{percentile(latencies, 99):>8.0f}"
        f"{(latencies[-1] if latencies else 0):>8.0f}"
    )


def target_line(label: str, ratio: float, limit: float, at_least: bool) -> str:
    met = ratio >= limit if at_least else ratio <= limit
    sign = ">=" if at_least else "<="
    return f"  {label:<44}{ratio:>7.2f}  ({sign} {limit})  {'PASS' if met else 'MISS'}"


def report(
    run: Run,
    floor: Herd,
    floor_rows: int,
    system: SystemResult | None,
    render: RenderFloor | None,
) -> int:
    args = run.args
    threads = os.environ.get("GUNICORN_THREADS", "8")
    print(
        f"thundering herd: {args.orders} requests at once, gunicorn {args.web_workers} workers x "
        f"{threads} threads, PostgreSQL, Redis, {os.cpu_count()} CPUs"
    )
    workers = "; ".join(spec.label for spec in args.worker)
    chaos = "chaos defaults (50% 503, 10% hang 5 s)" if args.chaos else "no chaos"
    niceness = f" (nice {args.worker_nice})" if args.worker_nice else ""
    print(f"  Celery workers{niceness}: {workers}; beat; supplier simulator at {chaos}")
    print(f"  one unit per order of {', '.join(args.skus)}; DEBUG off, LOG_LEVEL WARNING")
    loads = ", ".join(f"{phase} {load:.2f}" for phase, load in run.loads)
    print(f"  1-minute load average before each phase (other work on this machine): {loads}")
    print(f"intake{'':<22}accepted   wall    throughput   p50     p95     p99     max (ms)")
    print(intake_line("bare DRF floor (1 row)", floor, 201, args.orders))
    if floor_rows != len(floor.accepted(201)):
        print(f"    ! {floor_rows} rows in the floor table for {len(floor.accepted(201))} answers")
    if floor.problems(201):
        print(f"    not 201: {floor.problems(201)}")
    exit_status = 0
    if system is None or system.missing_endpoint:
        print(f"  POST {ORDERS_PATH}: answered 404, the intake endpoint does not exist yet")
        if render is not None:
            print_render(render, args.orders, render_processes(args))
        return 2
    herd = system.herd
    print(intake_line(f"POST {ORDERS_PATH}", herd, 202, args.orders))
    if system.loaded_floor is not None:
        print(intake_line("floor, workers draining", system.loaded_floor, 201, args.orders))
    if herd.problems(202):
        print(f"    not 202: {herd.problems(202)}")
        exit_status = 1
    progress = system.progress
    processes = render_processes(args)
    drain_s: float | None = None
    print(f"drain (seconds from the common start; the last 202 came at {herd.wall_s:.1f} s)")
    if progress is None:
        print("  nothing accepted, nothing to drain")
        exit_status = 1
    else:
        total = len(system.request_ids)
        for name, label, count in (
            ("placed", "orders placed", progress.placed),
            ("shipments", "shipments dispatched", progress.shipments),
            ("invoices", "invoices rendered", progress.invoices),
            ("mails", "confirmations sent", progress.mails),
        ):
            at = progress.done_at.get(name)
            when = f"all at {at:7.1f} s" if at is not None else "NOT ALL by the timeout"
            print(f"  {label:<24}{count:>5}/{total:<5} {when}")
        if progress.rejected:
            print(f"  orders rejected         {progress.rejected:>5}/{total:<5} (stock ran out?)")
            exit_status = 1
        drain_s = progress.done_at.get("all")
        if drain_s is None:
            print(f"  drain                   did not finish within {args.timeout:.0f} s")
            exit_status = 1
        else:
            after = drain_s - herd.wall_s
            print(f"  drained                 {drain_s:7.1f} s ({after:.1f} s after the last 202)")
    if system.supplier_calls:
        calls = ", ".join(f"{k} {v}" for k, v in sorted(system.supplier_calls.items()))
        print(f"  supplier dispatch calls {sum(system.supplier_calls.values())}: {calls}")
    if render is not None:
        print_render(render, len(system.numbers), processes)
    if system.metrics:
        print_metrics(system.metrics, render, len(system.numbers))
    if system.cpu and drain_s is not None:
        print_cpu(system.cpu, drain_s, args.worker)
    if system.log_events:
        events = ", ".join(f"{name} {count}" for name, count in system.log_events.items())
        print(f"  warnings and errors logged: {events}")
    if system.integrity:
        lost = system.integrity["lost"]
        duplicated = system.integrity["duplicated"]
        unfinished = system.integrity["unfinished"]
        for title, counts in (
            ("lost work", lost),
            ("duplicated work", duplicated),
            ("unfinished, still scheduled", unfinished),
        ):
            if title.startswith("unfinished") and not sum(counts.values()):
                continue
            print(f"{title}: {sum(counts.values())}")
            for label, count in counts.items():
                if count:
                    print(f"  {label:<48}{count:>6}")
        info = ", ".join(f"{k} {v}" for k, v in system.integrity["info"].items())
        print(f"  ({info})")
        if sum(lost.values()) or sum(duplicated.values()):
            exit_status = 1
    print("targets")
    floor_p99 = percentile(floor.latencies_ms(), 99)
    if floor.throughput(201) > 0:
        print(
            target_line(
                "intake throughput / floor throughput",
                herd.throughput(202) / floor.throughput(201),
                0.5,
                at_least=True,
            )
        )
    if floor_p99 > 0:
        print(
            target_line(
                "intake p99 / floor p99", percentile(herd.latencies_ms(), 99) / floor_p99, 2.0,
                at_least=False,
            )
        )  # fmt: skip
    if render is not None and drain_s is not None:
        render_floor_s = len(system.numbers) * render.median_s / processes
        print(target_line("drain time / rendering floor", drain_s / render_floor_s, 1.3, False))
    elif render is not None:
        print("  drain time / rendering floor                    n/a  (the drain did not finish)")
    if system.cpu and progress is not None and drain_s is not None:
        print_drain_targets(system.cpu, progress, drain_s, len(system.numbers))
    loaded = system.loaded_floor
    if loaded is not None and loaded.throughput(201) > 0:
        print(
            f"  (informational, against the floor under the workers' load: throughput "
            f"{herd.throughput(202) / loaded.throughput(201):.2f}, p99 "
            f"{percentile(herd.latencies_ms(), 99) / percentile(loaded.latencies_ms(), 99):.2f})"
        )
    return exit_status


def print_cpu(cpu: dict[str, float], drain_s: float, workers: Sequence[WorkerSpec]) -> None:
    """Where the machine's CPU went from the herd to the end of the drain."""
    labels = {f"worker{index}": spec.label for index, spec in enumerate(workers, start=1)}
    available = drain_s * (os.cpu_count() or 1)
    used = sum(cpu.values())
    parts = ", ".join(
        f"{labels.get(name, name)} {seconds:.1f}"
        for name, seconds in sorted(cpu.items(), key=lambda item: -item[1])
        if seconds >= 0.05
    )
    print(
        f"  CPU seconds, herd to drained: {used:.1f} of {available:.1f} "
        f"({used / available:.0%}): {parts}"
    )


def print_drain_targets(
    cpu: dict[str, float], progress: Progress, drain_s: float, orders: int
) -> None:
    """Issue 18's drain targets: the workers kept busy, a bounded tail; and work per order."""
    workers = sum(seconds for name, seconds in cpu.items() if name.startswith("worker"))
    utilization = (workers + cpu.get("PostgreSQL", 0.0)) / (drain_s * (os.cpu_count() or 1))
    print(target_line("drain utilization (workers + PostgreSQL)", utilization, 0.75, True))
    at_99 = progress.done_at.get("shipments 99%")
    last = progress.done_at.get("shipments")
    if at_99 and last:
        print(target_line("last shipment / 99 % dispatched", last / at_99, 1.5, False))
    if orders:
        print(f"  (worker CPU per order: {1000 * workers / orders:.1f} ms)")


def print_metrics(
    metrics: dict[str, tuple[float, float]], render: RenderFloor | None, orders: int
) -> None:
    """Where the workers' time went, from their own histograms."""
    placed = metrics.get("placement placed")
    if placed and placed[0]:
        print(
            f"  intake worker's placement.accept: {placed[1] / placed[0] * 1000:.1f} ms mean "
            f"over {placed[0]:.0f} orders"
        )
    waited = metrics.get("request wait")
    if waited and waited[0]:
        print(
            f"  order requests, from 202 to placement: {waited[1] / waited[0]:.1f} s mean "
            f"over {waited[0]:.0f}"
        )
    renders = metrics.get("renders")
    if renders and renders[0]:
        mean = renders[1] / renders[0]
        versus = f", {mean / render.median_s:.1f} x the quiet median" if render else ""
        print(f"  worker renders: {renders[0]:.0f}, {mean * 1000:.1f} ms mean{versus}")
    tasks = [
        (name[5:], count, total) for name, (count, total) in metrics.items() if name[:5] == "task "
    ]
    if tasks:
        print("  worker time by task and state (runs, runs per order, seconds in all, mean ms):")
        for name, count, total in sorted(tasks, key=lambda item: -item[2]):
            mean_ms = total / count * 1000 if count else 0.0
            per_order = count / orders if orders else 0.0
            print(f"    {name:<44}{count:>6.0f}{per_order:>7.2f}{total:>9.1f} s{mean_ms:>9.1f}")


def render_processes(args: argparse.Namespace) -> int:
    return sum(spec.processes for spec in args.worker if "invoices" in spec.queues)


def print_render(render: RenderFloor, renders: int, processes: int) -> None:
    which = "a synthetic copy of the herd's invoice" if render.synthetic else render.invoice
    floor_s = renders * render.median_s / processes
    print(
        f"rendering floor: median {render.median_s * 1000:.1f} ms per PDF ({which}, "
        f"{render.pdf_bytes} bytes, {render.samples} renders); {renders} renders / "
        f"{processes} process(es) = {floor_s:.1f} s"
    )


# --------------------------------------------------------------------------------------------


def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_file_limit(4 * args.orders + 1024)
    directory = Path(tempfile.mkdtemp(prefix="monolithos-bench-herd-"))
    run = Run(args, directory)
    processes = Processes(directory)
    failed = True
    with terminate_on_sigterm():
        try:
            status = bench(run, processes)
            failed = status != 0
            return status
        except RunFailed as error:
            print(f"herd: the run failed: {error}", file=sys.stderr)
            return 2
        finally:
            processes.stop()
            if args.keep or failed:
                print(f"run directory (logs, mails, PDFs): {directory}", file=sys.stderr)
            else:
                shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def exclusive(server_url: str, names: Sequence[str]) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock on these databases' names for the whole run.

    Two runs with the same names would drop each other's databases and flush each other's
    broker: the second one refuses to start instead.
    """
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as connection:
        row = connection.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s))", ["bench " + " ".join(names)]
        ).fetchone()
        if not (row and row[0]):
            raise RunFailed(
                f"another benchmark run is using {', '.join(names)}: wait for it to end, or "
                "pass other --db-prefix, --redis and --cache values (and expect both runs' numbers "
                "to suffer: they share the CPUs)"
            )
        yield  # the lock goes with the connection


def bench(run: Run, processes: Processes) -> int:
    with exclusive(run.args.postgres, [*run.databases.values(), run.args.redis, run.args.cache]):
        try:
            return bench_exclusively(run, processes)
        finally:
            processes.stop()  # before the databases go, and while the lock is held
            if not run.args.keep:
                with contextlib.suppress(Exception):
                    recreate_databases(
                        run.args.postgres, list(run.databases.values()), create=False
                    )


def bench_exclusively(run: Run, processes: Processes) -> int:
    args = run.args
    import redis

    recreate_databases(args.postgres, list(run.databases.values()))
    redis.Redis.from_url(args.redis).flushdb()
    redis.Redis.from_url(args.cache).flushdb()

    print("(a) the bare DRF floor ...", file=sys.stderr, flush=True)
    run.note_load("floor")
    floor, floor_rows = measure_floor(run, processes)

    print("starting the system ...", file=sys.stderr, flush=True)
    web_port, supplier_url = start_system(run, processes)
    token = setup_system_data(args.orders, args.skus)
    print(f"the herd: {args.orders} orders ...", file=sys.stderr, flush=True)
    run.note_load("herd")
    system = measure_system(run, processes, token, web_port)
    processes.stop(["web", "beat"] + [f"worker{i}" for i in range(1, len(args.worker) + 1)])
    if not system.missing_endpoint:
        system.metrics = read_metrics(run.directory / "prometheus")
        system.log_events = read_log_events(
            run.directory, ["web", "beat"] + [f"worker{i}" for i in range(1, len(args.worker) + 1)]
        )
        check_integrity(run, system, supplier_url)
    processes.stop()  # the rendering floor is measured on a quiet machine

    print("(b) the rendering floor ...", file=sys.stderr, flush=True)
    run.note_load("render")
    render = measure_render(system.numbers, args.render_samples)
    return report(run, floor, floor_rows, system, render)


if __name__ == "__main__":
    sys.exit(main())
