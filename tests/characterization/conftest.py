"""Fixtures for the golden-behaviour tests of the legacy endpoints."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from monolithos.models import Order
from tests.characterization.shop import order_payload, place
from tests.factories import ProductFactory, StaffUserFactory


@pytest.fixture
def catalogue(db: None) -> dict[str, Any]:
    return {
        "BOX-S": ProductFactory(
            sku="BOX-S", name="Shipping box, small", price=Decimal("0.90"), stock=500
        ),
        "PALLET": ProductFactory(
            sku="PALLET", name="Euro pallet", price=Decimal("18.50"), stock=120
        ),
        "SCALE": ProductFactory(sku="SCALE", name="Parcel scale", price=Decimal("249.00"), stock=4),
    }


@pytest.fixture
def staff_client(client: Client, db: None) -> Client:
    client.force_login(StaffUserFactory())
    return client


@pytest.fixture
def placed_order(
    client: Client, catalogue: dict[str, Any], supplier: Any, mailoutbox: list
) -> Order:
    """An order placed through the legacy endpoint while the supplier is up."""
    response = place(client, order_payload())
    assert response.status_code == 201
    mailoutbox.clear()
    return Order.objects.get(pk=response.json()["id"])


@pytest.fixture
def undispatched_order(
    client: Client, catalogue: dict[str, Any], supplier: Any, mailoutbox: list
) -> Order:
    """An order placed while the supplier answered 503: placed, but not dispatched."""
    supplier.set_chaos(failure_rate=1.0)
    response = place(client, order_payload())
    assert response.status_code == 201
    supplier.reset(failure_rate=0.0, hang_rate=0.0, seed=7)
    mailoutbox.clear()
    return Order.objects.get(pk=response.json()["id"])
