"""Fixtures for the v1 order resources: the order's owner, a stranger, staff, a token client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from celery import current_app
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from monolithos.models import Order
from tests.factories import StaffUserFactory
from tests.integration.logistics_api.factories import CustomerUserFactory, token_for
from tests.integration.orders_api.factories import OrderFactory


@pytest.fixture
def owner() -> User:
    """Who placed the order: a customer's account, not staff."""
    user: User = CustomerUserFactory(username="ada", email="ada@example.com")
    return user


@pytest.fixture
def stranger() -> User:
    """Another customer's account: not staff, no permission on orders."""
    user: User = CustomerUserFactory(username="grace", email="grace@example.com")
    return user


@pytest.fixture
def staff() -> User:
    user: User = StaffUserFactory()
    return user


@pytest.fixture
def viewer() -> User:
    """Not staff, but allowed to view every order (a back-office service account, say)."""
    user: User = CustomerUserFactory(username="back-office-bot")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="monolithos", codename="view_order")
    )
    return user


@pytest.fixture
def client_as() -> Callable[[User], APIClient]:
    """A client speaking with ``user``'s DRF token, as a real caller would; one per user."""

    def authenticate(user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        return client

    return authenticate


@pytest.fixture
def order(owner: User) -> Order:
    placed: Order = OrderFactory(owner=owner, customer__email="ada@example.com")
    return placed


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """What is handed to the broker by name (task, keyword arguments), instead of sending it."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def send_task(name: str, args: Any = None, kwargs: Any = None, **_: Any) -> None:
        sent.append((name, dict(kwargs or {})))

    monkeypatch.setattr(current_app, "send_task", send_task)
    return sent
