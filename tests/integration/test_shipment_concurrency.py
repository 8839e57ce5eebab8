"""Concurrent writers of one shipment, in real threads on the real database (SQLite, PostgreSQL).

Every write is conditional on the version it read: the loser reads again and decides again, so
no decision taken on a stale copy overwrites a newer one (issue 12: a cancel that landed while
a supplier call was in flight used to be overwritten by the dispatch). The threads meet at
events and barriers, never at sleeps; the supplier is a fake held at those points.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from logistics.adapters.orm import DjangoShipmentRepository
from logistics.contracts import CreateShipment, ItemIn
from logistics.domain import (
    CancelledDuringDispatch,
    IllegalTransition,
    Shipment,
    ShipmentStatus,
    SupplierConfirmation,
)
from logistics.ports import DispatchRequest, ShipmentRepository
from logistics.services import LogisticsService
from tests.integration.concurrency import WAIT_SECONDS, InThread, wait_for
from tests.unit.logistics.fakes import FakeNotifier, FakeSupplier, FixedClock

pytestmark = [
    pytest.mark.django_db(databases=["default", "logistics"], transaction=True),
    pytest.mark.usefixtures("logistics_shared_by_threads"),
]


@dataclass
class HeldSupplier(FakeSupplier):
    """The fake supplier, holding every dispatch call at ``hold`` before it answers."""

    hold: Callable[[], object] = lambda: None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def dispatch(self, request: DispatchRequest) -> SupplierConfirmation:
        self.hold()
        with self._lock:  # the fake's ledger is not thread-safe; the real supplier's is
            return super().dispatch(request)


class HeldRepository(DjangoShipmentRepository):
    """The ORM repository, holding every save at ``hold``: between a use case's read and its
    write."""

    def __init__(self, hold: Callable[[], object]) -> None:
        super().__init__()
        self.hold = hold

    def save(self, shipment: Shipment) -> None:
        self.hold()
        super().save(shipment)


def service(
    supplier: FakeSupplier | None = None, repository: ShipmentRepository | None = None
) -> LogisticsService:
    return LogisticsService(
        repository=repository or DjangoShipmentRepository(),
        supplier=supplier or FakeSupplier(),
        notifier=FakeNotifier(),
        clock=FixedClock(),
        retry_delay=timedelta(minutes=1),
    )


def pending_shipment() -> uuid.UUID:
    command = CreateShipment(
        order_ref="ORD-000001", destination="1 Dock Road", items=[ItemIn(sku="BOX-S", quantity=1)]
    )
    return service().create_shipment(command).id


def stored(shipment_id: uuid.UUID) -> Shipment:
    return DjangoShipmentRepository().get(shipment_id)


def test_a_cancel_while_the_supplier_call_is_in_flight_is_never_overwritten():
    shipment_id = pending_shipment()
    in_flight, answer = threading.Event(), threading.Event()

    def hold_the_call() -> None:
        in_flight.set()
        wait_for(answer)

    supplier = HeldSupplier(hold=hold_the_call)
    dispatch = InThread(lambda: service(supplier).dispatch(shipment_id))
    wait_for(in_flight)
    service().cancel(shipment_id)  # a staff member, while the worker waits on the supplier
    answer.set()

    with pytest.raises(CancelledDuringDispatch):
        dispatch.outcome()
    shipment = stored(shipment_id)
    assert (shipment.status, shipment.dispatched_at) == (ShipmentStatus.CANCELLED, None)
    assert shipment.cancelled_at is not None
    # The supplier took it all the same: its answer is kept, for staff to stop the parcel.
    assert (shipment.supplier_reference, shipment.needs_attention) == ("SUP-000001", True)
    assert shipment.version == 3


def test_two_workers_dispatching_one_shipment_at_once_write_one_dispatch():
    shipment_id = pending_shipment()
    both_in_flight = threading.Barrier(2, timeout=WAIT_SECONDS)
    supplier = HeldSupplier(hold=both_in_flight.wait)  # both read version 1 before either saves
    workers = [InThread(lambda: service(supplier).dispatch(shipment_id)) for _ in range(2)]

    outcomes = [worker.outcome() for worker in workers]

    assert [outcome.dispatched for outcome in outcomes] == [True, True]
    assert len(supplier.requests) == 2 and len(supplier.accepted) == 1  # one key, one dispatch
    shipment = stored(shipment_id)
    assert (shipment.status, shipment.attempt_count, shipment.version) == (
        ShipmentStatus.DISPATCHED,
        1,
        2,  # created, then one dispatch written: the loser found it dispatched
    )
    assert {outcome.shipment.version for outcome in outcomes} == {2}


def test_a_cancel_that_read_a_pending_shipment_never_overwrites_its_delivery():
    shipment_id = pending_shipment()
    read, write = threading.Event(), threading.Event()

    def hold_the_save() -> None:
        read.set()
        wait_for(write)

    cancel = InThread(lambda: service(repository=HeldRepository(hold_the_save)).cancel(shipment_id))
    wait_for(read)  # the cancel decided on the pending copy and is about to save it
    worker = service()
    worker.dispatch(shipment_id)
    worker.record_delivery(shipment_id)
    write.set()

    with pytest.raises(IllegalTransition) as illegal:
        cancel.outcome()
    assert illegal.value.current is ShipmentStatus.DELIVERED
    shipment = stored(shipment_id)
    assert (shipment.status, shipment.cancelled_at) == (ShipmentStatus.DELIVERED, None)
    assert shipment.delivered_at is not None
