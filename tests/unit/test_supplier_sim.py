"""The supplier simulator's HTTP contract, driven in-process over real sockets.

Each test gets its own server on an ephemeral port so chaos settings never leak between tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from supplier_sim.config import ChaosConfig, build_parser, resolve_settings
from supplier_sim.server import SupplierServer, make_server

ROOT = Path(__file__).resolve().parents[2]

ORDER = {
    "order_ref": "ORD-1",
    "destination": "Rotterdam",
    "items": [{"sku": "BOLT-10", "quantity": 4}],
}


@dataclass
class Response:
    status: int
    headers: Message
    body: Any


def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 2.0,
) -> Response:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Response(response.status, response.headers, json.loads(response.read()))
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, error.headers, json.loads(error.read()))


Start = Callable[..., str]


@pytest.fixture
def start() -> Iterator[Start]:
    """Start a simulator with the given chaos (well-behaved and seeded unless told otherwise)."""
    servers: list[SupplierServer] = []

    def _start(**chaos: Any) -> str:
        settings = {"failure_rate": 0.0, "hang_rate": 0.0, "hang_seconds": 0.0, "seed": 7, **chaos}
        server = make_server("127.0.0.1", 0, ChaosConfig(**settings))
        servers.append(server)
        # A short poll interval keeps shutdown() from adding half a second per test.
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        thread.start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield _start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sim(start: Start) -> str:
    return start()


def ledger(base: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = call(base, "GET", "/v1/ledger").body["dispatches"]
    return result


def received(base: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = call(base, "GET", "/_admin/requests").body["requests"]
    return result


def test_health_answers_ok_in_json(sim: str) -> None:
    response = call(sim, "GET", "/health")

    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.body == {"status": "ok"}


def test_new_dispatch_is_accepted_with_sequential_reference_and_derived_tracking(sim: str) -> None:
    response = call(sim, "POST", "/v1/dispatches", ORDER, headers={"Idempotency-Key": "k-1"})

    assert response.status == 201
    dispatch = response.body
    expected_tracking = hashlib.sha256(b"7:SUP-000001").hexdigest()[:10].upper()
    assert dispatch["supplier_reference"] == "SUP-000001"
    assert dispatch["tracking_number"] == "TRK" + expected_tracking
    assert dispatch["status"] == "accepted"
    assert dispatch["order_ref"] == "ORD-1"
    assert dispatch["destination"] == "Rotterdam"
    assert dispatch["items"] == [{"sku": "BOLT-10", "quantity": 4}]
    assert dispatch["idempotency_key"] == "k-1"
    assert datetime.fromisoformat(dispatch["created_at"]).utcoffset() == timedelta(0)
    assert call(sim, "GET", "/v1/dispatches/SUP-000001").body == dispatch


def test_same_key_and_body_replays_the_original_without_a_second_dispatch(sim: str) -> None:
    first = call(sim, "POST", "/v1/dispatches", ORDER, headers={"Idempotency-Key": "k-1"})
    # Same content with keys in another order is still the same request.
    reordered = dict(reversed(list(ORDER.items())))
    replay = call(sim, "POST", "/v1/dispatches", reordered, headers={"Idempotency-Key": "k-1"})

    assert replay.status == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.body == first.body
    assert first.headers["Idempotent-Replayed"] is None
    assert [d["supplier_reference"] for d in ledger(sim)] == ["SUP-000001"]


def test_concurrent_requests_with_one_key_create_one_dispatch(sim: str) -> None:
    def post() -> Response:
        return call(sim, "POST", "/v1/dispatches", ORDER, headers={"Idempotency-Key": "k-race"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: post(), range(8)))

    assert sorted(r.status for r in responses) == [200] * 7 + [201]
    assert {r.body["supplier_reference"] for r in responses} == {"SUP-000001"}
    assert len(ledger(sim)) == 1


def test_same_key_with_a_different_body_is_rejected(sim: str) -> None:
    call(sim, "POST", "/v1/dispatches", ORDER, headers={"Idempotency-Key": "k-1"})
    other = {**ORDER, "destination": "Hamburg"}

    response = call(sim, "POST", "/v1/dispatches", other, headers={"Idempotency-Key": "k-1"})

    assert response.status == 422
    assert response.body == {"error": "idempotency key reused with a different request"}
    assert len(ledger(sim)) == 1


def test_without_a_key_every_post_creates_a_new_dispatch(sim: str) -> None:
    first = call(sim, "POST", "/v1/dispatches", ORDER)
    second = call(sim, "POST", "/v1/dispatches", ORDER)

    assert (first.status, second.status) == (201, 201)
    assert first.body["idempotency_key"] is None
    assert [d["supplier_reference"] for d in ledger(sim)] == ["SUP-000001", "SUP-000002"]


@pytest.mark.parametrize(
    ("body", "headers", "fields"),
    [
        ({}, {}, {"order_ref", "destination", "items"}),
        ({**ORDER, "order_ref": ""}, {}, {"order_ref"}),
        ({**ORDER, "destination": 12}, {}, {"destination"}),
        ({**ORDER, "items": []}, {}, {"items"}),
        (
            {**ORDER, "items": [{"sku": "", "quantity": 0}]},
            {},
            {"items[0].sku", "items[0].quantity"},
        ),
        ({**ORDER, "items": [{"sku": "A", "quantity": True}]}, {}, {"items[0].quantity"}),
        ({**ORDER, "items": ["A"]}, {}, {"items[0]"}),
        ([ORDER], {}, {"body"}),
        (ORDER, {"Idempotency-Key": "k" * 256}, {"Idempotency-Key"}),
    ],
)
def test_invalid_dispatch_is_rejected_field_by_field(
    sim: str, body: Any, headers: dict[str, str], fields: set[str]
) -> None:
    response = call(sim, "POST", "/v1/dispatches", body, headers=headers)

    assert response.status == 400
    assert response.body["error"] == "invalid request"
    assert set(response.body["fields"]) == fields
    assert ledger(sim) == []


def test_malformed_json_is_rejected(sim: str) -> None:
    response = call(sim, "POST", "/v1/dispatches", raw=b'{"order_ref": ')

    assert response.status == 400
    assert response.body == {"error": "malformed JSON"}


def test_unknown_dispatch_paths_and_methods(sim: str) -> None:
    assert call(sim, "GET", "/v1/dispatches/SUP-999999").body == {"error": "dispatch not found"}
    assert call(sim, "GET", "/nowhere").status == 404
    wrong_method = call(sim, "DELETE", "/v1/quotes")
    assert wrong_method.status == 405
    assert wrong_method.headers["Allow"] == "GET"


def test_quotes_are_deterministic_per_sku_and_quantity(start: Start) -> None:
    one, another = start(seed=1), start(seed=2)

    quote = call(one, "GET", "/v1/quotes?sku=BOLT-10&quantity=3").body

    assert call(another, "GET", "/v1/quotes?sku=BOLT-10&quantity=3").body == quote
    assert quote["sku"] == "BOLT-10"
    assert quote["quantity"] == 3
    assert quote["currency"] == "EUR"
    assert quote["shipping_cost"] == "4.25"
    assert 1.0 <= float(quote["unit_cost"]) <= 99.99
    assert quote["unit_cost"] == f"{float(quote['unit_cost']):.2f}"
    assert 1 <= quote["lead_time_days"] <= 7
    default_quantity = call(one, "GET", "/v1/quotes?sku=BOLT-10").body
    assert default_quantity["quantity"] == 1
    assert default_quantity["unit_cost"] == quote["unit_cost"]
    assert call(one, "GET", "/v1/quotes?sku=NUT-5").body["unit_cost"] != quote["unit_cost"]


@pytest.mark.parametrize(
    ("query", "fields"),
    [("", {"sku"}), ("?sku=A&quantity=0", {"quantity"}), ("?sku=A&quantity=2.5", {"quantity"})],
)
def test_invalid_quote_queries_are_rejected(sim: str, query: str, fields: set[str]) -> None:
    response = call(sim, "GET", "/v1/quotes" + query)

    assert response.status == 400
    assert set(response.body["fields"]) == fields


def test_a_failing_supplier_answers_503_and_records_nothing(start: Start) -> None:
    sim = start(failure_rate=1.0)

    response = call(sim, "POST", "/v1/dispatches", ORDER, headers={"Idempotency-Key": "k-1"})

    assert response.status == 503
    assert response.body == {"error": "supplier unavailable"}
    # Even an invalid body fails with 503: the supplier is down before it reads anything.
    assert call(sim, "POST", "/v1/dispatches", raw=b"not json").status == 503
    assert call(sim, "GET", "/v1/quotes?sku=A").status == 503
    assert call(sim, "GET", "/health").status == 200
    assert ledger(sim) == []
    assert [(r["outcome"], r["status"]) for r in received(sim)] == [("failed", 503)] * 3


def test_a_hanging_supplier_still_records_the_dispatch(start: Start) -> None:
    sim = start(hang_rate=1.0, hang_seconds=0.3)
    key = {"Idempotency-Key": "k-hang"}

    with pytest.raises((TimeoutError, urllib.error.URLError)):
        call(sim, "POST", "/v1/dispatches", ORDER, headers=key, timeout=0.1)

    # Visible while still hanging: the work is done, only the answer is late.
    [entry] = received(sim)
    assert (entry["outcome"], entry["status"]) == ("hung", 201)
    [dispatch] = ledger(sim)
    call(sim, "PUT", "/_admin/chaos", {"hang_rate": 0.0})
    retry = call(sim, "POST", "/v1/dispatches", ORDER, headers=key)
    assert retry.status == 200
    assert retry.body["supplier_reference"] == dispatch["supplier_reference"]
    assert len(ledger(sim)) == 1


def outcomes(base: str, count: int = 20) -> list[int]:
    return [call(base, "GET", "/v1/quotes?sku=A").status for _ in range(count)]


def test_the_same_seed_gives_the_same_sequence_of_outcomes(start: Start) -> None:
    first = outcomes(start(seed=42, failure_rate=0.5))
    second = outcomes(start(seed=42, failure_rate=0.5))
    other_seed = outcomes(start(seed=43, failure_rate=0.5))

    assert first == second
    assert set(first) == {200, 503}
    assert other_seed != first


def test_chaos_can_be_changed_at_runtime(start: Start) -> None:
    sim = start(seed=1)
    reference = outcomes(start(seed=42, failure_rate=0.5))

    assert call(sim, "GET", "/_admin/chaos").body == {
        "failure_rate": 0.0,
        "hang_rate": 0.0,
        "hang_seconds": 0.0,
        "seed": 1,
    }
    update = call(sim, "PUT", "/_admin/chaos", {"failure_rate": 0.5, "seed": 42})
    assert update.status == 200
    assert update.body == {"failure_rate": 0.5, "hang_rate": 0.0, "hang_seconds": 0.0, "seed": 42}
    # Re-seeding restarts the outcome sequence from the beginning.
    assert outcomes(sim) == reference

    bad = call(sim, "PUT", "/_admin/chaos", {"hang_rate": 1.5, "hang_seconds": -1, "bogus": 1})
    assert bad.status == 400
    assert set(bad.body["fields"]) == {"hang_rate", "hang_seconds", "bogus"}
    assert call(sim, "GET", "/_admin/chaos").body["hang_rate"] == 0.0


def test_request_log_records_supplier_calls_with_all_headers(sim: str) -> None:
    call(sim, "GET", "/health")
    call(sim, "GET", "/v1/ledger")
    call(
        sim,
        "POST",
        "/v1/dispatches",
        ORDER,
        headers={"Idempotency-Key": "k-1", "X-Request-ID": "req-1"},
    )
    call(sim, "GET", "/v1/quotes?sku=A&quantity=2")
    call(sim, "POST", "/v1/dispatches", raw=b"{oops")

    dispatch, quote, malformed = received(sim)

    assert dispatch["seq"] == 1
    assert (dispatch["method"], dispatch["path"]) == ("POST", "/v1/dispatches")
    assert dispatch["headers"]["idempotency-key"] == "k-1"
    assert dispatch["headers"]["x-request-id"] == "req-1"
    assert dispatch["headers"]["content-type"] == "application/json"
    assert dispatch["body"] == ORDER
    assert (dispatch["outcome"], dispatch["status"]) == ("ok", 201)
    assert quote["query"] == {"sku": "A", "quantity": "2"}
    assert quote["body"] is None
    assert (malformed["seq"], malformed["body"], malformed["status"]) == (3, None, 400)


def test_reset_forgets_everything_and_restarts_the_sequence(sim: str) -> None:
    call(sim, "POST", "/v1/dispatches", ORDER, headers={"Idempotency-Key": "k-1"})
    call(sim, "POST", "/v1/dispatches", ORDER)

    assert call(sim, "POST", "/_admin/reset").body == {"status": "reset"}

    assert ledger(sim) == []
    assert received(sim) == []
    # The key is forgotten too, so this is a new dispatch rather than a replay or a conflict.
    again = call(sim, "POST", "/v1/dispatches", ORDER, headers={"Idempotency-Key": "k-1"})
    assert again.status == 201
    assert again.body["supplier_reference"] == "SUP-000001"


def test_settings_prefer_cli_over_env_over_defaults() -> None:
    parser = build_parser()
    env = {"SUPPLIER_SIM_FAILURE_RATE": "0.2", "SUPPLIER_SIM_PORT": "9000", "SUPPLIER_SIM_SEED": ""}

    settings = resolve_settings(parser.parse_args(["--failure-rate", "0.7"]), env)

    assert settings.chaos == ChaosConfig(failure_rate=0.7, hang_rate=0.1, hang_seconds=5.0)
    assert (settings.host, settings.port) == ("127.0.0.1", 9000)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supplier_sim", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=10,
    )


def test_cli_rejects_an_invalid_rate_with_exit_status_2() -> None:
    from_flag = run_cli("--failure-rate", "2")
    from_env = run_cli(env={"SUPPLIER_SIM_HANG_RATE": "-0.1"})

    assert from_flag.returncode == 2
    assert "--failure-rate: must be within [0, 1]" in from_flag.stderr
    assert from_env.returncode == 2
    assert "SUPPLIER_SIM_HANG_RATE: must be within [0, 1]" in from_env.stderr


def test_cli_serves_until_sigterm_then_exits_cleanly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "supplier_sim", "--port", "0", "--seed", "3"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        assert banner.startswith("supplier_sim listening on http://127.0.0.1:")
        assert banner.rstrip().endswith("(failure_rate=0.5 hang_rate=0.1 hang_seconds=5.0 seed=3)")
        url = banner.split()[3]
        assert call(url, "GET", "/health").status == 200
        # The handler logs after answering: wait for its line before stopping the process.
        assert "GET /health 200" in process.stderr.readline()

        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0
    assert rest.strip().endswith("supplier_sim stopped")


def test_the_root_lists_every_endpoint(start: Start):
    response = call(start(), "GET", "/")

    assert response.status == 200
    endpoints = {(tuple(e["methods"]), e["path"]) for e in response.body["endpoints"]}
    assert endpoints == {
        (("GET",), "/health"),
        (("POST",), "/v1/dispatches"),
        (("GET",), "/v1/dispatches/{reference}"),
        (("GET",), "/v1/quotes"),
        (("GET",), "/v1/ledger"),
        (("GET", "PUT"), "/_admin/chaos"),
        (("GET",), "/_admin/requests"),
        (("POST",), "/_admin/reset"),
    }
    assert all(e["summary"] for e in response.body["endpoints"])
