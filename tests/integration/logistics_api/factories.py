"""Factories for the logistics API tests: shipments stored through the repository, and users.

Shipments are domain objects saved by ``DjangoShipmentRepository`` (the service's own adapter),
so a row here is one the service could have written; each is created a minute after the last,
which makes "newest first" easy to assert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import factory
from django.contrib.auth.models import Permission, User
from factory.django import DjangoModelFactory
from rest_framework.authtoken.models import Token

from logistics.adapters.orm import DjangoShipmentRepository
from logistics.domain import Shipment, ShipmentItem, ShipmentStatus

EPOCH = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class ShipmentFactory(factory.Factory):
    class Meta:
        model = Shipment

    order_ref = factory.Sequence(lambda n: f"ORD-{n:06d}")
    destination = "1 Dock Road\nPortsmouth"
    items = (ShipmentItem("BOX-S", 2), ShipmentItem("PALLET", 1))
    contact_email = "ada@example.com"
    created_at = factory.Sequence(lambda n: EPOCH + timedelta(minutes=n))

    class Params:
        cancelled = factory.Trait(
            status=ShipmentStatus.CANCELLED, cancelled_at=factory.SelfAttribute("created_at")
        )
        dispatched = factory.Trait(
            status=ShipmentStatus.DISPATCHED,
            supplier_reference=factory.LazyAttribute(lambda s: f"SUP-{s.order_ref}"),
            tracking_number=factory.LazyAttribute(lambda s: f"TRK-{s.order_ref}"),
            dispatched_at=factory.SelfAttribute("created_at"),
            attempt_count=1,
        )

    @classmethod
    def _create(cls, model_class: type[Shipment], *args: Any, **kwargs: Any) -> Shipment:
        stored, _created = DjangoShipmentRepository().add_if_absent(model_class(*args, **kwargs))
        return stored


class CustomerUserFactory(DjangoModelFactory):
    """Someone who buys: reads their own shipments, changes none."""

    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"customer{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class ServiceUserFactory(CustomerUserFactory):
    """The user behind a service token: not staff, but allowed to manage shipments."""

    username = factory.Sequence(lambda n: f"logistics-bot{n}")

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        user: User = super()._create(model_class, *args, **kwargs)
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="logistics", codename="manage_shipments")
        )
        return user


def token_for(user: User) -> str:
    token, _created = Token.objects.get_or_create(user=user)
    return str(token.key)
