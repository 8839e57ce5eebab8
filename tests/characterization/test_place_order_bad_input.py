"""Bad input to ``POST /api/orders/``: a clear 400, and nothing half-written anywhere."""

from __future__ import annotations

from typing import Any

import pytest

from monolithos.models import Customer, Invoice, Order, OrderLine, Product
from tests.characterization.shop import order_payload, place

pytestmark = pytest.mark.simulator


def assert_nothing_written(catalogue: dict[str, Any], supplier: Any, mailoutbox: list) -> None:
    assert Order.objects.count() == 0
    assert OrderLine.objects.count() == 0
    assert Invoice.objects.count() == 0
    assert Customer.objects.count() == 0
    assert {p.sku: p.stock for p in Product.objects.all()} == {
        sku: product.stock for sku, product in catalogue.items()
    }
    assert mailoutbox == []
    assert supplier.received() == []


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (order_payload(lines=[{"sku": "NOPE", "quantity": 1}]), "unknown sku: NOPE"),
        (order_payload(lines=[{"sku": "PALLET", "quantity": 0}]), "invalid quantity for PALLET"),
        (order_payload(lines=[{"sku": "PALLET", "quantity": -3}]), "invalid quantity for PALLET"),
        (order_payload(lines=[{"sku": "PALLET", "quantity": 1.5}]), "invalid quantity for PALLET"),
        (order_payload(lines=[{"sku": "PALLET", "quantity": "2"}]), "invalid quantity for PALLET"),
        (order_payload(lines=[{"sku": "PALLET", "quantity": True}]), "invalid quantity for PALLET"),
        (
            order_payload(lines=[{"sku": "SCALE", "quantity": 5}]),
            "insufficient stock for SCALE (requested 5, available 4)",
        ),
        # The same SKU on two lines is checked as one: 3 + 3 > 4.
        (
            order_payload(lines=[{"sku": "SCALE", "quantity": 3}, {"sku": "SCALE", "quantity": 3}]),
            "insufficient stock for SCALE (requested 6, available 4)",
        ),
        # A valid line before an invalid one must not be taken from stock.
        (
            order_payload(lines=[{"sku": "PALLET", "quantity": 1}, {"sku": "NOPE", "quantity": 1}]),
            "unknown sku: NOPE",
        ),
        (order_payload(lines=[]), "lines must be a non-empty list"),
        (order_payload(lines="PALLET"), "lines must be a non-empty list"),
        (order_payload(lines=["PALLET"]), "each line needs a sku and a quantity"),
        (order_payload(lines=[{"quantity": 1}]), "each line needs a sku and a quantity"),
        (
            order_payload(customer_email="not-an-email"),
            "customer_email is not a valid email address",
        ),
        (order_payload(customer_email=None), "customer_email is required"),
        (order_payload(customer_name="  "), "customer_name is required"),
        (order_payload(shipping_address=""), "shipping_address is required"),
        (order_payload(discount_code="FREEBIE"), "unknown discount code: FREEBIE"),
        (order_payload(discount_code=10), "discount_code must be a string"),
        ([order_payload()], "request body must be a JSON object"),
        ("{not json", "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        ("", "malformed JSON"),
    ],
)
def test_bad_input_answers_400_with_the_reason_and_writes_nothing(
    client, catalogue, supplier, mailoutbox, payload: Any, error: str
):
    response = place(client, payload)

    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert_nothing_written(catalogue, supplier, mailoutbox)


def test_ordering_exactly_the_remaining_stock_succeeds_and_empties_it(client, catalogue, supplier):
    response = place(client, order_payload(lines=[{"sku": "SCALE", "quantity": 4}]))

    assert response.status_code == 201
    assert Product.objects.get(sku="SCALE").stock == 0


def test_get_on_the_order_endpoint_is_not_allowed(client, catalogue):
    assert client.get("/api/orders/").status_code == 405
