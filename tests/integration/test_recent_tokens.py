"""Tokens remembered for a few seconds: a burst costs one query, a deleted token is refused after.

Time moves by the memory's clock (``recent_tokens.clock``), never by sleeping; queries are
counted by Django's ``CaptureQueriesContext``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from httpapi.authentication import RecentTokens, recent_tokens
from tests.integration.logistics_api.factories import CustomerUserFactory, token_for

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    moment = [1000.0]
    monkeypatch.setattr(recent_tokens, "clock", lambda: moment[0])
    return moment


def token_queries(client: APIClient, url: str) -> tuple[int, int]:
    """(status, how many queries read the token table) of one GET."""
    with CaptureQueriesContext(connection) as queries:
        status = client.get(url).status_code
    return status, sum('"authtoken_token"' in query["sql"] for query in queries.captured_queries)


def test_a_token_is_looked_up_once_within_the_time(settings: Any, now: list[float]) -> None:
    settings.API_TOKEN_CACHE_SECONDS = 5
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(CustomerUserFactory())}")
    url = reverse("logistics_api:shipment_list")

    assert [token_queries(client, url) for _ in range(3)] == [(200, 1), (200, 0), (200, 0)]


def test_a_deleted_token_is_refused_once_the_time_has_passed(
    settings: Any, now: list[float]
) -> None:
    settings.API_TOKEN_CACHE_SECONDS = 5
    client = APIClient()
    key = token_for(CustomerUserFactory())
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    url = reverse("logistics_api:shipment_list")
    assert client.get(url).status_code == 200

    Token.objects.filter(key=key).delete()
    now[0] += 4.9
    within = client.get(url).status_code
    now[0] += 0.2
    after = client.get(url).status_code

    assert (within, after) == (200, 401)


def test_zero_seconds_looks_every_token_up(settings: Any, now: list[float]) -> None:
    settings.API_TOKEN_CACHE_SECONDS = 0
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(CustomerUserFactory())}")
    url = reverse("logistics_api:shipment_list")

    assert [token_queries(client, url) for _ in range(2)] == [(200, 1), (200, 1)]


def test_a_refused_token_is_not_remembered(settings: Any, now: list[float]) -> None:
    settings.API_TOKEN_CACHE_SECONDS = 5
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    url = reverse("logistics_api:shipment_list")

    assert [token_queries(client, url) for _ in range(2)] == [(401, 1), (401, 1)]


def test_the_memory_holds_a_digest_of_the_token_never_the_token() -> None:
    tokens = RecentTokens(clock=lambda: 0.0)
    user = CustomerUserFactory.build()
    tokens.remember("secret-token-key", user, None, 5)

    assert "secret-token-key" not in repr(tokens._entries)
    assert tokens.get("secret-token-key") == (user, None)
