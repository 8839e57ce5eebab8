"""The comparator: normalizers, volatile fields, unknowable values and declared differences."""

from __future__ import annotations

import json

from django.http import FileResponse, HttpResponse, JsonResponse

from config import strangled_routes as routes
from strangler.comparison import (
    Comparator,
    Observation,
    declared,
    numbers_masked_in,
    observe,
    without_csrf_tokens,
)

PLACED = {
    "id": 7,
    "number": "ORD-000007",
    "status": "shipped",
    "shipping_status": "dispatched",
    "tracking_number": "TRK-1",
    "supplier_reference": "SUP-1",
    "total": "49.35",
    "invoice": "/api/orders/7/invoice.pdf",
}
ACCEPTED = {
    **PLACED,
    "id": 8,
    "number": "ORD-000008",
    "invoice": "/api/orders/8/invoice.pdf",
    "status": "placed",
    "shipping_status": "pending",
    "tracking_number": None,
    "supplier_reference": None,
}


def compare(comparator: Comparator, control: Observation, candidate: Observation):
    return comparator.compare(comparator.clean(control), comparator.clean(candidate))


def test_equal_answers_match():
    answer = Observation(200, {"Content-Type": "application/json"}, {"a": 1})

    assert Comparator().compare(answer, answer).matched


def test_differences_are_named_part_by_part():
    comparison = Comparator().compare(
        Observation(200, {"Content-Type": "application/json"}, {"a": 1, "b": 2}),
        Observation(201, {"Content-Type": "text/html"}, {"a": 1, "b": 3, "c": 4}),
    )

    assert comparison.diff == {
        "http_status": [200, 201],
        "header.Content-Type": ["application/json", "text/html"],
        "body.b": [2, 3],
        "body.c": [None, 4],
    }


def test_volatile_fields_are_never_compared():
    comparator = Comparator(volatile=frozenset({"id", "number", "invoice"}))
    control = Observation(201, {}, {**PLACED})
    candidate = Observation(201, {}, {**PLACED, "id": 8, "number": "ORD-000008", "invoice": "x"})

    assert compare(comparator, control, candidate).matched


def test_placement_declares_the_order_answered_before_its_dispatch():
    comparison = compare(
        routes.PLACE_ORDER.comparator,
        Observation(201, {"Content-Type": "application/json"}, PLACED),
        Observation(201, {"Content-Type": "application/json"}, ACCEPTED),
    )

    assert comparison.matched
    assert comparison.declared == ("dispatched-by-the-worker",)


def test_a_declared_difference_does_not_hide_another_one():
    comparison = compare(
        routes.PLACE_ORDER.comparator,
        Observation(201, {}, PLACED),
        Observation(201, {}, {**ACCEPTED, "total": "49.36"}),
    )

    assert comparison.diff == {"body.total": ["49.35", "49.36"]}


def test_a_declared_difference_applies_only_to_the_values_it_declares():
    # The candidate says dispatched: not the declared "pending", so a real difference.
    comparison = compare(
        routes.PLACE_ORDER.comparator,
        Observation(201, {}, {**PLACED, "shipping_status": "dispatch_failed"}),
        Observation(201, {}, {**PLACED, "shipping_status": "dispatched"}),
    )

    assert comparison.diff == {"body.shipping_status": ["dispatch_failed", "dispatched"]}


def test_errors_are_compared_exactly():
    comparison = compare(
        routes.PLACE_ORDER.comparator,
        Observation(400, {}, {"error": "unknown sku: NOPE"}),
        Observation(400, {}, {"error": "unknown sku: nope"}),
    )

    assert comparison.diff == {"body.error": ["unknown sku: NOPE", "unknown sku: nope"]}


def test_an_unknowable_value_on_either_side_is_not_a_difference():
    comparator = routes.TRACK_ORDER.comparator
    known = Observation(200, {}, {"supplier_status": "accepted", "order": "ORD-1"})
    unknown = Observation(200, {}, {"supplier_status": "unknown", "order": "ORD-1"})
    other = Observation(200, {}, {"supplier_status": "delivered", "order": "ORD-1"})

    assert compare(comparator, known, unknown).matched
    assert compare(comparator, unknown, known).matched
    assert not compare(comparator, known, other).matched


def test_shipping_declares_the_worker_dispatch_and_its_failures():
    comparator = routes.SHIP_ORDER.comparator
    dispatched = Observation(200, {}, PLACED)
    handed_over = Observation(
        202, {}, {**ACCEPTED, "id": 7, "number": "ORD-000007", "invoice": PLACED["invoice"]}
    )
    supplier_failed = Observation(502, {}, {"error": "supplier error: 503"})

    assert compare(comparator, dispatched, handed_over).matched
    assert compare(comparator, supplier_failed, handed_over).declared == (
        "supplier-failures-are-the-workers",
    )
    refused = Observation(400, {}, {"error": "order ORD-000007 is already shipped"})
    assert not compare(comparator, refused, handed_over).matched


def test_html_forms_match_whatever_their_csrf_tokens_and_new_ids():
    comparator = Comparator(
        headers=("Location",), normalizers=(without_csrf_tokens, numbers_masked_in("Location"))
    )
    page = '<input type="hidden" name="csrfmiddlewaretoken" value="{}"><p>error</p>'

    assert compare(
        comparator,
        Observation(400, {}, page.format("abc")),
        Observation(400, {}, page.format("xyz")),
    ).matched
    assert compare(
        comparator,
        Observation(302, {"Location": "/orders/41/"}, ""),
        Observation(302, {"Location": "/orders/42/"}, ""),
    ).matched


def test_a_declared_rule_needs_both_statuses_it_names():
    rule = declared(
        "r", "d", parts=("http_status",), control_status=(200,), candidate_status=(202,)
    )

    assert rule.applies(Observation(200), Observation(202))
    assert not rule.applies(Observation(201), Observation(202))
    assert not rule.applies(Observation(200), Observation(200))


def test_an_observation_parses_json_keeps_text_and_never_reads_a_file(tmp_path):
    path = tmp_path / "invoice.pdf"
    path.write_bytes(b"%PDF-1.7 ...")
    streamed = FileResponse(path.open("rb"), content_type="application/pdf")

    assert observe(JsonResponse({"a": 1}), ("Content-Type",)).body == {"a": 1}
    assert observe(HttpResponse("<p>hi</p>"), ()).body == "<p>hi</p>"
    file = observe(streamed, ("Content-Type",))
    assert (file.status, file.headers, file.body) == (
        200,
        {"Content-Type": "application/pdf"},
        None,
    )
    assert b"".join(streamed.streaming_content) == b"%PDF-1.7 ..."  # type: ignore[arg-type]  # still there for the client
    assert json.dumps(observe(JsonResponse({"a": 1}), ()).as_json())
