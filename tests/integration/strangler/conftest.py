"""Fixtures for the strangler's integration tests: a catalogue, orders placed on either side."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from monolithos.models import Order, Product
from strangler.testing import override_modes
from tests.characterization.shop import order_payload, place
from tests.factories import ProductFactory
from tests.strangler_modes import Workers


@pytest.fixture
def pallets(db: None) -> Product:
    product: Product = ProductFactory(sku="PALLET", price=Decimal("18.50"), stock=120)
    return product


@pytest.fixture
def workers(settings: Any) -> Workers:
    """The Celery workers, run when the test says so."""
    return Workers(settings)


def placed_on_legacy(client: Client, **overrides: Any) -> Order:
    with override_modes({"api_place_order": "legacy"}):
        response = place(client, order_payload(**overrides))
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


@pytest.fixture
def dispatched_order(client: Client, pallets: Product, supplier: Any, mailoutbox: list) -> Order:
    order = placed_on_legacy(client)
    assert order.shipping_status == "dispatched"
    mailoutbox.clear()
    return order


@pytest.fixture
def undispatched_order(client: Client, pallets: Product, supplier: Any, mailoutbox: list) -> Order:
    supplier.set_chaos(failure_rate=1.0)
    order = placed_on_legacy(client)
    supplier.reset(failure_rate=0.0, hang_rate=0.0, seed=7)
    assert order.shipping_status == "dispatch_failed"
    mailoutbox.clear()
    return order
