"""What crosses the boundary of the logistics context: commands in, views out (pydantic).

Other packages build these and receive these; they never see the domain objects. Validation
here is the boundary's: a command that parses is one the domain can accept.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from logistics.domain import Shipment, ShipmentStatus

OrderRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Destination = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
]


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ItemIn(_Contract):
    sku: Sku
    quantity: int = Field(ge=1, le=1_000_000)


# The Celery task that receives a CreateShipment (as JSON, keyword ``shipment``) from another
# context's outbox: the message contract, by name, so the sender imports no task module.
CREATE_SHIPMENT_TASK = "logistics.tasks.create_shipment"


class CreateShipment(_Contract):
    order_ref: OrderRef
    destination: Destination
    items: list[ItemIn] = Field(min_length=1, max_length=500)
    owner_id: int | None = None
    contact_email: str | None = Field(default=None, max_length=254)


class LegacyShipment(CreateShipment):
    """A shipment as the legacy order columns describe it, for the backfill."""

    status: ShipmentStatus
    supplier_reference: str | None = None
    tracking_number: str | None = None
    dispatched_at: datetime | None = None
    cancelled_at: datetime | None = None
    created_at: datetime


class ItemOut(_Contract):
    sku: str
    quantity: int


class ShipmentView(_Contract):
    id: uuid.UUID
    order_ref: str
    destination: str
    items: list[ItemOut]
    status: ShipmentStatus
    owner_id: int | None
    supplier_reference: str | None
    tracking_number: str | None
    attempt_count: int
    next_attempt_at: datetime | None
    last_error: str | None
    dispatched_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, shipment: Shipment) -> ShipmentView:
        return cls(
            id=shipment.id,
            order_ref=shipment.order_ref,
            destination=shipment.destination,
            items=[ItemOut(sku=item.sku, quantity=item.quantity) for item in shipment.items],
            status=shipment.status,
            owner_id=shipment.owner_id,
            supplier_reference=shipment.supplier_reference,
            tracking_number=shipment.tracking_number,
            attempt_count=shipment.attempt_count,
            next_attempt_at=shipment.next_attempt_at,
            last_error=shipment.last_error,
            dispatched_at=shipment.dispatched_at,
            delivered_at=shipment.delivered_at,
            cancelled_at=shipment.cancelled_at,
            created_at=shipment.created_at,
            updated_at=shipment.updated_at or shipment.created_at,
        )


class DispatchOutcome(_Contract):
    """The shipment after a dispatch attempt. Not dispatched means still pending, never lost."""

    shipment: ShipmentView
    dispatched: bool
    failure_kind: str | None = None
    failure_status: int | None = None
    failure_detail: str | None = None


class TrackingView(_Contract):
    order_ref: str
    status: ShipmentStatus
    supplier_reference: str | None
    tracking_number: str | None
    dispatched_at: datetime | None
    supplier_status: str | None
    """The supplier's own status; ``unknown`` when it could not be asked, None before dispatch."""


class QuoteView(_Contract):
    sku: str
    quantity: int
    unit_cost: Decimal
    shipping_cost: Decimal
    currency: str
    lead_time_days: int
    stale: bool
    """True when the supplier could not be asked and this is the last known good answer."""
    age_seconds: float | None


class SweepReport(_Contract):
    due: int
    dispatched: int
    deferred: int


class ImportReport(_Contract):
    received: int
    created: int
