"""The trace id contract, as pure functions."""

from __future__ import annotations

import pytest

from observability import trace

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"00-{TRACE_ID}-00f067aa0ba902b7-01", TRACE_ID),
        (f"00-{TRACE_ID.upper()}-00F067AA0BA902B7-00", TRACE_ID),
        (f"01-{TRACE_ID}-00f067aa0ba902b7-01", TRACE_ID),  # a future version, same layout
        (f"ff-{TRACE_ID}-00f067aa0ba902b7-01", None),  # version ff is forbidden
        (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),
        (f"00-{TRACE_ID}-{'0' * 16}-01", None),
        (f"00-{TRACE_ID}-00f067aa0ba902b7", None),
        (f"00-{TRACE_ID[:-1]}g-00f067aa0ba902b7-01", None),
        ("x" * 1000, None),
        ("", None),
        (None, None),
    ],
)
def test_traceparent_parsing(header, expected):
    assert trace.trace_id_from_traceparent(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (TRACE_ID, TRACE_ID),
        ("4BF92F35-77B3-4DA6-A3CE-929D0E0E4736", TRACE_ID),
        ("req-123", None),
        ("0" * 32, None),
        (TRACE_ID + "00", None),
        (None, None),
    ],
)
def test_request_id_parsing(header, expected):
    assert trace.trace_id_from_request_id(header) == expected


def test_the_request_trace_id_says_where_it_came_from():
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    assert trace.trace_id_for_request(traceparent, "1" * 32) == (TRACE_ID, "traceparent")
    assert trace.trace_id_for_request(None, TRACE_ID) == (TRACE_ID, "x-request-id")
    generated, source = trace.trace_id_for_request(None, None)
    assert (trace.is_trace_id(generated), source) == (True, "generated")
    replaced, source = trace.trace_id_for_request("garbage", "nope")
    assert (trace.is_trace_id(replaced), source) == (True, "replaced")


def test_outbound_headers_carry_the_current_trace_with_a_new_span_each_call():
    assert trace.outbound_headers() == {}
    with trace.bound_trace_id(TRACE_ID):
        first, second = trace.outbound_headers(), trace.outbound_headers()

    assert first["X-Request-ID"] == TRACE_ID
    assert first["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert trace.trace_id_from_traceparent(first["traceparent"]) == TRACE_ID
    assert first["traceparent"] != second["traceparent"]
    assert trace.current_trace_id() is None


def test_task_headers_round_trip_and_refuse_forged_values():
    with trace.bound_trace_id(TRACE_ID):
        headers = trace.task_headers()

    assert trace.trace_id_from_task_headers(headers) == TRACE_ID
    assert trace.trace_id_from_task_headers({"trace_id": "forged"}) is None
    assert trace.trace_id_from_task_headers(None) is None


def test_bound_trace_id_generates_one_when_given_none_or_garbage():
    with trace.bound_trace_id() as generated:
        assert trace.current_trace_id() == generated
    with trace.bound_trace_id("garbage") as replaced:
        assert trace.is_trace_id(replaced)
    assert trace.current_trace_id() is None
