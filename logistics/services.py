"""LogisticsService: the facade of the logistics context, one method per use case.

It receives its ports by injection (``logistics.wiring`` builds it with the real adapters;
tests build it with fakes) and speaks the boundary's language: commands from
``logistics.contracts`` in, views out. Imports the domain, the ports and the contracts only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Sequence
from contextlib import suppress
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from logistics.contracts import (
    CreateShipment,
    DispatchOutcome,
    ImportReport,
    LegacyShipment,
    QuoteView,
    ShipmentListener,
    ShipmentView,
    SweepReport,
    TrackingView,
)
from logistics.domain import (
    CancelledDuringDispatch,
    IllegalTransition,
    Shipment,
    ShipmentChanged,
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
# A write that lost to another writer reads again and decides again, this many times at most.
MAX_WRITE_ATTEMPTS = 5

logger = logging.getLogger(__name__)


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
        attempt_backoff: timedelta | None = None,
        attempt_backoff_max: timedelta = MAX_RETRY_DELAY,
        listeners: Sequence[ShipmentListener] = (),
    ) -> None:
        self.repository = repository
        self.supplier = supplier
        self.notifier = notifier
        self.clock = clock
        self.retry_delay = retry_delay
        # A failed attempt's own backoff: from attempt_backoff (retry_delay unless given),
        # doubling, never past attempt_backoff_max. The breaker, not this, protects a failing
        # supplier: its refusals come back after retry_delay without climbing (docs/adr/0026).
        self.attempt_backoff = retry_delay if attempt_backoff is None else attempt_backoff
        self.attempt_backoff_max = attempt_backoff_max
        self.listeners = tuple(listeners)

    # ------------------------------------------------------------------ commands

    def create_shipment(self, command: CreateShipment) -> ShipmentView:
        """Create the order's shipment; idempotent on ``order_ref`` (returns the existing one)."""
        shipment = _shipment(command, created_at=self.clock.now())
        shipment.record_creation()
        stored, created = self.repository.add_if_absent(shipment)
        if created:
            self._tell(stored)
        return ShipmentView.of(stored)

    def dispatch(self, shipment_id: uuid.UUID) -> DispatchOutcome:
        """Hand a pending shipment to the supplier.

        A supplier failure never loses the shipment: it stays pending with the reason and, when
        trying again may help, the time of its next attempt. A shipment that is not pending
        raises IllegalTransition, whether it was so before the call or became so during it
        (cancelled meanwhile: CancelledDuringDispatch when the supplier accepted it). One
        dispatched meanwhile by another worker, with the same idempotency key, is the same
        dispatch: it is returned as dispatched.
        """
        shipment = self.repository.get(shipment_id)
        shipment.ensure_dispatchable()
        request = DispatchRequest(
            order_ref=shipment.order_ref,
            destination=shipment.destination,
            items=shipment.items,
            idempotency_key=shipment.idempotency_key,
        )
        # No lock is held during the call (up to the background deadline, 30 s): a cancel may
        # land meanwhile, and the answer is decided again over whatever was saved then.
        try:
            confirmation: SupplierConfirmation = self.supplier.dispatch(request)
        except SupplierFailure as failure:
            return self._record_failure(shipment, failure)
        return self._record_dispatch(shipment, confirmation)

    def _record_dispatch(
        self, shipment: Shipment, confirmation: SupplierConfirmation
    ) -> DispatchOutcome:
        now = self.clock.now()

        def apply(current: Shipment) -> bool:
            if current.status is ShipmentStatus.PENDING:
                current.mark_dispatched(confirmation, now)
                return True
            if current.status is ShipmentStatus.CANCELLED:
                return current.record_dispatch_after_cancel(confirmation, now)
            return False  # dispatched by another worker: the supplier's same dispatch

        stored = self._write(shipment, apply)
        if stored.status is ShipmentStatus.CANCELLED:
            logger.warning(
                "supplier accepted dispatch %s of shipment %s (order %s) after it was "
                "cancelled: it needs attention",
                confirmation.supplier_reference,
                stored.id,
                stored.order_ref,
            )
            raise CancelledDuringDispatch(stored.id, confirmation.supplier_reference)
        return DispatchOutcome(shipment=ShipmentView.of(stored), dispatched=True)

    def _refusal_delay(self, failure: SupplierFailure) -> timedelta:
        if failure.retry_after is None:
            return self.retry_delay
        return max(self.retry_delay, timedelta(seconds=failure.retry_after))

    def _record_failure(self, shipment: Shipment, failure: SupplierFailure) -> DispatchOutcome:
        now = self.clock.now()

        def apply(current: Shipment) -> bool:
            if current.status is not ShipmentStatus.PENDING:
                return False  # cancelled or dispatched meanwhile: that outcome stands
            if failure.kind in REFUSED_ON_OUR_SIDE:
                # The supplier said nothing about this shipment: it comes back after the first
                # delay, and its backoff does not climb. Counted as attempts, the refusals of
                # an open breaker would push a whole herd's retries out to half an hour. Not
                # before an open breaker lets a trial call through, either: every return
                # before that is refused again, a task run for nothing (docs/adr/0026).
                current.record_deferral(str(failure), now, now + self._refusal_delay(failure))
            else:
                retry_at = now + self._backoff(current.attempt_count) if failure.retryable else None
                current.record_failed_attempt(str(failure), now, retry_at)
            return True

        stored = self._write(shipment, apply)
        if stored.status is ShipmentStatus.CANCELLED:
            raise IllegalTransition(stored.id, stored.status, ShipmentStatus.DISPATCHED)
        if stored.status is not ShipmentStatus.PENDING:
            return DispatchOutcome(shipment=ShipmentView.of(stored), dispatched=True)
        return DispatchOutcome(
            shipment=ShipmentView.of(stored),
            dispatched=False,
            failure_kind=failure.kind,
            failure_status=failure.status,
            failure_detail=failure.detail,
        )

    def dispatch_due(self, limit: int = 100) -> SweepReport:
        """Try again every pending shipment whose next attempt is due (the scheduled retry)."""
        due = self.repository.due_for_dispatch(self.clock.now(), limit)
        dispatched = 0
        for shipment in due:
            # Dispatched or cancelled by someone else since we looked, or still being changed
            # by others (ShipmentChanged): theirs is the decision; the next sweep looks again.
            with suppress(IllegalTransition, ShipmentChanged):
                dispatched += self.dispatch(shipment.id).dispatched
        return SweepReport(due=len(due), dispatched=dispatched, deferred=len(due) - dispatched)

    def claim_due_shipments(
        self, limit: int, *, lease: timedelta, queued_since: datetime | None = None
    ) -> list[uuid.UUID]:
        """Lease, for ``lease``, up to ``limit`` pending shipments whose dispatch task was lost:
        due, and held by no lease (a task queued, waiting for its retry or running holds one;
        a shipment's creation holds one for ``lease``). With ``queued_since`` (the oldest task
        still waiting in the queue was sent then), one handed over since is left alone: its task
        may be waiting behind that one. However many sweeps run at once, a shipment goes to
        one of them, and to none again within the lease.
        """
        now = self.clock.now()
        return self.repository.claim_due_for_dispatch(
            now,
            limit,
            until=now + lease,
            never_tried_before=now - lease,
            queued_since=queued_since,
        )

    def lease_dispatch(
        self, shipment_id: uuid.UUID, lease: timedelta | None, *, handed_over: bool = False
    ) -> None:
        """Hold the shipment's dispatch for ``lease`` from now (None: release it to the
        sweeps); ``handed_over``: a task for it is being handed to the broker now."""
        now = self.clock.now()
        self.repository.lease_dispatch(
            shipment_id,
            None if lease is None else now + lease,
            handed_over_at=now if handed_over else None,
        )

    def dispatch_order(self, order_ref: str) -> DispatchOutcome:
        return self.dispatch(self.repository.get_by_order_ref(order_ref).id)

    def record_delivery(self, shipment_id: uuid.UUID) -> ShipmentView:
        """Mark the shipment delivered and mail its contact; idempotent.

        The shipment is saved on ``logistics`` and the mail recorded on ``default``, which share
        no transaction: a caller that failed between the two calls again, and the delivered
        shipment gets the mail it is owed (once: the notification's idempotency key).
        """
        now = self.clock.now()

        def apply(current: Shipment) -> bool:
            if current.status is ShipmentStatus.DELIVERED:
                return False
            current.mark_delivered(now)
            return True

        shipment = self._write(self.repository.get(shipment_id), apply)
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
        """Cancel a pending shipment; a dispatched or delivered one raises IllegalTransition.

        Idempotent: a cancelled shipment is returned unchanged, so a caller that failed after
        the cancel (the legacy order cancel, half applied) may simply call again.
        """
        now = self.clock.now()

        def apply(current: Shipment) -> bool:
            if current.status is ShipmentStatus.CANCELLED:
                return False
            current.cancel(now)
            return True

        return ShipmentView.of(self._write(self.repository.get(shipment_id), apply))

    def resolve_attention(self, shipment_id: uuid.UUID) -> ShipmentView:
        """Staff dealt with a dispatch accepted after its cancel; idempotent."""
        now = self.clock.now()
        shipment = self._write(
            self.repository.get(shipment_id), lambda current: current.resolve_attention(now)
        )
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
                last_error=record.last_error,
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

    def _write(self, shipment: Shipment, change: Callable[[Shipment], bool]) -> Shipment:
        """Apply ``change`` to the shipment and save it over the version it was read at.

        ``change`` decides on the copy it is given and returns False when that copy needs no
        write. When another writer saved first, the shipment is read again and ``change``
        decides again on the fresh copy: at most MAX_WRITE_ATTEMPTS times, each conflict being
        another writer's progress; past that, ShipmentChanged propagates. Returns the shipment
        as stored; the listeners are told of it when it was written.
        """
        attempt = 1
        while change(shipment):
            try:
                self.repository.save(shipment)
            except ShipmentChanged:
                if attempt == MAX_WRITE_ATTEMPTS:
                    raise
                attempt += 1
                shipment = self.repository.get(shipment.id)
                continue
            self._tell(shipment)
            break
        return shipment

    def _tell(self, shipment: Shipment) -> None:
        """Tell every listener of a committed change of the shipment.

        The change is committed whatever a listener does, so a listener that raises never fails
        the use case: the failure is logged and the next listener is told. A listener keeps its
        copy right through the versions of later changes (ShipmentListener).
        """
        view = ShipmentView.of(shipment)
        for listener in self.listeners:
            try:
                listener.shipment_changed(view)
            except Exception:
                logger.exception(
                    "shipment listener %s failed on shipment %s at version %s",
                    type(listener).__qualname__,
                    view.id,
                    view.version,
                )

    def _backoff(self, attempts_so_far: int) -> timedelta:
        growing = self.attempt_backoff * (1 << min(attempts_so_far, 16))
        return min(growing, self.attempt_backoff_max)
