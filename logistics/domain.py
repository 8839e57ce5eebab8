"""The logistics domain: a shipment, its status machine, its value objects and its errors.

Plain Python: this module imports nothing from Django or the rest of the project (an
import-linter contract), so its rules run and are tested in microseconds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class LogisticsError(Exception):
    """Base of every error the logistics context raises on purpose."""


class InvalidShipment(LogisticsError):
    """A value that can never make a valid shipment (empty reference, zero quantity...)."""


class IllegalTransition(LogisticsError):
    def __init__(self, shipment_id: uuid.UUID, current: ShipmentStatus, target: ShipmentStatus):
        super().__init__(f"shipment {shipment_id} cannot go from {current} to {target}")
        self.shipment_id = shipment_id
        self.current = current
        self.target = target


class CancelledDuringDispatch(IllegalTransition):
    """The shipment was cancelled while its dispatch was in flight, and the supplier took it.

    The cancel stands. The supplier's answer is recorded on the shipment, which is flagged
    ``needs_attention``: the Supplier Protocol has no cancel, so staff ask the supplier to stop
    the parcel.
    """

    def __init__(self, shipment_id: uuid.UUID, supplier_reference: str) -> None:
        super().__init__(shipment_id, ShipmentStatus.CANCELLED, ShipmentStatus.DISPATCHED)
        self.args = (
            f"shipment {shipment_id} was cancelled while the supplier accepted its dispatch "
            f"{supplier_reference}: it stays cancelled and needs attention",
        )
        self.supplier_reference = supplier_reference


class ShipmentNotFound(LogisticsError):
    def __init__(self, reference: object) -> None:
        super().__init__(f"no shipment for {reference}")
        self.reference = reference


class ShipmentChanged(LogisticsError):
    """Another writer saved the shipment since it was loaded: nothing was written.

    Every save is conditional on the version it read (optimistic concurrency), so a decision
    taken on a stale copy can never overwrite a newer one; the writer reads again and decides
    again.
    """

    def __init__(self, shipment_id: uuid.UUID, version: int) -> None:
        super().__init__(f"shipment {shipment_id} changed since its version {version} was read")
        self.shipment_id = shipment_id
        self.version = version


class ShipmentStatus(StrEnum):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"

    def can_become(self, target: ShipmentStatus) -> bool:
        return target in _TRANSITIONS[self]


class ShipmentEventKind(StrEnum):
    """What happened to a shipment: every change it goes through is one of these."""

    CREATED = "created"
    DISPATCHED = "dispatched"
    FAILED = "failed"
    """A dispatch that did not happen: the supplier refused or failed it, or it was deferred
    on our side (an open breaker, a full bulkhead). The shipment stays pending."""
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    DISPATCHED_AFTER_CANCEL = "dispatched_after_cancel"
    """The supplier accepted a dispatch that was in flight when the shipment was cancelled."""
    ATTENTION_RESOLVED = "attention_resolved"


_TRANSITIONS: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    ShipmentStatus.PENDING: frozenset({ShipmentStatus.DISPATCHED, ShipmentStatus.CANCELLED}),
    ShipmentStatus.DISPATCHED: frozenset({ShipmentStatus.DELIVERED}),
    ShipmentStatus.DELIVERED: frozenset(),
    ShipmentStatus.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class ShipmentItem:
    sku: str
    quantity: int

    def __post_init__(self) -> None:
        if not self.sku.strip():
            raise InvalidShipment("an item needs a SKU")
        if self.quantity < 1:
            raise InvalidShipment(f"quantity of {self.sku} must be at least 1")


@dataclass(frozen=True)
class SupplierConfirmation:
    """What the supplier answered when it accepted a dispatch."""

    supplier_reference: str
    tracking_number: str

    def __post_init__(self) -> None:
        if not self.supplier_reference or not self.tracking_number:
            raise InvalidShipment("a supplier confirmation needs a reference and a tracking number")


@dataclass
class Shipment:
    """One order's shipment. Its status only moves along legal transitions."""

    order_ref: str
    destination: str
    items: tuple[ShipmentItem, ...]
    created_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    status: ShipmentStatus = ShipmentStatus.PENDING
    version: int = 1
    """The stored row's version: a save succeeds only over the version it was loaded at."""
    owner_id: int | None = None
    contact_email: str | None = None
    supplier_reference: str | None = None
    tracking_number: str | None = None
    attempt_count: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    needs_attention: bool = False
    """Staff must act: the supplier accepted a dispatch after the shipment was cancelled."""
    dispatched_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[ShipmentEventKind] = field(default_factory=list, compare=False, repr=False)
    """What happened to it since it was loaded or stored: the repository records these with the
    change that made them, in the same transaction, and clears them (docs/adr/0021)."""

    def __post_init__(self) -> None:
        if not self.order_ref.strip():
            raise InvalidShipment("a shipment needs an order reference")
        if not self.destination.strip():
            raise InvalidShipment("a shipment needs a destination")
        if not self.items:
            raise InvalidShipment("a shipment needs at least one item")
        if self.updated_at is None:
            self.updated_at = self.created_at

    @property
    def idempotency_key(self) -> str:
        """Stable for this shipment across retries and processes: the supplier dedupes on it."""
        return f"shipment-{self.id}"

    def record_creation(self) -> None:
        """A new shipment: its storing says so, as every later change does."""
        self.events.append(ShipmentEventKind.CREATED)

    def _move_to(self, target: ShipmentStatus, now: datetime) -> None:
        if not self.status.can_become(target):
            raise IllegalTransition(self.id, self.status, target)
        self.status = target
        self.updated_at = now

    def ensure_dispatchable(self) -> None:
        if not self.status.can_become(ShipmentStatus.DISPATCHED):
            raise IllegalTransition(self.id, self.status, ShipmentStatus.DISPATCHED)

    def mark_dispatched(self, confirmation: SupplierConfirmation, now: datetime) -> None:
        self._move_to(ShipmentStatus.DISPATCHED, now)
        self.supplier_reference = confirmation.supplier_reference
        self.tracking_number = confirmation.tracking_number
        self.dispatched_at = now
        self.attempt_count += 1
        self.next_attempt_at = None
        self.last_error = None
        self.events.append(ShipmentEventKind.DISPATCHED)

    def record_failed_attempt(self, reason: str, now: datetime, retry_at: datetime | None) -> None:
        """The supplier did not take it: stay pending, remember why and when (if ever) to retry."""
        self.ensure_dispatchable()
        self.attempt_count += 1
        self.last_error = reason
        self.next_attempt_at = retry_at
        self.updated_at = now
        self.events.append(ShipmentEventKind.FAILED)

    def record_deferral(self, reason: str, now: datetime, retry_at: datetime) -> None:
        """Not sent: refused on our side (an open breaker, a full bulkhead). Stay pending and
        come back at ``retry_at``; the supplier was not asked, so no attempt is counted."""
        self.ensure_dispatchable()
        self.last_error = reason
        self.next_attempt_at = retry_at
        self.updated_at = now
        self.events.append(ShipmentEventKind.FAILED)

    def record_dispatch_after_cancel(
        self, confirmation: SupplierConfirmation, now: datetime
    ) -> bool:
        """The supplier accepted a dispatch that was in flight when the shipment was cancelled.

        The cancel stands, but a parcel may leave: keep the supplier's answer and flag the
        shipment for staff. False when this answer is already recorded (a second worker got the
        same one, by the idempotency key).
        """
        if self.status is not ShipmentStatus.CANCELLED:
            raise LogisticsError(f"shipment {self.id} is {self.status}, not cancelled")
        if self.supplier_reference == confirmation.supplier_reference:
            return False
        self.supplier_reference = confirmation.supplier_reference
        self.tracking_number = confirmation.tracking_number
        self.attempt_count += 1
        self.next_attempt_at = None
        self.needs_attention = True
        self.last_error = (
            f"supplier accepted dispatch {confirmation.supplier_reference} (tracking "
            f"{confirmation.tracking_number}) after the shipment was cancelled: ask the "
            "supplier to stop it"
        )
        self.updated_at = now
        self.events.append(ShipmentEventKind.DISPATCHED_AFTER_CANCEL)
        return True

    def resolve_attention(self, now: datetime) -> bool:
        """Staff dealt with the conflict (the supplier was asked to stop the parcel); False when
        there was none. The reason stays in ``last_error`` as the record of what happened."""
        if not self.needs_attention:
            return False
        self.needs_attention = False
        self.updated_at = now
        self.events.append(ShipmentEventKind.ATTENTION_RESOLVED)
        return True

    def mark_delivered(self, now: datetime) -> None:
        self._move_to(ShipmentStatus.DELIVERED, now)
        self.delivered_at = now
        self.events.append(ShipmentEventKind.DELIVERED)

    def cancel(self, now: datetime) -> None:
        self._move_to(ShipmentStatus.CANCELLED, now)
        self.cancelled_at = now
        self.next_attempt_at = None
        self.events.append(ShipmentEventKind.CANCELLED)
