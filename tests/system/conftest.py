"""The system as `make run` starts it, on free ports in a temporary directory.

gunicorn (with config/gunicorn.py) and the supplier simulator run as real processes on the
embedded defaults, whatever database the rest of the suite uses; tests talk HTTP only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SupplierSimulator, free_port

SERVICE_VARIABLES = {
    "DATABASE_URL",
    "LOGISTICS_DATABASE_URL",
    "DJANGO_ENV",
    "SUPPLIER_API_URL",
    "PROMETHEUS_MULTIPROC_DIR",
}


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
    var_dir: Path, *, workers: int, extra_env: dict[str, str] | None = None
) -> Iterator[RunningSystem]:
    web_port, supplier_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env.update(
        MONOLITHOS_VAR_DIR=str(var_dir),
        SUPPLIER_API_URL=f"http://127.0.0.1:{supplier_port}",
        GUNICORN_BIND=f"127.0.0.1:{web_port}",
        WEB_CONCURRENCY=str(workers),
        LOG_LEVEL="WARNING",
        **(extra_env or {}),
    )
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
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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
