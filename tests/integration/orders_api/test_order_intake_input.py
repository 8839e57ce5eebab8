"""POST /api/v1/orders/ takes JSON as it is typed and only text that can be stored: else a 400
naming the field, before anything is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from monolithos.models import OrderRequest
from tests.integration.test_order_intake_api import URL, order_body, shop_account

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    client.force_authenticate(shop_account("webshop"))
    return client


CONTROL = ["Must not contain control characters."]
NOT_AN_INTEGER = {"lines": {"0": {"quantity": ["Must be an integer."]}}}


def line(quantity: Any = 1, sku: Any = "BOX-S") -> dict[str, Any]:
    return {"lines": [{"sku": sku, "quantity": quantity}]}


def too_long(limit: int) -> list[str]:
    return [f"Ensure this field has no more than {limit} characters."]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        (line("3"), NOT_AN_INTEGER),
        (line(3.0), NOT_AN_INTEGER),
        (line(True), NOT_AN_INTEGER),
        (
            line(0),
            {"lines": {"0": {"quantity": ["Ensure this value is greater than or equal to 1."]}}},
        ),
        (line(sku=12), {"lines": {"0": {"sku": ["Must be a string."]}}}),
        ({"customer_name": 42}, {"customer_name": ["Must be a string."]}),
        ({"customer_email": 42}, {"customer_email": ["Enter a valid email address."]}),
        ({"lines": []}, {"lines": ["Ensure this field has at least 1 elements."]}),
        ({"customer_name": "Ada\x1b[2J"}, {"customer_name": CONTROL}),
        ({"customer_name": "Ada\nLovelace"}, {"customer_name": CONTROL}),
        ({"shipping_address": "1 Row\x07"}, {"shipping_address": CONTROL}),
        ({"customer_email": '"\x01"@example.com'}, {"customer_email": CONTROL}),
        (line(sku="BOX\x01"), {"lines": {"0": {"sku": CONTROL}}}),
        ({"customer_name": "x" * 201}, {"customer_name": too_long(200)}),
        ({"shipping_address": "x" * 2001}, {"shipping_address": too_long(2000)}),
    ],
)
def test_a_value_of_the_wrong_type_or_with_control_characters_is_refused(
    api: APIClient, overrides: dict[str, Any], fields: dict[str, Any]
) -> None:
    response = api.post(URL, order_body(**overrides), format="json")

    assert response.status_code == 400
    assert response.json() == {"message": "Invalid input.", "extra": {"fields": fields}}
    assert not OrderRequest.objects.exists()


def test_an_address_keeps_its_line_breaks_and_tabs(api: APIClient) -> None:
    from tests.factories import ProductFactory

    ProductFactory(sku="BOX-S", stock=10)
    address = "12 Analytical Row\r\n\tLondon"

    response = api.post(URL, order_body(shipping_address=address), format="json")

    assert response.status_code == 202
    assert OrderRequest.objects.get().payload["shipping_address"] == address


@pytest.mark.parametrize("key", ["", " ", "a b", "k\x01", "k" * 256])
def test_an_idempotency_key_that_is_not_a_printable_token_is_refused(
    api: APIClient, key: str
) -> None:
    response = api.post(URL, order_body(), format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {
        "Idempotency-Key": ["must be 1 to 255 printable ASCII characters"]
    }


def test_json_nested_too_deeply_is_a_400_not_a_500(api: APIClient) -> None:
    response = api.post(URL, "[" * 5000, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"message": "JSON parse error - nested too deeply", "extra": {}}


def test_a_body_over_the_limit_is_a_413_in_the_api_error_body(api: APIClient) -> None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps(order_body(shipping_address="x" * limit))

    response = api.post(URL, body, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {
        "message": f"The request body is too large: at most {limit} bytes.",
        "extra": {"max_bytes": limit},
    }
    assert not OrderRequest.objects.exists()


def test_a_valid_body_is_accepted_without_the_serializer_and_an_invalid_one_answered_by_it(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monolithos.api import OrderAcceptApi
    from tests.factories import ProductFactory

    ProductFactory(sku="BOX-S", stock=10)
    validated: list[object] = []

    class Counted(OrderAcceptApi.InputSerializer):
        def is_valid(self, *, raise_exception: bool = False) -> bool:
            validated.append(self.initial_data)
            return super().is_valid(raise_exception=raise_exception)

    monkeypatch.setattr(OrderAcceptApi, "InputSerializer", Counted)

    accepted = api.post(URL, order_body(customer_name="  Ada  "), format="json")
    refused = api.post(URL, order_body(customer_name="Ada\x1b"), format="json")

    assert accepted.status_code == 202
    assert OrderRequest.objects.get().payload["customer_name"] == "Ada"
    assert refused.status_code == 400
    assert refused.json()["extra"]["fields"] == {"customer_name": CONTROL}
    assert validated == [order_body(customer_name="Ada\x1b")]
