"""What crosses the boundary of the logistics context: commands in, views out (pydantic).

Other packages build these and receive these; they never see the domain objects. Validation
here is the boundary's: a command that parses is one the domain can accept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from logistics.domain import Shipment, ShipmentEventKind, ShipmentStatus


@dataclass(frozen=True)
class ShipmentLimits:
    """The largest shipment the context accepts: one set, which order intake validates against.

    An order that passes its intake's checks always makes a valid ``CreateShipment``, so no
    order is ever accepted that could not be shipped.
    """

    max_items: int = 100
    max_quantity: int = 100_000
    max_sku_length: int = 64
    max_destination_length: int = 2000
    max_email_length: int = 254


SHIPMENT_LIMITS = ShipmentLimits()

OrderRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Sku = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=SHIPMENT_LIMITS.max_sku_length
    ),
]
Destination = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=SHIPMENT_LIMITS.max_destination_length
    ),
]


class _Contract(BaseModel):
    # A validation error names the field and the rule, never the value: it reaches log lines
    # and tracebacks, and the values are a customer's address and order.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class ItemIn(_Contract):
    sku: Sku
    quantity: int = Field(ge=1, le=SHIPMENT_LIMITS.max_quantity)


# The Celery task that receives a CreateShipment (as JSON, keyword ``shipment``) from another
# context's outbox: the message contract, by name, so the sender imports no task module.
CREATE_SHIPMENT_TASK = "logistics.tasks.create_shipment"


class CreateShipment(_Contract):
    order_ref: OrderRef
    destination: Destination
    items: list[ItemIn] = Field(min_length=1, max_length=SHIPMENT_LIMITS.max_items)
    owner_id: int | None = None
    contact_email: str | None = Field(default=None, max_length=SHIPMENT_LIMITS.max_email_length)


class LegacyShipment(CreateShipment):
    """A shipment as the legacy order columns describe it, for the backfill.

    ``last_error``: why a pending shipment's dispatch failed before the backfill (the legacy
    ``dispatch_failed``), so that its shipment reads as failed too; it stays due for dispatch.
    """

    status: ShipmentStatus
    supplier_reference: str | None = None
    tracking_number: str | None = None
    dispatched_at: datetime | None = None
    cancelled_at: datetime | None = None
    last_error: str | None = None
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
    version: int
    """Grows by one with every change of the shipment: a listener applies changes in order."""
    owner_id: int | None
    supplier_reference: str | None
    tracking_number: str | None
    attempt_count: int
    next_attempt_at: datetime | None
    last_error: str | None
    needs_attention: bool = False
    """The supplier accepted a dispatch after the shipment was cancelled: staff must act."""
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
            version=shipment.version,
            owner_id=shipment.owner_id,
            supplier_reference=shipment.supplier_reference,
            tracking_number=shipment.tracking_number,
            attempt_count=shipment.attempt_count,
            next_attempt_at=shipment.next_attempt_at,
            last_error=shipment.last_error,
            needs_attention=shipment.needs_attention,
            dispatched_at=shipment.dispatched_at,
            delivered_at=shipment.delivered_at,
            cancelled_at=shipment.cancelled_at,
            created_at=shipment.created_at,
            updated_at=shipment.updated_at or shipment.created_at,
        )


class ShipmentListener(Protocol):
    """Told of every committed change of a shipment, after its commit, in the process that made
    it (``ShipmentView.version`` orders them). A fast path only: a process that dies between the
    commit and the telling tells nobody, which the change's ``ShipmentEvent`` makes good. A
    listener must be idempotent and ignore a version older than one it applied. Listeners are
    named in the ``LOGISTICS_SHIPMENT_LISTENERS`` setting, so the logistics context imports none
    of them."""

    def shipment_changed(self, shipment: ShipmentView) -> None: ...


class ShipmentEvent(_Contract):
    """What happened to a shipment, with the shipment as that change left it.

    Recorded in the outbox in the very transaction of the change (docs/adr/0021), one message
    per task named in the ``LOGISTICS_SHIPMENT_EVENT_TASKS`` setting, as JSON under the keyword
    ``event``. Delivered at least once, in no particular order: ``shipment.version`` orders them,
    so a receiver applies one only over an older version (a late or a repeated event changes
    nothing).
    """

    kind: ShipmentEventKind
    occurred_at: datetime
    shipment: ShipmentView

    @classmethod
    def of(cls, shipment: Shipment, kind: ShipmentEventKind) -> ShipmentEvent:
        return cls(
            kind=kind,
            occurred_at=shipment.updated_at or shipment.created_at,
            shipment=ShipmentView.of(shipment),
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
