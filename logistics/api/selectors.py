"""Read side of the logistics API: the shipments a user may see, filtered, as boundary views.

Queries ``ShipmentRecord`` directly (the router keeps it on the ``logistics`` alias) and never
writes. Visibility is decided here, in the query: a manager sees every shipment, anyone else
only those whose ``owner_id`` is theirs, so someone else's shipment is simply not found.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from logistics.adapters.orm import to_domain
from logistics.api.permissions import can_manage_shipments
from logistics.contracts import ShipmentView
from logistics.domain import ShipmentNotFound, ShipmentStatus
from logistics.models import ShipmentRecord

User = AbstractBaseUser | AnonymousUser


def visible_shipments(*, user: User) -> QuerySet[ShipmentRecord]:
    records = ShipmentRecord.objects.all()
    if can_manage_shipments(user):
        return records
    if not user.is_authenticated:
        return records.none()
    return records.filter(owner_id=user.pk)


def shipment_list(
    *, user: User, status: ShipmentStatus | None = None, order_ref: str | None = None
) -> QuerySet[ShipmentRecord]:
    """Unordered: the paginator orders (newest first) so that its cursor matches the order."""
    records = visible_shipments(user=user)
    if status is not None:
        records = records.filter(status=status.value)
    if order_ref is not None:
        records = records.filter(order_ref=order_ref)
    return records


def shipment_get(*, user: User, shipment_id: uuid.UUID) -> ShipmentView:
    try:
        return shipment_view(visible_shipments(user=user).get(pk=shipment_id))
    except ShipmentRecord.DoesNotExist:
        raise ShipmentNotFound(shipment_id) from None


def order_shipment_is_visible(*, user: User, order_ref: str) -> bool:
    return visible_shipments(user=user).filter(order_ref=order_ref).exists()


def shipment_view(record: ShipmentRecord) -> ShipmentView:
    return ShipmentView.of(to_domain(record))


def shipment_views(records: Iterable[ShipmentRecord]) -> list[ShipmentView]:
    return [shipment_view(record) for record in records]
