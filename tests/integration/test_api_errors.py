"""Under /api/ every error is JSON, in the documented body (``{"message", "extra"}``), or in
the legacy shop routes' own (``{"error"}``): whatever refused the request, Django or DRF."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import StaffUserFactory
from tests.integration.logistics_api.factories import token_for

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def api() -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(StaffUserFactory())}")
    return client


def error(message: str, **extra: Any) -> dict[str, Any]:
    return {"message": message, "extra": extra}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/shipments/null%2Cnull/",  # fails its converter (a UUID)
        "/api/v1/orders/first/",  # fails its converter (an integer)
        "/api/v1/no/such/thing/",
        "/api/elsewhere/",
    ],
)
def test_a_path_that_matches_no_route_is_a_json_404(api: APIClient, path: str) -> None:
    response = api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == error("Not found.")


def test_a_legacy_shop_path_that_matches_no_route_is_a_404_in_its_own_body(client: Client) -> None:
    response = client.get("/api/orders/first/track/")

    assert response.status_code == 404
    assert response.json() == {"error": "not found"}


def test_a_method_not_allowed_is_a_json_405_naming_the_allowed_ones(api: APIClient) -> None:
    response = api.delete("/api/v1/shipments/")

    assert response.status_code == 405
    assert response.json() == error('Method "DELETE" not allowed.')
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_a_body_that_is_not_json_is_a_json_415(api: APIClient) -> None:
    response = api.post("/api/v1/orders/", "lines=1", content_type="text/plain")

    assert response.status_code == 415
    assert response.json() == error('Unsupported media type "text/plain" in request.')


def test_a_body_over_the_limit_is_a_json_413_on_any_api_route(api: APIClient, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api.post("/api/v1/shipments/", "x" * 1025, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == error(
        "The request body is too large: at most 1024 bytes.", max_bytes=1024
    )


def test_a_caller_over_the_rate_is_a_json_429_saying_when_to_come_back(
    api: APIClient, settings
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "1/minute", "anon": "1/minute", "token_failures": None},
    }
    api.get("/api/v1/shipments/")

    response = api.get("/api/v1/shipments/")

    assert response.status_code == 429
    body = response.json()
    assert body["extra"]["retry_after"] == int(response["Retry-After"]) > 0
    assert body["message"].startswith("Request was throttled.")


@pytest.mark.parametrize("path", ["/api/v1/boom/", "/api/boom/"])
def test_a_bug_is_a_json_500_naming_the_request(api: APIClient, settings, path: str) -> None:
    settings.ROOT_URLCONF = "tests.integration.raising_api_urls"

    response = api.get(path, HTTP_X_REQUEST_ID=TRACE_ID)

    assert response.status_code == 500
    assert response.json() == error(
        f"Internal server error (request {TRACE_ID}).", request_id=TRACE_ID
    )


def test_a_bug_on_a_legacy_shop_path_is_a_500_in_its_own_body(client: Client, settings) -> None:
    settings.ROOT_URLCONF = "tests.integration.raising_api_urls"
    client.raise_request_exception = False

    response = client.get("/api/orders/boom/", HTTP_X_REQUEST_ID=TRACE_ID)

    assert response.status_code == 500
    assert response.json() == {"error": f"Internal server error (request {TRACE_ID})."}


def test_any_other_html_error_is_answered_again_in_json_with_its_headers(
    api: APIClient, settings
) -> None:
    settings.ROOT_URLCONF = "tests.integration.raising_api_urls"

    response = api.get("/api/v1/gone/")

    assert response.status_code == 410
    assert response.json() == error("Gone.")
    assert response["Retry-After"] == "60"


def test_a_request_for_another_host_is_a_json_400(api: APIClient) -> None:
    response = api.get("/api/v1/shipments/", HTTP_HOST="attacker.example")

    assert response.status_code == 400
    assert response.json() == error("Bad request.")


def test_pages_outside_the_api_keep_their_html_errors(client: Client) -> None:
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/shipments/", {"order_ref": "ORD\x1b[2J"}),
        ("/api/v1/tracking/ORD%07/", {}),
    ],
)
def test_an_order_ref_with_control_characters_is_refused(
    api: APIClient, path: str, query: dict[str, str]
) -> None:
    response = api.get(path, query)

    assert response.status_code == 400
    assert response.json() == error(
        "Invalid input.", fields={"order_ref": ["Must not contain control characters."]}
    )
