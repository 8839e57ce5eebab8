"""Every request: a trusted trace id, returned and logged, and exactly one final log line.

django-structlog's RequestMiddleware writes the lines; observability.request_log's hooks on its
signals bind the validated trace id and name the final line's fields (docs/adr/0018).
"""

from __future__ import annotations

import logging

import pytest
import structlog

from observability import trace
from tests.characterization.shop import order_payload
from tests.factories import ProductFactory, StaffUserFactory

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
FINAL_EVENTS = {"request_finished", "request_failed"}


def final_lines(log_lines):
    return [line for line in log_lines.all() if line.get("event") in FINAL_EVENTS]


@pytest.mark.django_db
@pytest.mark.simulator
def test_one_trace_id_from_the_request_through_every_log_line_to_the_supplier(
    client, supplier, log_lines
):
    ProductFactory(sku="PALLET", stock=10)

    response = client.post(
        "/api/orders/",
        data=order_payload(),
        content_type="application/json",
        HTTP_TRACEPARENT=TRACEPARENT,
    )

    assert response.status_code == 201
    assert response["X-Request-ID"] == TRACE_ID
    lines = log_lines.all()
    assert {line["event"] for line in lines} >= {
        "supplier_call",
        "order_placement",
        "request_finished",
    }
    assert {line.get("trace_id") for line in lines} == {TRACE_ID}
    [dispatch_call] = supplier.received()
    assert dispatch_call["headers"]["x-request-id"] == TRACE_ID
    assert dispatch_call["headers"]["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert dispatch_call["headers"]["traceparent"] != TRACEPARENT  # a new span for the call


@pytest.mark.django_db
def test_the_final_line_names_method_route_status_duration_and_user(client, log_lines):
    user = StaffUserFactory()
    client.force_login(user)

    client.get("/orders/?status=placed")

    [final] = final_lines(log_lines)
    assert final["event"] == "request_finished"
    assert (final["method"], final["route"], final["status"]) == (
        "GET",
        "monolithos:order_list",
        200,
    )
    assert final["duration_ms"] > 0
    assert final["user_id"] == user.pk


@pytest.mark.django_db
def test_a_raising_view_still_ends_with_one_final_line_with_status_500(client, settings, log_lines):
    settings.ROOT_URLCONF = "tests.integration.raising_urls"
    client.raise_request_exception = False

    response = client.get("/boom/", HTTP_X_REQUEST_ID=TRACE_ID)

    assert response.status_code == 500
    assert response["X-Request-ID"] == TRACE_ID
    [final] = final_lines(log_lines)
    assert final["event"] == "request_failed"
    assert (final["status"], final["route"], final["trace_id"]) == (500, "boom", TRACE_ID)
    assert "DeliberateFailure" in final["exception"]
    assert "ada@example.com" not in log_lines.raw


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        ({"path": "/orders/", "HTTP_HOST": "attacker.example"}, 400),  # DisallowedHost
        ({"path": "/no/such/page/"}, 404),
    ],
)
def test_requests_rejected_before_the_view_also_get_their_final_line(
    client, log_lines, request_kwargs, status
):
    response = client.get(**request_kwargs)

    assert response.status_code == status
    [final] = final_lines(log_lines)
    assert final["status"] == status
    assert final["trace_id"] == response["X-Request-ID"]


@pytest.mark.django_db
def test_a_csrf_rejection_gets_its_final_line(log_lines):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(StaffUserFactory())

    response = client.post("/orders/new/", {"customer_name": "x"})

    assert response.status_code == 403
    [final] = final_lines(log_lines)
    assert (final["status"], final["route"]) == (403, "monolithos:order_create")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "request_kwargs", "enforce_csrf", "expected"),
    [
        (
            "get",
            {"path": "/orders/", "HTTP_HOST": "attacker.example"},
            False,
            ("request_finished", "warning", "GET", "<unresolved>", 400),
        ),
        (
            "post",
            {"path": "/orders/new/", "data": {"customer_name": "x"}},
            True,
            ("request_finished", "warning", "POST", "monolithos:order_create", 403),
        ),
    ],
    ids=["DisallowedHost", "CSRF"],
)
def test_a_request_a_middleware_rejected_writes_exactly_one_line_and_it_is_the_final_one(
    log_lines, method, request_kwargs, enforce_csrf, expected
):
    from django.test import Client

    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(StaffUserFactory())

    response = getattr(client, method)(**request_kwargs)

    request_lines = [
        line for line in log_lines.all() if line["logger"] == "django_structlog.middlewares.request"
    ]
    [final] = request_lines  # no request_started beside it: that one is at DEBUG
    assert (
        final["event"],
        final["level"],
        final["method"],
        final["route"],
        final["status"],
    ) == expected
    assert final["duration_ms"] > 0
    assert final["trace_id"] == response["X-Request-ID"]
    assert "code" not in final and "request_id" not in final


