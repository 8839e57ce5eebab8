"""Reads behind the v1 order resources: the orders a user may see, an order's tracking, its invoice.

Visibility is decided here, in the query, as the logistics API decides it for shipments: staff
and holders of ``monolithos.view_order`` see every order, anyone else only the orders they
placed (``Order.owner``). Someone else's order is simply not found, so the API answers 404,
never a 403 that would confirm the id exists.

Nothing here writes, on either database. Tracking reads the shipment through
``logistics.public`` and, for an order from before the backfill, the order's own columns where
the data phase still reads them (``monolithos.shipping_data``; else the order has no shipment
yet); it repairs nothing (the columns follow the shipment from the process that changes it,
``monolithos.shipping_columns``).

Must not import ``monolithos.order_manager`` (an import-linter contract): the new entry points
never go through the god object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from django.db.models import QuerySet

from config import routers
from logistics.public import (
    LogisticsService,
    ShipmentNotFound,
    ShipmentStatus,
    build_logistics_service,
)
from monolithos import shipping_data
from monolithos.backfill import LEGACY_TO_LOGISTICS
from monolithos.models import Invoice, Order

VIEW_EVERY_ORDER = "monolithos.view_order"

User = AbstractBaseUser | AnonymousUser


def can_view_every_order(user: User) -> bool:
    if not user.is_authenticated:
        return False
    if getattr(user, "is_staff", False):
        return True
    return isinstance(user, PermissionsMixin) and user.has_perm(VIEW_EVERY_ORDER)


def visible_orders(*, user: User) -> QuerySet[Order]:
    orders = Order.objects.all()
    if can_view_every_order(user):
        return orders
    if not user.is_authenticated:
        return orders.none()
    return orders.filter(owner_id=user.pk)


def order_get(*, user: User, order_id: int) -> Order | None:
    """The order, if ``user`` may see it; None for an unknown id and for someone else's."""
    return visible_orders(user=user).select_related("customer").filter(pk=order_id).first()


@dataclass(frozen=True)
class OrderTracking:
    order_id: int
    order_number: str | None
    status: ShipmentStatus
    supplier_reference: str | None
    tracking_number: str | None
    dispatched_at: datetime | None
    supplier_status: str | None
    answered_from: Literal["shipment", "order_columns", "no_shipment_yet"]


def order_tracking(*, order: Order, logistics: LogisticsService | None = None) -> OrderTracking:
    """Where the order's shipment is, as logistics knows it, else as the order's columns say."""
    service = logistics or build_logistics_service()
    if order.number is not None:
        try:
            tracking = service.track(order.number)
        except ShipmentNotFound:
            pass  # an order from before the backfill: its columns are all there is
        else:
            return OrderTracking(
                order_id=order.pk,
                order_number=order.number,
                status=tracking.status,
                supplier_reference=tracking.supplier_reference,
                tracking_number=tracking.tracking_number,
                dispatched_at=tracking.dispatched_at,
                supplier_status=tracking.supplier_status,
                answered_from="shipment",
            )
    columns_read = routers.shipping_ownership().columns_read
    shipping = shipping_data.read(order, reader="selectors.order_tracking", logistics=service)
    reference = shipping.supplier_reference or None
    return OrderTracking(
        order_id=order.pk,
        order_number=order.number,
        status=LEGACY_TO_LOGISTICS[shipping.shipping_status],
        supplier_reference=reference,
        tracking_number=shipping.tracking_number or None,
        dispatched_at=shipping.dispatched_at,
        supplier_status=service.supplier_status(reference) if reference else None,
        answered_from="order_columns" if columns_read else "no_shipment_yet",
    )


def order_invoice(*, order: Order) -> Invoice | None:
    return Invoice.objects.filter(order=order).first()
