"""The whole system as `make run` starts it: gunicorn and the supplier simulator as real processes.

Runs on the embedded defaults in a temporary directory, whatever database the rest of the
suite uses, and talks to both processes over real HTTP only.
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
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SupplierSimulator, free_port

SERVICE_VARIABLES = {"DATABASE_URL", "LOGISTICS_DATABASE_URL", "DJANGO_ENV", "SUPPLIER_API_URL"}


def http(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"process for {url} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within 30 s")


@pytest.fixture(scope="module")
def running_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    var_dir = tmp_path_factory.mktemp("system")
    web_port, supplier_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env.update(
        MONOLITHOS_VAR_DIR=str(var_dir),
        SUPPLIER_API_URL=f"http://127.0.0.1:{supplier_port}",
        GUNICORN_BIND=f"127.0.0.1:{web_port}",
        WEB_CONCURRENCY="1",
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
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supplier_sim",
                "--port",
                str(supplier_port),
                "--failure-rate",
                "0",
                "--hang-rate",
                "0",
                "--seed",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.py",
                "config.wsgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        wait_until_up(f"http://127.0.0.1:{supplier_port}/health", processes[0])
        wait_until_up(f"http://127.0.0.1:{web_port}/admin/login/", processes[1])
        yield {
            "web": f"http://127.0.0.1:{web_port}",
            "supplier": SupplierSimulator(f"http://127.0.0.1:{supplier_port}"),
            "var_dir": Path(var_dir),
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def test_an_order_travels_from_the_web_shop_to_the_supplier_and_back(running_system):
    web, supplier = running_system["web"], running_system["supplier"]

    status, body = http(
        f"{web}/api/orders/",
        "POST",
        {
            "customer_name": "System Test",
            "customer_email": "system@example.com",
            "shipping_address": "1 End-to-End Street",
            "lines": [{"sku": "PALLET-EUR", "quantity": 1}, {"sku": "BOX-M", "quantity": 10}],
        },
    )

    assert status == 201
    order = json.loads(body)
    [dispatch] = supplier.ledger()
    assert (order["shipping_status"], order["tracking_number"]) == (
        "dispatched",
        dispatch["tracking_number"],
    )
    status, track = http(f"{web}/api/orders/{order['id']}/track/")
    assert (status, json.loads(track)["supplier_status"]) == (200, "accepted")
    status, pdf = http(f"{web}{order['invoice']}")
    assert (status, pdf[:5]) == (200, b"%PDF-")
    assert (running_system["var_dir"] / "default.sqlite3").exists()
    assert (running_system["var_dir"] / "logistics.sqlite3").exists()


def test_the_admin_and_its_static_files_are_served(running_system):
    web = running_system["web"]

    login_status, login_page = http(f"{web}/admin/login/")
    css_status, _ = http(f"{web}/static/admin/css/base.css")

    assert (login_status, css_status) == (200, 200)
    assert b"Django administration" in login_page


def test_bad_input_over_real_http_is_a_400_not_a_500(running_system):
    status, body = http(f"{running_system['web']}/api/orders/", "POST", {"lines": []})

    assert status == 400
    assert json.loads(body) == {"error": "customer_email is required"}
