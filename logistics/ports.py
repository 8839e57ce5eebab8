"""The ports of the logistics context: what its services need from the outside world.

Each is a ``typing.Protocol``: the services depend on these shapes only, the adapters in
``logistics.adapters`` implement them for production, and the fakes in ``tests/`` implement
them for unit tests (mypy checks both). Imports only the domain.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from logistics.domain import LogisticsError, Shipment, ShipmentItem, SupplierConfirmation


class ShipmentRepository(Protocol):
    def get(self, shipment_id: uuid.UUID) -> Shipment:
        """The shipment, or ShipmentNotFound."""
        ...

    def get_by_order_ref(self, order_ref: str) -> Shipment:
        """The order's shipment, or ShipmentNotFound."""
        ...

    def find_by_order_refs(self, order_refs: Collection[str]) -> dict[str, Shipment]: ...

    def due_for_dispatch(self, now: datetime, limit: int) -> list[Shipment]:
        """Pending shipments whose next attempt is due, or that were never attempted."""
        ...

    def claim_due_for_dispatch(
        self,
        now: datetime,
        limit: int,
        *,
        until: datetime,
        never_tried_before: datetime,
        queued_since: datetime | None = None,
    ) -> list[uuid.UUID]:
        """Lease, until ``until``, up to ``limit`` pending shipments whose dispatch nothing
        holds: due at ``now`` (or never attempted and created before ``never_tried_before``),
        no lease running at ``now``, and, when ``queued_since`` is given, last handed over
        before it (the oldest task waiting in the queue was sent then: a later hand-over may
        still be waiting). Record the hand-over at ``now``; return their ids. However many
        callers claim at once, each shipment is claimed by one of them."""
        ...

    def lease_dispatch(
        self, shipment_id: uuid.UUID, until: datetime | None, *, handed_over_at: datetime | None
    ) -> None:
        """Hold the shipment's dispatch until ``until`` (None: release it to the sweeps), and
        record a hand-over of its task at ``handed_over_at`` when given. Not a change of the
        shipment: its version stays."""
        ...

    def add_if_absent(self, shipment: Shipment) -> tuple[Shipment, bool]:
        """Store it unless its order has one, with the events it carries, in one transaction;
        return the stored one and whether it is new."""
        ...

    def add_many_if_absent(self, shipments: Sequence[Shipment]) -> int:
        """Store those whose order has none yet, in one go, announcing nothing (a backfill
        copies what the other side has already); return how many were stored."""
        ...

    def save(self, shipment: Shipment) -> None:
        """Store it over the version it was loaded at, bump its version and record the events
        it carries (``Shipment.events``, at the new version), all in one transaction; or raise
        ShipmentChanged (another writer saved first: nothing is written)."""
        ...


@dataclass(frozen=True)
class DispatchRequest:
    order_ref: str
    destination: str
    items: tuple[ShipmentItem, ...]
    idempotency_key: str


FailureKind = Literal[
    "unavailable", "unreachable", "timeout", "rejected", "circuit_open", "bulkhead_full"
]


class SupplierFailure(LogisticsError):
    """The supplier did not accept the request.

    ``rejected`` means the supplier refused this request (a 4xx): trying again cannot help.
    Every other kind is about the supplier's health or our protection from it, so the shipment
    is kept and tried again later (``retryable``).
    """

    def __init__(
        self,
        kind: FailureKind,
        detail: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"supplier {kind}: {detail}")
        self.kind: FailureKind = kind
        self.detail = detail
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind != "rejected"


@dataclass(frozen=True)
class Quote:
    sku: str
    quantity: int
    unit_cost: Decimal
    shipping_cost: Decimal
    currency: str
    lead_time_days: int
    stale: bool = False
    age_seconds: float | None = None


class SupplierGateway(Protocol):
    def dispatch(self, request: DispatchRequest) -> SupplierConfirmation:
        """Hand the shipment to the supplier, or raise SupplierFailure."""
        ...

    def dispatch_status(self, supplier_reference: str) -> str:
        """The supplier's own status for a dispatch, or raise SupplierFailure."""
        ...

    def quote(self, sku: str, quantity: int) -> Quote:
        """A price quote; possibly the last known good one, marked stale. Or SupplierFailure."""
        ...


class Notifier(Protocol):
    def notify(
        self, kind: str, recipient: str, context: Mapping[str, str], idempotency_key: str
    ) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
