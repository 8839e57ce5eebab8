"""The whole system as `make run` starts it: gunicorn and the supplier simulator as real processes.

Runs on the embedded defaults in a temporary directory, whatever database the rest of the
suite uses, and talks to both processes over real HTTP only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from tests.system.conftest import RunningSystem, http, start_system


@pytest.fixture(scope="module")
def running_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with start_system(tmp_path_factory.mktemp("system"), workers=1) as system:
        yield system


def test_an_order_travels_from_the_web_shop_to_the_supplier_and_back(running_system):
    web, supplier = running_system.web, running_system.supplier

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
    assert (running_system.var_dir / "default.sqlite3").exists()
    assert (running_system.var_dir / "logistics.sqlite3").exists()


def test_the_admin_and_its_static_files_are_served(running_system):
    web = running_system.web

    login_status, login_page = http(f"{web}/admin/login/")
    css_status, _ = http(f"{web}/static/admin/css/base.css")

    assert (login_status, css_status) == (200, 200)
    assert b"Django administration" in login_page


def test_bad_input_over_real_http_is_a_400_not_a_500(running_system):
    status, body = http(f"{running_system.web}/api/orders/", "POST", {"lines": []})

    assert status == 400
    assert json.loads(body) == {"error": "customer_email is required"}


def test_the_breaker_command_opens_and_closes_the_running_web_processs_breaker(running_system):
    """On the embedded defaults: a command in its own process, the web's breaker obeying."""
    web, supplier = running_system.web, running_system.supplier
    order = {
        "customer_name": "Breaker Test",
        "customer_email": "breaker@example.com",
        "shipping_address": "1 Fuse Lane",
        "lines": [{"sku": "BOX-S", "quantity": 1}],
    }

    def breaker(*args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "breaker", *args],
            cwd=ROOT, env=running_system.env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    breaker("open", "--reason", "supplier maintenance")
    try:
        calls_before = len(supplier.received())
        status, body = http(f"{web}/api/orders/", "POST", order)
        assert (status, json.loads(body)["shipping_status"]) == (201, "dispatch_failed")
        assert len(supplier.received()) == calls_before  # refused without calling it
    finally:
        breaker("close", "--reason", "supplier back")
    status, body = http(f"{web}/api/orders/", "POST", order)
    assert (status, json.loads(body)["shipping_status"]) == (201, "dispatched")
