"""factory-boy factories that read like the domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth.models import Permission, User
from factory.django import DjangoModelFactory
from rest_framework.test import APIClient

from monolithos.models import Customer, Order, OrderLine, Product

DISPATCHED_AT = datetime(2024, 3, 1, 10, 30, tzinfo=UTC)
CANCELLED_AT = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)
# The order status the legacy code writes beside each shipping status (LEGACY.md: duplicated state).
_ORDER_STATUS = {"dispatched": "shipped", "cancelled": "cancelled"}


class StaffUserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@monolithos.example")
    is_staff = True
    is_superuser = True
    password = factory.django.Password("correct horse battery staple")


def _may_place_for_any_customer(user: User, create: bool, extracted: object) -> None:
    user.user_permissions.add(Permission.objects.get(codename="place_order_for_any_customer"))


class ShopAccountFactory(DjangoModelFactory):
    """A web shop's service account: it places orders for any customer (v1's caller)."""

    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = "webshop"
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("not-used-here")
    permissions = factory.PostGeneration(_may_place_for_any_customer)


def api_client(user: User) -> APIClient:
    """DRF's test client, authenticated as ``user``."""
    client = APIClient()
    client.force_authenticate(user)
    return client


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.LazyAttribute(lambda product: f"Product {product.sku}")
    price = Decimal("10.00")
    stock = 100


def _if_shipping(status: str, value: Any, otherwise: Any) -> Any:
    return factory.LazyAttribute(lambda o: value if o.shipping_status == status else otherwise)


def _number(order: Order, create: bool, extracted: bool | None) -> None:
    if extracted is not False and order.number is None:
        order.number = f"ORD-{order.pk:06d}"
        order.save(update_fields=["number"])


def _lines(order: Order, create: bool, extracted: Sequence[tuple[Any, ...]] | None) -> None:
    for sku, quantity, *price in (("SKU-A", 2),) if extracted is None else extracted:
        unit_price = Decimal(price[0] if price else "1.00")
        product = Product.objects.filter(sku=sku).first() or ProductFactory(sku=sku)
        OrderLine.objects.create(
            order=order,
            product=product,
            sku=sku,
            quantity=quantity,
            unit_price=unit_price,
            line_total=unit_price * quantity,
        )


class LegacyOrderFactory(DjangoModelFactory):
    """An order as the legacy code left it, written with the ORM: its shipping columns in one
    state (``shipping_status``), its number (unless ``numbered=False``) and its ``lines``, each
    ``(sku, quantity)`` or ``(sku, quantity, unit_price)``."""

    class Meta:
        model = Order
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    shipping_status = "pending"
    status = factory.LazyAttribute(lambda o: _ORDER_STATUS.get(o.shipping_status, "placed"))
    shipping_name = "Ada"
    shipping_address = "1 Analytical Row\nLondon"
    supplier_reference = _if_shipping("dispatched", "SUP-1", "")
    tracking_number = _if_shipping("dispatched", "TRK-1", "")
    dispatched_at = _if_shipping("dispatched", DISPATCHED_AT, None)
    cancelled_at = _if_shipping("cancelled", CANCELLED_AT, None)

    numbered = factory.PostGeneration(_number)
    lines = factory.PostGeneration(_lines)
