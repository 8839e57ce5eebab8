"""Fixtures for the logistics API tests: a client, the three kinds of caller, a clean throttle."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import StaffUserFactory
from tests.integration.logistics_api.factories import (
    CustomerUserFactory,
    ServiceUserFactory,
    token_for,
)


@pytest.fixture(autouse=True)
def _fresh_throttle_history() -> None:
    # Throttle counters live in the default cache, which outlives a test's database rollback.
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def staff() -> User:
    user: User = StaffUserFactory()
    return user


@pytest.fixture
def customer() -> User:
    user: User = CustomerUserFactory()
    return user


@pytest.fixture
def service_user() -> User:
    user: User = ServiceUserFactory()
    return user


@pytest.fixture
def client_as(api: APIClient) -> Callable[[User], APIClient]:
    """The API client speaking with ``user``'s DRF token, as a real caller would."""

    def authenticate(user: User) -> APIClient:
        api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        return api

    return authenticate
