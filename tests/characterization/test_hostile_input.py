"""Hostile input to the legacy endpoints: a 400 (or 405, 413) in their own format, never a 500.

The bugs fixed in place (monolithos/LEGACY.md, "Bugs fixed in place"): a lone surrogate in any
text was a 500 on both databases, control characters (a terminal escape) were stored and put on
the shipping label, a body over the size limit was read whole and answered "malformed JSON",
``GET`` on a JSON route answered an empty HTML 405, and a NUL in the order list's filter was a
500 on PostgreSQL. Run in every strangler mode: legacy and new handlers answer alike.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from monolithos.models import Order
from tests.characterization.shop import order_payload, place
from tests.characterization.test_place_order_bad_input import assert_nothing_written

pytestmark = pytest.mark.simulator

# A JSON body with a lone surrogate, as a client's serializer can write it: json.dumps escapes it.
SURROGATE = '"\\ud800"'
CONTROL = "must not contain control characters"
LONE_SURROGATE = "must be valid Unicode text (it holds a lone surrogate)"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (order_payload(customer_name="Ada\x1b[2J"), f"customer_name {CONTROL}"),
        (order_payload(customer_name="Ada\nLovelace"), f"customer_name {CONTROL}"),
        (order_payload(shipping_address="1 Row\x07"), f"shipping_address {CONTROL}"),
        (order_payload(shipping_address="1\x85Row"), f"shipping_address {CONTROL}"),
        (order_payload(customer_email='"\x01"@example.com'), f"customer_email {CONTROL}"),
        (order_payload(customer_name="Ada\x00"), "customer_name must not contain NUL characters"),
    ],
)
def test_control_characters_in_text_answer_400_and_write_nothing(
    client, catalogue, supplier, mailoutbox, payload: dict[str, Any], error: str
):
    response = place(client, payload)

    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert_nothing_written(catalogue, supplier, mailoutbox)


@pytest.mark.parametrize(
    ("field", "error"),
    [
        ("customer_name", f"customer_name {LONE_SURROGATE}"),
        ("shipping_address", f"shipping_address {LONE_SURROGATE}"),
    ],
)
def test_a_lone_surrogate_answers_400_not_500(
    client, catalogue, supplier, mailoutbox, field: str, error: str
):
    body = json.dumps(order_payload(**{field: "__"})).replace('"__"', SURROGATE)

    response = place(client, body)

    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert_nothing_written(catalogue, supplier, mailoutbox)


def test_an_address_keeps_its_line_breaks_and_tabs(client, catalogue, supplier):
    response = place(client, order_payload(shipping_address="12 Analytical Row\r\n\tLondon"))

    assert response.status_code == 201
    assert Order.objects.get().shipping_address == "12 Analytical Row\r\n\tLondon"


def test_a_body_over_the_limit_answers_413_before_it_is_read(
    client, catalogue, supplier, mailoutbox
):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = place(client, order_payload(shipping_address="x" * limit))

    assert response.status_code == 413
    assert response.json() == {"error": f"The request body is too large: at most {limit} bytes."}
    assert_nothing_written(catalogue, supplier, mailoutbox)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/orders/"),
        ("post", "/api/orders/1/track/"),
        ("get", "/api/orders/1/ship/"),
        ("delete", "/api/orders/1/invoice.pdf"),
    ],
)
def test_a_json_route_answers_a_wrong_method_with_405_in_json(
    client: Client, db: None, method: str, url: str
):
    response = getattr(client, method)(url)

    assert response.status_code == 405
    assert response.json() == {"error": "method not allowed"}
    assert response["Allow"] in {"GET", "POST"}


def test_an_unknown_status_in_the_order_list_filter_lists_nothing(staff_client, placed_order):
    for status in ("\x00", "x" * 300, "nonsense"):
        response = staff_client.get("/orders/", {"status": status})

        assert response.status_code == 200
        assert placed_order.number not in response.content.decode()
