"""LEGACY_SHOP_API_KEY closes the legacy shop JSON endpoints to requests without the key.

With the key set, each of the four ``/api/orders/...`` endpoints answers 401 in its own error
format (``{"error": ...}``) to a request without the ``X-Shop-Api-Key`` header or with another
key, before its view runs, and answers as it always did to one with the key. Unset, nothing
changes (tests/characterization pins that).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from monolithos.models import Order
from tests.factories import ProductFactory

pytestmark = [pytest.mark.django_db(databases=["default", "logistics"]), pytest.mark.simulator]

KEY = "shop-key-7Yc2rK9pQ4vW8mZ1tB6nD3fH5jL0sX2a"
ORDER = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "shipping_address": "12 Analytical Row\nLondon",
    "lines": [{"sku": "PALLET", "quantity": 2}],
}


@pytest.fixture
def catalogue(db: None) -> None:
    ProductFactory(sku="PALLET", price=Decimal("18.50"), stock=120)


@pytest.fixture
def closed(settings: Any) -> str:
    settings.LEGACY_SHOP_API_KEY = KEY
    return KEY


def place(client: Client, **headers: str) -> Any:
    return client.post(
        "/api/orders/", data=json.dumps(ORDER), content_type="application/json", headers=headers
    )


@pytest.fixture
def undispatched(client: Client, catalogue: None, supplier: Any, mailoutbox: list) -> Order:
    """An order the shop placed while the supplier answered 503: placed, not dispatched yet."""
    supplier.set_chaos(failure_rate=1.0)
    response = place(client)
    assert response.status_code == 201
    supplier.reset(failure_rate=0.0, hang_rate=0.0, seed=7)
    mailoutbox.clear()
    return Order.objects.get(pk=response.json()["id"])


Call = Callable[[Client, Order, dict[str, str]], Any]
ENDPOINTS: dict[str, Call] = {
    "place": lambda client, order, headers: place(client, **headers),
    "track": lambda client, order, headers: client.get(
        f"/api/orders/{order.pk}/track/", headers=headers
    ),
    "ship": lambda client, order, headers: client.post(
        f"/api/orders/{order.pk}/ship/", headers=headers
    ),
    "invoice": lambda client, order, headers: client.get(
        f"/api/orders/{order.pk}/invoice.pdf", headers=headers
    ),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"X-Shop-Api-Key": "not-the-key"}, "wrong"),
        ({"X-Shop-Api-Key": KEY[:-1]}, "wrong"),
        ({"X-Shop-Api-Key": KEY + "x"}, "wrong"),
        ({"X-Shop-Api-Key": "clé-" + KEY[4:]}, "wrong"),
        ({"Authorization": f"Token {KEY}"}, "missing"),
    ],
    ids=["none", "another", "truncated", "longer", "not-ascii", "in-another-header"],
)
def test_without_the_key_every_shop_endpoint_answers_401_and_does_nothing(
    client, undispatched, closed, supplier, log_lines, endpoint, headers, reason
):
    orders_before = Order.objects.count()
    calls_before = len(supplier.received())

    response = ENDPOINTS[endpoint](client, undispatched, headers)

    assert response.status_code == 401
    assert response.json() == {"error": "this endpoint needs the shop's key in X-Shop-Api-Key"}
    assert response["WWW-Authenticate"] == 'ApiKey header="X-Shop-Api-Key"'
    assert Order.objects.count() == orders_before
    assert len(supplier.received()) == calls_before
    undispatched.refresh_from_db()
    assert undispatched.shipping_status == "dispatch_failed"
    [refused] = log_lines.events("legacy_shop_key_refused")
    assert refused["reason"] == reason
    assert KEY[8:] not in log_lines.raw  # not even part of what was sent


def test_with_the_key_every_shop_endpoint_answers_as_it_always_did(
    client, undispatched, closed, supplier
):
    key = {"X-Shop-Api-Key": closed}

    placed = ENDPOINTS["place"](client, undispatched, key)
    shipped = ENDPOINTS["ship"](client, undispatched, key)
    tracked = ENDPOINTS["track"](client, undispatched, key)
    invoice = ENDPOINTS["invoice"](client, undispatched, key)

    assert placed.status_code == 201
    assert placed.json()["number"].startswith("ORD-")
    assert (shipped.status_code, shipped.json()["shipping_status"]) == (200, "dispatched")
    assert (tracked.status_code, tracked.json()["status"]) == (200, "shipped")
    assert (invoice.status_code, invoice["Content-Type"]) == (200, "application/pdf")
    assert b"".join(invoice.streaming_content).startswith(b"%PDF-")


def test_the_shop_still_posts_without_a_csrf_token_when_it_sends_the_key(
    catalogue, closed, supplier
):
    shop = Client(enforce_csrf_checks=True)

    response = place(shop, **{"X-Shop-Api-Key": closed})

    assert response.status_code == 201


def test_unset_the_endpoints_stay_open_whatever_is_sent(client, undispatched, settings):
    settings.LEGACY_SHOP_API_KEY = None

    response = ENDPOINTS["track"](client, undispatched, {"X-Shop-Api-Key": "anything"})

    assert response.status_code == 200


def test_the_back_office_pages_and_the_v1_api_do_not_ask_for_the_shop_key(
    client, undispatched, closed
):
    from tests.factories import StaffUserFactory

    client.force_login(StaffUserFactory())

    assert client.get(f"/orders/{undispatched.pk}/").status_code == 200
    assert client.get(f"/api/v1/orders/{undispatched.pk}/").status_code == 200
