"""LogisticsService: the facade of the logistics context, one method per use case.

It receives its ports by injection (``logistics.wiring`` builds it with the real adapters;
tests build it with fakes) and speaks the boundary's language: commands from
``logistics.contracts`` in, views out. Imports the domain, the ports and the contracts only.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from contextlib import suppress
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from logistics.contracts import (
    CreateShipment,
    DispatchOutcome,
    ImportReport,
    LegacyShipment,
    QuoteView,
    ShipmentView,
    SweepReport,
    TrackingView,
)
from logistics.domain import (
    IllegalTransition,
    Shipment,
    ShipmentItem,
    ShipmentStatus,
    SupplierConfirmation,
)
from logistics.ports import (
    Clock,
    DispatchRequest,
    Notifier,
    ShipmentRepository,
    SupplierFailure,
    SupplierGateway,
)

DEFAULT_RETRY_DELAY = timedelta(minutes=1)
MAX_RETRY_DELAY = timedelta(minutes=30)
# Supplier failures that are refusals on our side: the call was never sent.
REFUSED_ON_OUR_SIDE = ("circuit_open", "bulkhead_full")


def _shipment(command: CreateShipment, **state: Any) -> Shipment:
    """The domain shipment a creation command describes; ``state`` sets the rest (status...)."""
    return Shipment(
        order_ref=command.order_ref,
        destination=command.destination,
        items=tuple(ShipmentItem(sku=item.sku, quantity=item.quantity) for item in command.items),
        owner_id=command.owner_id,
        contact_email=command.contact_email,
        **state,
    )


class LogisticsService:
    def __init__(
        self,
        *,
        repository: ShipmentRepository,
        supplier: SupplierGateway,
        notifier: Notifier,
        clock: Clock,
        retry_delay: timedelta = DEFAULT_RETRY_DELAY,
    ) -> None:
        self.repository = repository
        self.supplier = supplier
        self.notifier = notifier
        self.clock = clock
        self.retry_delay = retry_delay

    # ------------------------------------------------------------------ commands

    def create_shipment(self, command: CreateShipment) -> ShipmentView:
        """Create the order's shipment; idempotent on ``order_ref`` (returns the existing one)."""
        shipment = _shipment(command, created_at=self.clock.now())
        stored, _created = self.repository.add_if_absent(shipment)
        return ShipmentView.of(stored)

    def dispatch(self, shipment_id: uuid.UUID) -> DispatchOutcome:
        """Hand a pending shipment to the supplier.

        A supplier failure never loses the shipment: it stays pending with the reason and, when
        trying again may help, the time of its next attempt. Only a shipment that is not pending
        raises (IllegalTransition).
        """
        shipment = self.repository.get(shipment_id)
        shipment.ensure_dispatchable()
        request = DispatchRequest(
            order_ref=shipment.order_ref,
            destination=shipment.destination,
            items=shipment.items,
            idempotency_key=shipment.idempotency_key,
        )
        try:
            confirmation: SupplierConfirmation = self.supplier.dispatch(request)
        except SupplierFailure as failure:
            now = self.clock.now()
            if failure.kind in REFUSED_ON_OUR_SIDE:
                # The supplier said nothing about this shipment: it comes back after the first
                # delay, and its backoff does not climb. Counted as attempts, the refusals of
                # an open breaker would push a whole herd's retries out to half an hour.
                shipment.record_deferral(str(failure), now, now + self.retry_delay)
            else:
                retry_at = (
                    now + self._backoff(shipment.attempt_count) if failure.retryable else None
                )
                shipment.record_failed_attempt(str(failure), now, retry_at)
            self.repository.save(shipment)
            return DispatchOutcome(
                shipment=ShipmentView.of(shipment),
                dispatched=False,
                failure_kind=failure.kind,
                failure_status=failure.status,
                failure_detail=failure.detail,
            )
        shipment.mark_dispatched(confirmation, self.clock.now())
        self.repository.save(shipment)
        return DispatchOutcome(shipment=ShipmentView.of(shipment), dispatched=True)

    def dispatch_due(self, limit: int = 100) -> SweepReport:
        """Try again every pending shipment whose next attempt is due (the scheduled retry)."""
        due = self.repository.due_for_dispatch(self.clock.now(), limit)
        dispatched = 0
        for shipment in due:
            # IllegalTransition: dispatched or cancelled by someone else since we looked.
            with suppress(IllegalTransition):
                dispatched += self.dispatch(shipment.id).dispatched
        return SweepReport(due=len(due), dispatched=dispatched, deferred=len(due) - dispatched)

    def due_shipment_ids(
        self, limit: int = 500, *, overdue_by: timedelta = timedelta(0)
    ) -> list[uuid.UUID]:
        """The pending shipments due for at least ``overdue_by``, for a sweep to hand to workers."""
        due = self.repository.due_for_dispatch(self.clock.now() - overdue_by, limit)
        return [shipment.id for shipment in due]

    def dispatch_order(self, order_ref: str) -> DispatchOutcome:
        return self.dispatch(self.repository.get_by_order_ref(order_ref).id)

    def record_delivery(self, shipment_id: uuid.UUID) -> ShipmentView:
        """Mark the shipment delivered and mail its contact; idempotent.

        The shipment is saved on ``logistics`` and the mail recorded on ``default``, which share
        no transaction: a caller that failed between the two calls again, and the delivered
        shipment gets the mail it is owed (once: the notification's idempotency key).
        """
        shipment = self.repository.get(shipment_id)
        if shipment.status is not ShipmentStatus.DELIVERED:
            shipment.mark_delivered(self.clock.now())
            self.repository.save(shipment)
        if shipment.contact_email:
            self.notifier.notify(
                "shipment_delivered",
                shipment.contact_email,
                {
                    "order_ref": shipment.order_ref,
                    "tracking_number": shipment.tracking_number or "",
                },
                idempotency_key=f"{shipment.idempotency_key}-delivered",
            )
        return ShipmentView.of(shipment)

    def cancel(self, shipment_id: uuid.UUID) -> ShipmentView:
        shipment = self.repository.get(shipment_id)
        shipment.cancel(self.clock.now())
        self.repository.save(shipment)
        return ShipmentView.of(shipment)

    def cancel_order(self, order_ref: str) -> ShipmentView:
        return self.cancel(self.repository.get_by_order_ref(order_ref).id)

    def import_legacy(self, records: Sequence[LegacyShipment]) -> ImportReport:
        """Copy shipments described by legacy order columns; orders that have one are skipped."""
        shipments = [
            _shipment(
                record,
                status=record.status,
                supplier_reference=record.supplier_reference,
                tracking_number=record.tracking_number,
                dispatched_at=record.dispatched_at,
                cancelled_at=record.cancelled_at,
                attempt_count=1 if record.status is ShipmentStatus.DISPATCHED else 0,
                created_at=record.created_at,
                updated_at=self.clock.now(),
            )
            for record in records
        ]
        created = self.repository.add_many_if_absent(shipments)
        return ImportReport(received=len(records), created=created)

    # ------------------------------------------------------------------ queries

    def get(self, shipment_id: uuid.UUID) -> ShipmentView:
        return ShipmentView.of(self.repository.get(shipment_id))

    def get_for_order(self, order_ref: str) -> ShipmentView:
        return ShipmentView.of(self.repository.get_by_order_ref(order_ref))

    def find_for_orders(self, order_refs: Collection[str]) -> dict[str, ShipmentView]:
        found = self.repository.find_by_order_refs(order_refs)
        return {order_ref: ShipmentView.of(shipment) for order_ref, shipment in found.items()}

    def quote(self, sku: str, quantity: int) -> QuoteView | None:
        """The supplier's quote, possibly the last known good one (stale); None when neither."""
        try:
            quote = self.supplier.quote(sku, quantity)
        except SupplierFailure:
            return None
        return QuoteView(**asdict(quote))

    def supplier_status(self, supplier_reference: str) -> str:
        """The supplier's own status of a dispatch it holds, or ``unknown`` when it cannot say."""
        try:
            return self.supplier.dispatch_status(supplier_reference)
        except SupplierFailure:
            return "unknown"

    def track(self, order_ref: str) -> TrackingView:
        """Where the order's shipment is, with the supplier's own status when it can be asked."""
        shipment = self.repository.get_by_order_ref(order_ref)
        supplier_status = None
        if shipment.supplier_reference:
            supplier_status = self.supplier_status(shipment.supplier_reference)
        return TrackingView(
            order_ref=shipment.order_ref,
            status=shipment.status,
            supplier_reference=shipment.supplier_reference,
            tracking_number=shipment.tracking_number,
            dispatched_at=shipment.dispatched_at,
            supplier_status=supplier_status,
        )

    # ------------------------------------------------------------------ internals

    def _backoff(self, attempts_so_far: int) -> timedelta:
        return min(self.retry_delay * (1 << min(attempts_so_far, 16)), MAX_RETRY_DELAY)
