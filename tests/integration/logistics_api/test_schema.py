"""The OpenAPI document and its Swagger UI: valid OpenAPI 3, every operation, errors documented."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


@pytest.fixture
def schema(client: Client) -> dict[str, Any]:
    response = client.get(reverse("api_schema"), {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    document: dict[str, Any] = response.json()
    return document


def test_the_schema_is_valid_openapi_3(schema: dict[str, Any]) -> None:
    validate_schema(schema)  # raises on any violation of the OpenAPI 3 JSON schema

    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Monolithos API"
    assert schema["info"]["version"] == "1.0.0"


def test_the_schema_lists_every_api_operation_and_nothing_else(schema: dict[str, Any]) -> None:
    operations = {
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    }

    assert operations == {
        ("GET", "/api/v1/shipments/"),
        ("GET", "/api/v1/shipments/{shipment_id}/"),
        ("POST", "/api/v1/shipments/{shipment_id}/dispatch/"),
        ("POST", "/api/v1/shipments/{shipment_id}/cancel/"),
        ("GET", "/api/v1/tracking/{order_ref}/"),
        ("POST", "/api/v1/orders/"),
        ("GET", "/api/v1/orders/requests/{request_id}/"),
        ("GET", "/api/v1/orders/{order_id}/"),
        ("GET", "/api/v1/orders/{order_id}/tracking/"),
        ("GET", "/api/v1/orders/{order_id}/invoice.pdf"),
    }


def test_the_schema_documents_outcomes_and_hides_contact_email(schema: dict[str, Any]) -> None:
    dispatch = schema["paths"]["/api/v1/shipments/{shipment_id}/dispatch/"]["post"]

    assert {"200", "202", "401", "403", "404", "409", "429"} <= set(dispatch["responses"])
    shipment = schema["components"]["schemas"]["Shipment"]
    assert "contact_email" not in shipment["properties"]
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"message", "extra"}
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_the_schema_documents_the_order_links_and_the_invoice_pdf(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    links = {"$ref": "#/components/schemas/OrderLinks"}

    assert set(components["OrderLinks"]["properties"]) == {
        "order",
        "tracking",
        "invoice",
        "shipment",
    }
    assert links in components["PlacedOrder"]["properties"]["links"]["allOf"]
    assert links in components["Order"]["properties"]["links"]["allOf"]
    invoice = schema["paths"]["/api/v1/orders/{order_id}/invoice.pdf"]["get"]["responses"]
    assert invoice["200"]["content"] == {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}}
    }
    assert {"202", "401", "404", "429"} <= set(invoice)


def test_the_swagger_ui_points_at_the_schema(client: Client) -> None:
    page = client.get(reverse("api_docs"))
    script = client.get(reverse("api_docs"), {"script": ""})

    assert page.status_code == script.status_code == 200
    assert reverse("api_schema") in script.content.decode()


def test_the_schema_names_every_component_and_has_one_error_body(schema: dict[str, Any]) -> None:
    components = set(schema["components"]["schemas"])

    assert not components & {"Input", "Output", "IntakeError", "OrderApiError"}
    assert {"NewOrder", "OrderLineInput", "Error"} <= components


def test_every_operation_documents_the_errors_any_request_can_meet(
    schema: dict[str, Any],
) -> None:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status in ("401", "429", "500"):
                assert operation["responses"][status]["content"] == error, (method, path, status)


def test_the_order_intake_schema_says_what_the_intake_enforces(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    order = components["NewOrder"]["properties"]
    line = components["OrderLineInput"]["properties"]
    intake = schema["paths"]["/api/v1/orders/"]["post"]

    assert order["customer_name"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
    }
    assert order["shipping_address"]["pattern"] == (
        "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )
    assert (order["shipping_address"]["minLength"], order["shipping_address"]["maxLength"]) == (
        1,
        2000,
    )
    assert (order["lines"]["minItems"], order["lines"]["maxItems"]) == (1, 100)
    assert line["quantity"] == {"type": "integer", "minimum": 1, "maximum": 100000}
    assert (line["sku"]["minLength"], line["sku"]["maxLength"]) == (1, 64)
    assert {"400", "413", "415", "422"} <= set(intake["responses"])


def test_the_shipment_list_documents_its_page_size_bounds(schema: dict[str, Any]) -> None:
    parameters = schema["paths"]["/api/v1/shipments/"]["get"]["parameters"]
    [page_size] = [p for p in parameters if p["name"] == "page_size"]

    assert page_size["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
