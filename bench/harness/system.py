"""The system of a run: its databases and broker, its processes' argv, environment and start-up.

Fresh PostgreSQL databases (held with an advisory lock for the whole run) and two dedicated
Redis databases (the broker, the cache); gunicorn with config/gunicorn.py, Celery workers laid
out by ``--worker QUEUES=CONCURRENCY[:POOL]``, celery beat and the supplier simulator, the
workers and the simulator at a lower CPU priority than the web (``worker_nice``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness.processes import ROOT, Processes, RunFailed, answers, free_port, wait_for

HERD_USERNAME = "herd"
SYSTEM_SETTINGS = "config.settings"
FLOOR_SETTINGS = "bench.settings_floor"
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


def manage(env: dict[str, str], *command: str, timeout: float = 300, tail: int = 3000) -> str:
    """``manage.py command`` in ``env``; its output, or ``RunFailed`` with its stderr's tail."""
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RunFailed(f"manage.py {' '.join(command)} failed:\n{result.stderr[-tail:]}")
    return result.stdout


def gunicorn_argv(app: str = "config.wsgi:application") -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", app]


def supplier_argv(port: int, *, chaos: bool, seed: int | None = None) -> list[str]:
    """The supplier simulator on ``port``: at its chaos defaults, or answering every call."""
    calm = [] if chaos else ["--failure-rate", "0", "--hang-rate", "0"]
    seeded = [] if seed is None else ["--seed", str(seed)]
    return [sys.executable, "-m", "supplier_sim", "--port", str(port), *calm, *seeded]


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


# --------------------------------------------------------------------------------------------
# The Celery workers of a run.


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


# --------------------------------------------------------------------------------------------
# A run: its options, its directory, its databases and its processes' environment.


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
# The system's start-up.


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


def start_system(run: Run, processes: Processes, *, hand_over: str = "broker") -> tuple[int, str]:
    """The system on ``run``'s databases; ``hand_over`` is ORDER_INTAKE_HAND_OVER, and
    ``claimed`` starts the intake worker too (``worker-intake``, docs/adr/0025)."""
    web_port, supplier_port = free_port(), free_port()
    supplier_url = f"http://127.0.0.1:{supplier_port}"
    env = run.environment(settings=SYSTEM_SETTINGS, web_port=web_port, supplier_url=supplier_url)
    env["ORDER_INTAKE_HAND_OVER"] = hand_over
    manage(env, "migrate", "--database", "default", "--no-input")
    manage(env, "migrate", "--database", "logistics", "--no-input")
    manage(env, "seed_demo")
    # This process reads the system's databases and pings its workers: same settings.
    os.environ.update(env)
    import django

    django.setup()
    nice = ["nice", "-n", str(run.args.worker_nice)] if run.args.worker_nice else []
    processes.start("supplier", [*nice, *supplier_argv(supplier_port, chaos=run.args.chaos)], env)
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
    if hand_over == "claimed":
        processes.start("worker-intake", [*nice, sys.executable, "manage.py", "intake_worker"], env)
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
