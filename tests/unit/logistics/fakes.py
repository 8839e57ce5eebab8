"""In-memory fakes of the logistics ports, checked against the Protocols by mypy (bottom)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from logistics.contracts import ShipmentEvent, ShipmentListener, ShipmentView
from logistics.domain import (
    Shipment,
    ShipmentChanged,
    ShipmentNotFound,
    ShipmentStatus,
    SupplierConfirmation,
)
from logistics.ports import (
    Clock,
    DispatchRequest,
    Notifier,
    Quote,
    ShipmentRepository,
    SupplierFailure,
    SupplierGateway,
)


class FakeShipmentRepository:
    """Stores copies; ``recorded`` holds the events every write stored with it, in order."""

    def __init__(self) -> None:
        self._by_id: dict[uuid.UUID, Shipment] = {}
        self.claimed_until: dict[uuid.UUID, datetime] = {}
        self.handed_over_at: dict[uuid.UUID, datetime] = {}
        self.recorded: list[ShipmentEvent] = []

    def _record(self, shipment: Shipment) -> None:
        kinds, shipment.events = shipment.events, []
        self.recorded += [ShipmentEvent.of(shipment, kind) for kind in kinds]

    def get(self, shipment_id: uuid.UUID) -> Shipment:
        try:
            return copy.deepcopy(self._by_id[shipment_id])
        except KeyError:
            raise ShipmentNotFound(shipment_id) from None

    def get_by_order_ref(self, order_ref: str) -> Shipment:
        for shipment in self._by_id.values():
            if shipment.order_ref == order_ref:
                return copy.deepcopy(shipment)
        raise ShipmentNotFound(order_ref)

    def find_by_order_refs(self, order_refs: Collection[str]) -> dict[str, Shipment]:
        wanted = set(order_refs)
        return {
            s.order_ref: copy.deepcopy(s) for s in self._by_id.values() if s.order_ref in wanted
        }

    def due_for_dispatch(self, now: datetime, limit: int) -> list[Shipment]:
        due = [
            s
            for s in self._by_id.values()
            if s.status is ShipmentStatus.PENDING
            and s.next_attempt_at is not None
            and s.next_attempt_at <= now
        ]
        return [copy.deepcopy(s) for s in due[:limit]]

    def claim_due_for_dispatch(
        self,
        now: datetime,
        limit: int,
        *,
        until: datetime,
        never_tried_before: datetime,
        queued_since: datetime | None = None,
    ) -> list[uuid.UUID]:
        def due(s: Shipment) -> bool:
            if s.status is not ShipmentStatus.PENDING:
                return False
            if s.next_attempt_at is None:
                return s.attempt_count == 0 and s.created_at < never_tried_before
            return s.next_attempt_at <= now

        def lost(s: Shipment) -> bool:
            handed_over = self.handed_over_at.get(s.id, s.created_at)
            return queued_since is None or handed_over < queued_since

        free = [
            s.id
            for s in self._by_id.values()
            if due(s) and self.claimed_until.get(s.id, now) <= now and lost(s)
        ][:limit]
        self.claimed_until.update(dict.fromkeys(free, until))
        self.handed_over_at.update(dict.fromkeys(free, now))
        return free

    def lease_dispatch(
        self, shipment_id: uuid.UUID, until: datetime | None, *, handed_over_at: datetime | None
    ) -> None:
        if until is None:
            self.claimed_until.pop(shipment_id, None)
        else:
            self.claimed_until[shipment_id] = until
        if handed_over_at is not None:
            self.handed_over_at[shipment_id] = handed_over_at

    def add_if_absent(self, shipment: Shipment) -> tuple[Shipment, bool]:
        try:
            return self.get_by_order_ref(shipment.order_ref), False
        except ShipmentNotFound:
            self._record(shipment)
            self._by_id[shipment.id] = copy.deepcopy(shipment)
            return shipment, True

    def add_many_if_absent(self, shipments: Sequence[Shipment]) -> int:
        return sum(self.add_if_absent(shipment)[1] for shipment in shipments)

    def save(self, shipment: Shipment) -> None:
        stored = self._by_id.get(shipment.id)
        if stored is None:
            raise ShipmentNotFound(shipment.id)
        if stored.version != shipment.version:
            raise ShipmentChanged(shipment.id, shipment.version)
        shipment.version += 1
        self._record(shipment)
        self._by_id[shipment.id] = copy.deepcopy(shipment)


@dataclass
class FakeSupplier:
    """Accepts dispatches (deduplicating on the idempotency key) or fails as told.

    ``while_in_flight`` runs once, inside the next dispatch call, before the supplier answers:
    what another writer does while a call is in flight (a cancel, another worker's dispatch).
    """

    failure: SupplierFailure | None = None
    requests: list[DispatchRequest] = field(default_factory=list)
    accepted: dict[str, SupplierConfirmation] = field(default_factory=dict)
    while_in_flight: Callable[[], object] | None = None

    def dispatch(self, request: DispatchRequest) -> SupplierConfirmation:
        self.requests.append(request)
        meanwhile, self.while_in_flight = self.while_in_flight, None
        if meanwhile is not None:
            meanwhile()
        if self.failure is not None:
            raise self.failure
        if request.idempotency_key not in self.accepted:
            number = len(self.accepted) + 1
            self.accepted[request.idempotency_key] = SupplierConfirmation(
                supplier_reference=f"SUP-{number:06d}", tracking_number=f"TRK{number:010d}"
            )
        return self.accepted[request.idempotency_key]

    def dispatch_status(self, supplier_reference: str) -> str:
        if self.failure is not None:
            raise self.failure
        return "accepted"

    def quote(self, sku: str, quantity: int) -> Quote:
        if self.failure is not None:
            raise self.failure
        return Quote(sku, quantity, Decimal("9.99"), Decimal("4.50"), "EUR", 3)


@dataclass
class FakeNotifier:
    sent: list[tuple[str, str, dict[str, str], str]] = field(default_factory=list)

    def notify(
        self, kind: str, recipient: str, context: Mapping[str, str], idempotency_key: str
    ) -> None:
        self.sent.append((kind, recipient, dict(context), idempotency_key))


@dataclass
class FakeListener:
    """Records every view it is told of; raises ``failure`` instead when one is set."""

    told: list[ShipmentView] = field(default_factory=list)
    failure: Exception | None = None

    def shipment_changed(self, shipment: ShipmentView) -> None:
        if self.failure is not None:
            raise self.failure
        self.told.append(shipment)


@dataclass
class FixedClock:
    current: datetime = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


# mypy proves the fakes satisfy the ports they stand in for.
_repository: ShipmentRepository = FakeShipmentRepository()
_supplier: SupplierGateway = FakeSupplier()
_notifier: Notifier = FakeNotifier()
_clock: Clock = FixedClock()
_listener: ShipmentListener = FakeListener()
