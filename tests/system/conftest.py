"""The system as `make run` starts it, on free ports in a temporary directory.

gunicorn (with config/gunicorn.py) and the supplier simulator run as real processes; Celery
workers and beat when a test asks for them. The databases are SQLite files in the temporary
directory or, for tests that ask, fresh PostgreSQL databases when the suite itself runs on
PostgreSQL (CI); the
broker is Redis when REDIS_URL is set (CI), else the filesystem transport. Tests talk HTTP, and
read state through ``query`` (a Django shell in the system's environment). Starting, waiting
for and stopping processes is the benchmarks' harness (bench/harness/processes.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.harness.processes import (
    Processes,
    TimedOut,
    answers,
    free_port,
    start_in_session,
    stop_group,
    wait_until,
)
from bench.harness.system import gunicorn_argv, manage, recreate_databases, supplier_argv
from tests.conftest import ROOT, SupplierSimulator

SERVICE_VARIABLES = {
    "DATABASE_URL",
    "LOGISTICS_DATABASE_URL",
    "DJANGO_ENV",
    "SUPPLIER_API_URL",
    "PROMETHEUS_MULTIPROC_DIR",
}


SYSTEM_DATABASE_SUFFIX = "_system"


def system_databases() -> dict[str, str]:
    """Fresh PostgreSQL databases beside the suite's own, when the suite runs on PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return {}
    base, _, name = url.rpartition("/")
    urls = {
        "DATABASE_URL": f"{base}/{name}{SYSTEM_DATABASE_SUFFIX}",
        "LOGISTICS_DATABASE_URL": f"{base}/{name}{SYSTEM_DATABASE_SUFFIX}_logistics",
    }
    recreate_databases(base, [database.rpartition("/")[2] for database in urls.values()])
    return urls


@dataclass(frozen=True)
class RunningSystem:
    web: str
    supplier: SupplierSimulator
    var_dir: Path
    web_pid: int
    env: dict[str, str]


def http(
    url: str, method: str = "GET", body: dict[str, Any] | None = None, timeout: float = 30
) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_up(url: str, processes: Processes) -> None:
    """``url`` answers within 30 s, while every process of the system still runs."""
    wait_until(
        lambda: answers(url, timeout=5),  # a first request may be slow
        timeout=30,
        message=f"{url} did not answer within 30 s",
        interval=0.1,
        check=processes.check,
    )


@contextmanager
def start_system(
    var_dir: Path,
    *,
    workers: int,
    extra_env: dict[str, str] | None = None,
    suite_database: bool = False,
    web_log: Path | None = None,
) -> Iterator[RunningSystem]:
    """The system on the embedded defaults, or (suite_database) on the suite's kind of database.

    gunicorn's output (its own lines and the app's log) goes to ``web_log`` when given.
    """
    web_port, supplier_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env.update(
        # Scripts run from another directory (tests/system/slow_render_worker.py) import this
        # checkout's code, whatever an installed copy points at.
        PYTHONPATH=str(ROOT),
        MONOLITHOS_VAR_DIR=str(var_dir),
        SUPPLIER_API_URL=f"http://127.0.0.1:{supplier_port}",
        GUNICORN_BIND=f"127.0.0.1:{web_port}",
        WEB_CONCURRENCY=str(workers),
        LOG_LEVEL="WARNING",
        **(system_databases() if suite_database else {}),
    )
    env.update(extra_env or {})
    for command in (
        ["migrate", "--database", "default"],
        ["migrate", "--database", "logistics"],
        ["seed_demo"],
    ):
        manage(env, *command, timeout=120)
    processes = Processes(var_dir / "process-logs")
    processes.log_dir.mkdir(parents=True, exist_ok=True)
    processes.start("supplier", supplier_argv(supplier_port, chaos=False, seed=1), env)
    web = processes.start("web", gunicorn_argv(), env, log=web_log)
    try:
        wait_until_up(f"http://127.0.0.1:{supplier_port}/health", processes)
        wait_until_up(f"http://127.0.0.1:{web_port}/healthz", processes)
        yield RunningSystem(
            web=f"http://127.0.0.1:{web_port}",
            supplier=SupplierSimulator(f"http://127.0.0.1:{supplier_port}"),
            var_dir=var_dir,
            web_pid=web.pid,
            env=env,
        )
    finally:
        processes.stop()


def query(system: RunningSystem, code: str) -> Any:
    """Run ``code`` (it must assign ``result``) with Django set up in the system's environment."""
    script = f"import django, json\ndjango.setup()\n{code}\nprint(json.dumps(result))"
    output = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT, env=system.env, check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    return json.loads(output.splitlines()[-1])


def api_token(system: RunningSystem) -> str:
    """The admin's API token (made on first use), as ``manage.py drf_create_token`` prints it."""
    output = subprocess.run(
        [sys.executable, "manage.py", "drf_create_token", "admin"],
        cwd=ROOT, env=system.env, check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    return output.split()[2]


def purge_queues(system: RunningSystem) -> None:
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "purge", "--force",
         "--queues", "intake,logistics,invoices,notifications"],
        cwd=ROOT, env=system.env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@contextmanager
def session_process(
    system: RunningSystem, log: Path, argv: list[str]
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` in the system's environment at LOG_LEVEL INFO, in a session of its own, logging
    to ``log``; stopped with its children (SIGTERM, then SIGKILL) unless the caller did."""
    with log.open("w") as output:
        process = start_in_session(argv, {**system.env, "LOG_LEVEL": "INFO"}, output)
        try:
            yield process
        finally:
            stop_group(process)


def celery_process(
    system: RunningSystem, log: Path, command: list[str]
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """A worker or beat (``command`` after ``celery -A config``), logging to ``log``."""
    return session_process(system, log, [sys.executable, "-m", "celery", "-A", "config", *command])


def intake_worker_process(
    system: RunningSystem, log: Path
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """``manage.py intake_worker`` (the Procfile's ``intake``), logging to ``log``; the caller
    stops it (SIGTERM to its session) and reads how it ended."""
    return session_process(system, log, [sys.executable, "manage.py", "intake_worker"])


def json_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line[:1] == "{"]


def wait_for(condition: Any, *, timeout: float, describe: Any = "") -> None:
    try:
        wait_until(
            condition,
            timeout=timeout,
            message=lambda: (
                f"not reached within {timeout} s: {describe() if callable(describe) else describe}"
            ),
        )
    except TimedOut as timed_out:
        pytest.fail(str(timed_out))
