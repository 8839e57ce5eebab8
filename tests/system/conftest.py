"""The system as `make run` starts it, on free ports in a temporary directory.

gunicorn (with config/gunicorn.py) and the supplier simulator run as real processes; Celery
workers and beat when a test asks for them. The databases are SQLite files in the temporary
directory or, for tests that ask, fresh PostgreSQL databases when the suite itself runs on
PostgreSQL (CI); the
broker is Redis when REDIS_URL is set (CI), else the filesystem transport. Tests talk HTTP, and
read state through ``query`` (a Django shell in the system's environment).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import ROOT, SupplierSimulator, free_port

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
    import psycopg

    base, _, name = url.rpartition("/")
    urls = {
        "DATABASE_URL": f"{base}/{name}{SYSTEM_DATABASE_SUFFIX}",
        "LOGISTICS_DATABASE_URL": f"{base}/{name}{SYSTEM_DATABASE_SUFFIX}_logistics",
    }
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        for database in urls.values():
            database_name = database.rpartition("/")[2]
            admin.execute(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{database_name}"')
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


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"process for {url} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:  # refused, reset, or a first request slower than the timeout
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within 30 s")


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
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    supplier = subprocess.Popen(
        [sys.executable, "-m", "supplier_sim", "--port", str(supplier_port),
         "--failure-rate", "0", "--hang-rate", "0", "--seed", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    output: IO[bytes] | int = web_log.open("wb") if web_log else subprocess.DEVNULL
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
        cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{supplier_port}/health", supplier)
        wait_until_up(f"http://127.0.0.1:{web_port}/healthz", web)
        yield RunningSystem(
            web=f"http://127.0.0.1:{web_port}",
            supplier=SupplierSimulator(f"http://127.0.0.1:{supplier_port}"),
            var_dir=var_dir,
            web_pid=web.pid,
            env=env,
        )
    finally:
        for process in (web, supplier):
            process.terminate()
        for process in (web, supplier):
            process.wait(timeout=15)
        if not isinstance(output, int):
            output.close()


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
def celery_process(
    system: RunningSystem, log: Path, command: list[str]
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker or beat (``command`` after ``celery -A config``), logging to ``log``."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *command],
            cwd=ROOT, env={**system.env, "LOG_LEVEL": "INFO"}, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            yield process
        finally:
            stop(process)


@contextmanager
def intake_worker_process(system: RunningSystem, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``manage.py intake_worker`` (the Procfile's ``intake``), logging to ``log``; the caller
    stops it (SIGTERM to its session) and reads how it ended."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "intake_worker"],
            cwd=ROOT, env={**system.env, "LOG_LEVEL": "INFO"}, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            yield process
        finally:
            if process.poll() is None:
                stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and its children: SIGTERM, then SIGKILL.

    A Celery worker's warm shutdown can hang when its pool children got the SIGTERM too; what a
    test checks is done by then, so the group is killed instead of failing the test on it.
    """
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def json_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line[:1] == "{"]


def wait_for(condition: Any, *, timeout: float, describe: Any = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(
                f"not reached within {timeout} s: {describe() if callable(describe) else describe}"
            )
        time.sleep(0.5)
