"""LogisticsService tells its listeners of every change it commits, and nothing else."""

from __future__ import annotations

import logging
import uuid

import pytest

from logistics.contracts import CreateShipment, ItemIn
from logistics.domain import CancelledDuringDispatch, ShipmentStatus
from logistics.ports import SupplierFailure
from logistics.services import LogisticsService
from tests.unit.logistics.fakes import (
    FakeListener,
    FakeNotifier,
    FakeShipmentRepository,
    FixedClock,
)


def create(service: LogisticsService) -> uuid.UUID:
    command = CreateShipment(
        order_ref="ORD-000001",
        destination="1 Dock Road",
        items=[ItemIn(sku="BOX-S", quantity=2)],
        contact_email="ada@example.com",
    )
    return service.create_shipment(command).id


def test_every_write_is_told_once_with_the_view_as_stored(service, supplier, listener):
    shipment_id = create(service)
    supplier.failure = SupplierFailure("unavailable", "HTTP 503", 503)
    service.dispatch(shipment_id)  # a failed attempt
    supplier.failure = SupplierFailure("circuit_open", "breaker open")
    service.dispatch(shipment_id)  # a deferral
    supplier.failure = None
    service.dispatch(shipment_id)
    delivered = service.record_delivery(shipment_id)

    assert [(v.version, v.status, v.attempt_count) for v in listener.told] == [
        (1, ShipmentStatus.PENDING, 0),
        (2, ShipmentStatus.PENDING, 1),
        (3, ShipmentStatus.PENDING, 1),
        (4, ShipmentStatus.DISPATCHED, 2),
        (5, ShipmentStatus.DELIVERED, 2),
    ]
    assert listener.told[-1] == delivered
    assert listener.told[2].last_error == "supplier circuit_open: breaker open"


def test_a_cancel_is_told(service, listener):
    shipment_id = create(service)

    cancelled = service.cancel(shipment_id)

    assert listener.told[-1] == cancelled


def test_calls_that_change_nothing_tell_nothing(service, listener):
    shipment_id = create(service)
    create(service)  # the same order again: the existing shipment
    service.cancel(shipment_id)
    told = len(listener.told)

    service.cancel(shipment_id)  # already cancelled
    service.resolve_attention(shipment_id)  # nothing to resolve
    service.get(shipment_id)

    assert len(listener.told) == told == 2


def test_a_dispatch_accepted_after_a_cancel_is_told_after_the_cancel(service, supplier, listener):
    shipment_id = create(service)
    supplier.while_in_flight = lambda: service.cancel(shipment_id)

    with pytest.raises(CancelledDuringDispatch):
        service.dispatch(shipment_id)

    assert [(v.version, v.status, v.needs_attention) for v in listener.told] == [
        (1, ShipmentStatus.PENDING, False),
        (2, ShipmentStatus.CANCELLED, False),
        (3, ShipmentStatus.CANCELLED, True),
    ]
    assert listener.told[-1].supplier_reference == "SUP-000001"


def test_the_worker_that_lost_a_dispatch_race_tells_nothing(service, supplier, listener):
    shipment_id = create(service)
    supplier.while_in_flight = lambda: service.dispatch(shipment_id)

    service.dispatch(shipment_id)

    assert [v.status for v in listener.told] == [ShipmentStatus.PENDING, ShipmentStatus.DISPATCHED]


def test_a_failing_listener_never_fails_the_use_case_and_the_others_are_still_told(
    supplier, caplog
):
    broken = FakeListener(failure=RuntimeError("legacy database unreachable"))
    working = FakeListener()
    repository = FakeShipmentRepository()
    service = LogisticsService(
        repository=repository,
        supplier=supplier,
        notifier=FakeNotifier(),
        clock=FixedClock(),
        listeners=[broken, working],
    )
    shipment_id = create(service)

    with caplog.at_level(logging.ERROR, logger="logistics.services"):
        outcome = service.dispatch(shipment_id)

    assert outcome.dispatched
    assert repository.get(shipment_id).status is ShipmentStatus.DISPATCHED
    assert [v.status for v in working.told] == [ShipmentStatus.PENDING, ShipmentStatus.DISPATCHED]
    failures = [r for r in caplog.records if r.name == "logistics.services"]
    assert len(failures) == 2  # the creation and the dispatch
    assert "FakeListener" in failures[-1].getMessage()
    assert failures[-1].exc_info is not None
    assert "legacy database unreachable" in caplog.text


def test_a_service_built_without_listeners_works_alone(supplier):
    service = LogisticsService(
        repository=FakeShipmentRepository(),
        supplier=supplier,
        notifier=FakeNotifier(),
        clock=FixedClock(),
    )

    assert service.dispatch(create(service)).dispatched
