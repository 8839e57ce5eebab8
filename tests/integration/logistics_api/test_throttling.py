"""Throttling: a caller over its rate gets 429 with Retry-After, in the API's error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.urls import reverse
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

ClientAs = Callable[[User], APIClient]


@pytest.fixture
def tiny_rates(settings: Any) -> None:
    # Replacing the whole dict fires setting_changed, on which DRF reloads api_settings; our
    # throttles read their rate from there on each request (httpapi/throttling.py).
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "2/minute", "anon": "1/minute", "token_failures": None},
    }
    cache.clear()


def test_the_rates_come_from_the_environment_settings(settings: Any) -> None:
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == {
        "user": settings.API_THROTTLE_USER,
        "anon": settings.API_THROTTLE_ANON,
        "token_failures": settings.API_THROTTLE_TOKEN_FAILURES,
    }


@pytest.mark.usefixtures("tiny_rates")
def test_a_user_over_their_rate_gets_429_with_retry_after(
    client_as: ClientAs, customer: User
) -> None:
    client = client_as(customer)
    url = reverse("logistics_api:shipment_list")

    statuses = [client.get(url).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    response = client.get(url)
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= 60
    assert response.json()["extra"] == {"retry_after": retry_after}
    assert response.json()["message"].startswith("Request was throttled.")


@pytest.mark.usefixtures("tiny_rates")
def test_each_user_has_their_own_allowance(
    client_as: ClientAs, customer: User, staff: User
) -> None:
    url = reverse("logistics_api:shipment_list")
    for _ in range(3):
        client_as(customer).get(url)

    assert client_as(staff).get(url).status_code == 200


@pytest.mark.usefixtures("tiny_rates")
def test_anonymous_reads_of_the_public_schema_are_throttled_too(api: APIClient) -> None:
    url = reverse("api_schema")

    assert [api.get(url).status_code for _ in range(2)] == [200, 429]


@pytest.mark.usefixtures("tiny_rates")
def test_an_unreachable_cache_lets_requests_through_unthrottled(
    client_as: ClientAs, customer: User, settings: Any
) -> None:
    from prometheus_client import REGISTRY

    def failures(operation: str) -> float:
        labels = {"operation": operation}
        return REGISTRY.get_sample_value("monolithos_cache_unavailable_total", labels) or 0.0

    # CACHE_URL's backend, pointed at a port where no Redis listens.
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.FailOpenRedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    before = failures("throttle")
    client = client_as(customer)
    url = reverse("logistics_api:shipment_list")

    statuses = [client.get(url).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]  # over the rate of 2/minute, but not a 500 either
    assert failures("throttle") - before == 3  # one round trip per request, each failed open