@pytest.mark.django_db
def test_request_started_is_written_at_debug_only_and_the_final_line_stays_alone(client, log_lines):
    library_logger = logging.getLogger("django_structlog.middlewares.request")
    library_logger.setLevel(logging.DEBUG)
    try:
        response = client.get("/healthz")
    finally:
        library_logger.setLevel(logging.NOTSET)

    [started] = log_lines.events("request_started")
    assert started["level"] == "debug"
    assert started["trace_id"] == response["X-Request-ID"]
    [final] = final_lines(log_lines)
    assert final["event"] == "request_finished"


# What django-structlog would bind as the request id if it trusted the client
# (DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID, off), and never echoes.
UNTRUSTED_REQUEST_ID = "req-4711-from-the-client"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "host", "status"),
    [
        ("/healthz", "testserver", 200),
        ("/boom/", "testserver", 500),
        ("/boom/", "evil.example", 400),
    ],
    ids=["finished", "failed", "rejected"],
)
def test_an_untrusted_request_id_is_never_echoed_nor_bound(
    client, settings, log_lines, path, host, status
):
    settings.ROOT_URLCONF = "tests.integration.raising_urls"
    client.raise_request_exception = False

    response = client.get(path, HTTP_HOST=host, HTTP_X_REQUEST_ID=UNTRUSTED_REQUEST_ID)

    assert response.status_code == status
    trace_id = response["X-Request-ID"]
    assert trace.is_trace_id(trace_id)
    assert UNTRUSTED_REQUEST_ID not in log_lines.raw
    lines = log_lines.all()
    assert {line["trace_id"] for line in lines} == {trace_id}
    assert not [line for line in lines if "request_id" in line]  # nor the library's own id
    [final] = final_lines(log_lines)
    assert final["status"] == status


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"HTTP_TRACEPARENT": TRACEPARENT}, TRACE_ID),
        ({"HTTP_X_REQUEST_ID": TRACE_ID.upper()}, TRACE_ID),
        ({"HTTP_X_REQUEST_ID": "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"}, TRACE_ID),
        # traceparent wins over X-Request-ID.
        ({"HTTP_TRACEPARENT": TRACEPARENT, "HTTP_X_REQUEST_ID": "1" * 32}, TRACE_ID),
    ],
)
def test_a_valid_incoming_trace_id_is_kept(client, headers, expected):
    assert client.get("/healthz", **headers)["X-Request-ID"] == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_REQUEST_ID": "'; DROP TABLE orders; --"},
        {"HTTP_X_REQUEST_ID": "a" * 10_000},
        {"HTTP_X_REQUEST_ID": '\n{"forged": true}'},
        {"HTTP_TRACEPARENT": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
        {"HTTP_TRACEPARENT": f"00-{TRACE_ID}-0000000000000000-01"},
        {"HTTP_TRACEPARENT": "garbage"},
    ],
)
def test_a_malformed_or_oversized_trace_header_is_replaced_not_trusted(client, log_lines, headers):
    response = client.get("/healthz", **headers)

    replacement = response["X-Request-ID"]
    assert trace.is_trace_id(replacement)
    assert replacement != TRACE_ID
    assert {line["trace_id"] for line in log_lines.all()} == {replacement}
    assert log_lines.events("trace_header_replaced")
    for value in headers.values():
        assert value not in log_lines.raw


@pytest.mark.django_db
def test_without_a_trace_header_a_fresh_id_is_generated_per_request(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert trace.is_trace_id(first) and trace.is_trace_id(second)
    assert first != second


@pytest.mark.django_db
@pytest.mark.simulator
def test_order_logs_never_hold_emails_addresses_or_tokens(client, supplier, log_lines):
    ProductFactory(sku="PALLET", stock=10)

    client.post(
        "/api/orders/?token=s3cr3t&customer_email=ada@example.com",
        data=order_payload(),
        content_type="application/json",
    )
    structlog.get_logger("test").info(
        "customer_contact",
        customer_email="ada@example.com",
        shipping_address="12 Analytical Row",
        password="hunter2",
        headers={"Authorization": "Bearer abc.def"},
        note="reach ada@example.com",
    )

    raw = log_lines.raw
    for secret in ("ada@example.com", "12 Analytical Row", "hunter2", "abc.def", "s3cr3t"):
        assert secret not in raw
    [contact] = log_lines.events("customer_contact")
    assert contact["customer_email"] == "[masked]"
    assert contact["headers"] == {"Authorization": "[masked]"}
    assert contact["note"] == "reach [masked]"
    [final] = final_lines(log_lines)
    assert final["request"] == "POST /api/orders/?token=[masked]&customer_email=[masked]"


@pytest.mark.django_db
def test_nothing_bound_before_a_request_reaches_its_lines(client, log_lines):
    structlog.contextvars.bind_contextvars(side="new", shadow="mismatch")  # outside any request

    client.get("/healthz")

    [final] = final_lines(log_lines)
    assert "side" not in final and "shadow" not in final
    assert structlog.contextvars.get_contextvars() == {}  # and nothing is left after it
