"""The placement module: one set of limits for every entry point, and orders owned by their caller.

The legacy shop endpoint, ``POST /api/v1/orders/`` and the intake worker all place orders through
``monolithos.placement``; what one accepts, the others accept, and a shipment can carry it.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from rest_framework.test import APIClient

from logistics.public import SHIPMENT_LIMITS, CreateShipment
from logistics.tasks import create_shipment
from monolithos import placement
from monolithos.mailer import NotificationService
from monolithos.models import Customer, Order, OrderRequest, Product
from monolithos.placement import LIMITS
from monolithos.repository import DatabaseRepo
from monolithos.tasks import place_order_request
from notifications.public import NotificationService as QueuedNotifications
from outbox.models import OutboxMessage
from tests.characterization.shop import order_payload, place
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

V1 = "/api/v1/orders/"


@pytest.fixture(autouse=True)
def _fresh_throttle_history() -> None:
    cache.clear()


@pytest.fixture
def pallet() -> Product:
    product: Product = ProductFactory(sku="PALLET", stock=LIMITS.max_quantity * 2)
    return product


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def v1_body(**overrides: Any) -> dict[str, Any]:
    return {**order_payload(), **overrides}


def assert_nothing_written() -> None:
    assert not Order.objects.exists()
    assert not Customer.objects.exists()
    assert not OrderRequest.objects.exists()


# ---------------------------------------------------------------------- one set of limits


def test_the_order_limits_are_the_shipment_contracts():
    assert LIMITS.max_lines == SHIPMENT_LIMITS.max_items
    assert LIMITS.max_quantity == SHIPMENT_LIMITS.max_quantity
    assert LIMITS.max_address_length == SHIPMENT_LIMITS.max_destination_length
    assert LIMITS.max_sku_length == SHIPMENT_LIMITS.max_sku_length


def test_the_largest_order_accepted_makes_a_valid_shipment(pallet):
    skus = [f"SKU-{n:03d}" for n in range(LIMITS.max_lines - 1)] + ["PALLET"]
    for sku in skus[:-1]:
        ProductFactory(sku=sku, stock=1)
    owner = User.objects.create_user("shop")
    data = order_payload(
        customer_name="N" * LIMITS.max_name_length,
        shipping_address="A" * LIMITS.max_address_length,
        lines=[{"sku": sku, "quantity": 1} for sku in skus[:-1]]
        + [{"sku": "PALLET", "quantity": LIMITS.max_quantity}],
    )

    order = placement.accept(
        data,
        owner_id=owner.pk,
        repo=DatabaseRepo(),
        mails=NotificationService(QueuedNotifications()),
    )

    message = OutboxMessage.objects.get(task="logistics.tasks.create_shipment")
    command = CreateShipment.model_validate(message.kwargs["shipment"])
    assert len(command.items) == LIMITS.max_lines
    assert command.owner_id == owner.pk == order.owner_id


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (
            {"shipping_address": "x" * 2001},
            "shipping_address is too long (at most 2000 characters)",
        ),
        ({"customer_name": "x" * 201}, "customer_name is too long (at most 200 characters)"),
        (
            {"customer_email": "a" * 250 + "@example.com"},
            "customer_email is too long (at most 254 characters)",
        ),
        ({"customer_name": "Ada\x00Lovelace"}, "customer_name must not contain NUL characters"),
        ({"shipping_address": "1 Row\x00"}, "shipping_address must not contain NUL characters"),
        ({"discount_code": "W" * 33}, "discount_code is too long (at most 32 characters)"),
        (
            {"lines": [{"sku": "PALLET", "quantity": 1}] * (LIMITS.max_lines + 1)},
            "an order has at most 100 lines",
        ),
        (
            {"lines": [{"sku": "PALLET", "quantity": LIMITS.max_quantity + 1}]},
            "invalid quantity for PALLET (at most 100000)",
        ),
        # Merged per SKU, two lines within the limit can still be over it together.
        (
            {"lines": [{"sku": "PALLET", "quantity": LIMITS.max_quantity}] * 2},
            "invalid quantity for PALLET (at most 100000)",
        ),
        ({"lines": [{"sku": "P\x00", "quantity": 1}]}, "unknown sku: P\x00"),
    ],
)
def test_the_legacy_endpoint_refuses_what_could_never_ship_with_a_400(
    client, pallet, mailoutbox, overrides, error
):
    """These used to be a 201 that could never ship (the address) or a 500 on PostgreSQL."""
    response = place(client, order_payload(**overrides))

    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert_nothing_written()
    pallet.refresh_from_db()
    assert pallet.stock == LIMITS.max_quantity * 2
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"shipping_address": "x" * (LIMITS.max_address_length + 1)}, "shipping_address"),
        ({"customer_name": "x" * (LIMITS.max_name_length + 1)}, "customer_name"),
        ({"lines": [{"sku": "PALLET", "quantity": 1}] * (LIMITS.max_lines + 1)}, "lines"),
        ({"lines": [{"sku": "PALLET", "quantity": LIMITS.max_quantity + 1}]}, "lines"),
        ({"lines": [{"sku": "PALLET", "quantity": LIMITS.max_quantity}] * 2}, "lines"),
    ],
)
def test_the_v1_api_refuses_the_same_orders_naming_the_field(pallet, overrides, field):
    staff = User.objects.create_user("staff", is_staff=True)

    response = client_for(staff).post(V1, v1_body(**overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]
    assert_nothing_written()


# ---------------------------------------------------------------------- ownership


def test_a_caller_orders_for_its_own_account_and_owns_the_order_and_its_shipment(pallet):
    ada = User.objects.create_user("ada", email="Ada@Example.com")

    response = client_for(ada).post(V1, v1_body(), format="json")
    assert response.status_code == 202
    place_order_request.apply(args=(response.json()["id"],))
    order = Order.objects.get()
    shipment = create_shipment.apply(
        kwargs=OutboxMessage.objects.get(task="logistics.tasks.create_shipment").kwargs
    )

    assert order.owner_id == ada.pk
    assert shipment.successful()
    shipment_link = f"/api/v1/tracking/{order.number}/"
    assert client_for(ada).get(shipment_link).status_code == 200
    stranger = User.objects.create_user("eve", email="eve@example.com")
    assert client_for(stranger).get(shipment_link).status_code == 404


def test_a_caller_may_not_order_for_someone_elses_email(pallet, mailoutbox):
    eve = User.objects.create_user("eve", email="eve@example.com")

    response = client_for(eve).post(V1, v1_body(customer_email="ada@example.com"), format="json")

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["customer_email"]
    assert_nothing_written()
    assert mailoutbox == []


def test_a_caller_without_an_email_may_not_name_a_customer(pallet):
    nobody = User.objects.create_user("nobody")

    response = client_for(nobody).post(V1, v1_body(), format="json")

    assert response.status_code == 400
    assert "customer_email" in response.json()["extra"]["fields"]


@pytest.mark.parametrize("who", ["staff", "permitted"])
def test_staff_or_a_permitted_user_may_order_for_any_customer_and_owns_the_order(pallet, who):
    caller = User.objects.create_user(
        who, email=f"{who}@monolithos.example", is_staff=who == "staff"
    )
    if who == "permitted":
        caller.user_permissions.add(Permission.objects.get(codename="place_order_for_any_customer"))

    response = client_for(caller).post(V1, v1_body(), format="json")
    assert response.status_code == 202
    place_order_request.apply(args=(response.json()["id"],))

    order = Order.objects.get()
    assert order.owner_id == caller.pk
    assert order.customer.email == "ada@example.com"  # contact data only


def test_a_legacy_shop_order_is_owned_by_its_customers_user(client, pallet, supplier):
    ada = User.objects.create_user("ada", email="ada@example.com")
    Customer.objects.create(name="Ada", email="ada@example.com", user=ada)

    response = place(client, order_payload())

    assert response.status_code == 201
    assert Order.objects.get().owner_id == ada.pk
