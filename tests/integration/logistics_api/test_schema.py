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
    response = client.get(reverse("api_docs"))

    assert response.status_code == 200
    assert reverse("api_schema") in response.content.decode()
