"""Guessing is slowed: logins lock out (django-axes), failed tokens are throttled per address.

Both are counted in metrics. Time moves by the data (a lockout's attempt time) or the throttle's
clock (``TokenFailureThrottle.timer``), never by sleeping.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from httpapi.throttling import TokenFailureThrottle
from tests.factories import StaffUserFactory
from tests.integration.logistics_api.factories import token_for

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

PASSWORD = "correct horse battery staple"
ATTACKER = "203.0.113.9"


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def log_in(client: Client, username: str, password: str, address: str = ATTACKER) -> Any:
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def test_the_fifth_wrong_password_locks_the_username_out_of_that_address(client: Client, settings):
    staff = StaffUserFactory()
    failures, lockouts = (
        metric("monolithos_login_failures_total"),
        metric("monolithos_login_lockouts_total"),
    )
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, staff.username, "guess").status_code == 200  # the form again
    assert log_in(client, staff.username, "guess").status_code == 429

    refused = log_in(client, staff.username, PASSWORD)

    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    # Every refused login counts as failed, the one refused while locked out too; each of the two
    # refused while the username was locked out (the fifth guess, then the password) is a lockout.
    assert metric("monolithos_login_failures_total") - failures == settings.AXES_FAILURE_LIMIT + 1
    assert metric("monolithos_login_lockouts_total") - lockouts == 2
    # The same user from another address is not locked out: nobody can lock staff out.
    assert log_in(Client(), staff.username, PASSWORD, address="198.51.100.7").status_code == 302


def test_the_admin_shows_the_lockout_and_it_ends_after_the_cool_off(client: Client, settings):
    staff = StaffUserFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, staff.username, "guess")
    admin = Client()
    admin.force_login(StaffUserFactory())

    page = admin.get("/admin/axes/accessattempt/")

    assert page.status_code == 200
    assert staff.username in page.content.decode()
    assert ATTACKER in page.content.decode()

    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time
        - settings.AXES_COOLOFF_TIME
        - timedelta(seconds=1)
    )
    assert log_in(client, staff.username, PASSWORD).status_code == 302


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    now = [1_000_000.0]
    monkeypatch.setattr(TokenFailureThrottle, "timer", lambda self: now[0])
    return now


def with_token(token: str, address: str = ATTACKER) -> APIClient:
    api = APIClient(REMOTE_ADDR=address)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def test_failed_tokens_from_an_address_are_throttled_then_let_through_again(
    settings, clock: list[float]
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "token_failures": "3/minute",
        },
    }
    valid = token_for(StaffUserFactory())
    refused = metric("monolithos_api_token_failures_total", outcome="refused")
    throttled = metric("monolithos_api_token_failures_total", outcome="throttled")
    for guess in range(3):
        assert with_token(f"guess{guess}").get("/api/v1/shipments/").status_code == 401

    blocked = with_token("guess3").get("/api/v1/shipments/")
    # Even the right token is not looked at from there: a guess cannot be confirmed.
    valid_but_blocked = with_token(valid).get("/api/v1/shipments/")

    assert blocked.status_code == valid_but_blocked.status_code == 429
    assert blocked.json() == {
        "message": "Too many failed authentications from this address. "
        "Expected available in 60 seconds.",
        "extra": {"retry_after": 60},
    }
    assert blocked["Retry-After"] == "60"
    assert with_token(valid, address="198.51.100.7").get("/api/v1/shipments/").status_code == 200
    assert metric("monolithos_api_token_failures_total", outcome="refused") - refused == 3
    assert metric("monolithos_api_token_failures_total", outcome="throttled") - throttled == 2

    clock[0] += 61

    assert with_token(valid).get("/api/v1/shipments/").status_code == 200


def test_requests_without_a_token_are_not_counted_as_failures(settings, clock) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "anon": None,
            "token_failures": "1/minute",
        },
    }
    for _ in range(3):
        assert APIClient(REMOTE_ADDR=ATTACKER).get("/api/v1/shipments/").status_code == 401

    assert with_token("guess").get("/api/v1/shipments/").status_code == 401
    assert with_token("guess").get("/api/v1/shipments/").status_code == 429
