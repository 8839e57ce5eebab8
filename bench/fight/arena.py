"""The running system the flake, black box and herd rounds share: started once, stopped once.

Built from the bench's harness (bench/harness: its run directory, environment, process control,
start-up, database and broker set-up), imported, not copied: the same gunicorn, Celery
workers laid out as in docker-compose, beat and supplier simulator on fresh PostgreSQL
databases and two dedicated Redis databases. What the fight adds to the run's environment: JSON
logs at INFO (the black box round reads them), a shorter gunicorn timeout and the settings
module ``bench.settings_fight`` (the project's settings plus the bench's URLconf, whose only
addition is ``/bench/`` routes that end badly on purpose, for the black box round).

The system is started on the first round that needs it, so ``--rounds tangle`` starts nothing,
and this process adopts the system's environment before any round runs: Django is set up once
per process, and the rounds read the system's databases through it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness.client import SKU, get_json
from bench.harness.processes import Processes, wait_for
from bench.harness.system import (
    Run,
    add_server_arguments,
    exclusive,
    ping_workers,
    recreate_databases,
    setup_system_data,
    start_system,
    worker_spec,
)
from bench.harness.system import manage as system_manage

SETTINGS = "bench.settings_fight"
# Past this, gunicorn's arbiter would count a silent worker as stuck; the black box round's
# slow request outlives it (gthread workers keep reporting while a thread is busy).
SERVER_TIMEOUT_S = 5
DEFAULT_PREFIX, BROKER_DB, CACHE_DB = "monolithos_bossfight", 10, 11
STRANGLED = ("api_place_order", "api_track_order", "api_ship_order")
MODE_REACHES_EVERY_PROCESS_S = 1.5
# herd's layout with the logistics worker on 8 threads instead of 16: each thread holds a
# connection to both databases, and the PostgreSQL server (100 connections) is shared.
WORKERS = (
    "intake,notifications=1",
    "logistics=8:threads",
    "invoices=1",
)  # the strangler's target is 1 s (docs/adr/0016)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_server_arguments(parser, db_prefix=DEFAULT_PREFIX, broker_db=BROKER_DB, cache_db=CACHE_DB)
    parser.add_argument(
        "--keep", action="store_true", help="leave the run directory (logs, mails, PDFs)"
    )


class FightRun(Run):
    """The harness's run, with the fight's settings module, JSON logs and server timeout."""

    extra: Mapping[str, str] = {}

    def environment(self, *, settings: str, web_port: int, supplier_url: str) -> dict[str, str]:
        env = super().environment(settings=settings, web_port=web_port, supplier_url=supplier_url)
        env.update(
            DJANGO_SETTINGS_MODULE=SETTINGS,
            LOG_FORMAT="json",
            LOG_LEVEL="INFO",
            GUNICORN_TIMEOUT=str(SERVER_TIMEOUT_S),
            **self.extra,
        )
        return env


@dataclass
class Arena:
    """The started system: where it answers, its token, its environment and its processes."""

    run: FightRun
    processes: Processes
    web_port: int
    supplier_url: str
    token: str
    env: dict[str, str]
    customers: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def log_dir(self) -> Path:
        return self.run.directory

    def customer(self, tag: str) -> str:
        """A customer e-mail no other order of the fight uses (mails are counted per address)."""
        self.customers += 1
        local = re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")
        return f"herd-{self.run.run_id}-{local}-{self.customers}@example.com"

    def set_modes(self, mode: str, routes: tuple[str, ...] = STRANGLED) -> None:
        """Routes to ``mode`` through the strangler's service, as the ops panel does."""
        from strangler import services

        for route in routes:
            services.set_mode(
                route=route,
                mode=mode,
                reason=f"boss fight: the {mode} side's turn",
                actor="bossfight",
                via="command",
            )
        # Each process reads the announced version within a second; then every request of the
        # round is served by ``mode`` (the black box round checks each final line's side).
        time.sleep(MODE_REACHES_EVERY_PROCESS_S)

    def chaos(self, **chaos: float) -> None:
        """The simulator's failure and hang rates, changed while it runs."""
        request = urllib.request.Request(  # noqa: S310  (the simulator's own http URL)
            f"{self.supplier_url}/_admin/chaos",
            data=json.dumps(chaos).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (our own URL)
            response.read()

    def ledger(self) -> list[dict[str, Any]]:
        dispatches: list[dict[str, Any]] = get_json(f"{self.supplier_url}/v1/ledger")["dispatches"]
        return dispatches

    def breaker_state(self) -> str:
        """The supplier breaker's state as ``/readyz`` reports it (shared through Redis)."""
        try:
            with urllib.request.urlopen(f"{self.web}/readyz", timeout=5) as response:  # noqa: S310
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
        except OSError:
            return "unknown"
        return breaker_state_from(body)


def breaker_state_from(readiness: Mapping[str, Any]) -> str:
    """``closed``, ``open`` or ``half_open`` out of a ``/readyz`` body; ``unknown`` without."""
    checks = readiness.get("checks", {})
    entry = checks.get("supplier_breaker") if isinstance(checks, Mapping) else None
    text = json.dumps(entry) if entry is not None else ""
    for state in ("half_open", "half-open", "open", "closed"):
        if state in text:
            return state.replace("-", "_")
    return "unknown"


def options(args: argparse.Namespace, *, orders: int) -> argparse.Namespace:
    """A run's options (bench/herd.py's) for the fight's system: ``WORKERS``, chaos on, stock
    for every order."""
    return argparse.Namespace(
        orders=orders,
        web_workers=2,
        worker=[worker_spec(raw) for raw in WORKERS],
        timeout=600.0,
        request_timeout=120.0,
        settle=0.0,
        chaos=True,
        skus=[SKU],
        worker_nice=10,
        floor_under_load=False,
        keep=args.keep,
        postgres=args.postgres.rstrip("/"),
        db_prefix=args.db_prefix,
        redis=args.redis,
        cache=args.cache,
    )


class Ring:
    """The arena, started on first use and stopped when the fight ends."""

    def __init__(self, args: argparse.Namespace, *, orders: int, extra: Mapping[str, str]) -> None:
        directory = Path(tempfile.mkdtemp(prefix="monolithos-bossfight-"))
        self.run = FightRun(options(args, orders=orders), directory)
        self.run.extra = dict(extra)
        self.processes = Processes(directory)
        self.stack = contextlib.ExitStack()
        self.arena: Arena | None = None
        self.failed = False
        self.closed = False

    def adopt_environment(self) -> None:
        """This process takes the system's settings before anything sets Django up."""
        os.environ.update(
            self.run.environment(settings=SETTINGS, web_port=0, supplier_url="http://127.0.0.1:9")
        )
        os.environ["LOG_LEVEL"] = "WARNING"  # the system's processes log; this one reports

    def __call__(self) -> Arena:
        if self.arena is None:
            self.arena = self._start()
        return self.arena

    def _start(self) -> Arena:
        import redis

        args = self.run.args
        names = list(self.run.databases.values())
        self.stack.enter_context(exclusive(args.postgres, [*names, args.redis, args.cache]))
        self.stack.callback(self._drop_databases)
        self.stack.callback(self.processes.stop)
        recreate_databases(args.postgres, names)
        redis.Redis.from_url(args.redis).flushdb()
        redis.Redis.from_url(args.cache).flushdb()
        print("starting the system ...", file=sys.stderr, flush=True)
        web_port, supplier_url = start_system(self.run, self.processes)
        token = setup_system_data(args.orders, args.skus)
        # The start-up gave this process the system's INFO level; its own lines (the mode
        # changes it makes) would fall between the progress bars.
        logging.disable(logging.INFO)
        env = self.run.environment(settings=SETTINGS, web_port=web_port, supplier_url=supplier_url)
        return Arena(self.run, self.processes, web_port, supplier_url, token, env)

    def _drop_databases(self) -> None:
        if not self.run.args.keep:
            with contextlib.suppress(Exception):
                recreate_databases(
                    self.run.args.postgres, list(self.run.databases.values()), create=False
                )

    def close(self) -> None:
        """Stop the system and drop its databases (once, however often it is called)."""
        self.stack.close()
        if self.closed:
            return
        self.closed = True
        if self.arena is not None and (self.run.args.keep or self.failed):
            print(f"run directory (logs, mails, PDFs): {self.run.directory}", file=sys.stderr)
        else:
            shutil.rmtree(self.run.directory, ignore_errors=True)


def restart_worker(arena: Arena, name: str, argv: list[str], env: Mapping[str, str]) -> None:
    """Start ``argv`` as process ``name`` and wait until every worker answers a ping again."""
    arena.processes.start(name, argv, dict(env))
    expected = sum(1 for entry in arena.processes.running if entry[0].startswith("worker"))
    wait_for("Celery workers", ping_workers(expected), arena.processes, 60)


def worker_argv(name: str, queues: str, run_id: str, *, pool: str = "prefork") -> list[str]:
    return [
        "nice", "-n", "10", sys.executable, "-m", "celery", "-A", "config", "worker",
        "-n", f"{name}-{run_id}@%h", "--queues", queues, "--concurrency", "1", "--pool", pool,
        "--without-gossip", "--without-mingle", "--loglevel", "INFO",
    ]  # fmt: skip


def trace_id() -> str:
    """A fresh W3C-shaped trace id (32 hex digits), sent as ``X-Request-ID``."""
    return uuid.uuid4().hex


def manage(arena: Arena, *command: str) -> str:
    return system_manage(arena.env, *command, timeout=120, tail=2000)
