"""Every change a use case stores carries its event: what happened, at the version it wrote.

The fake repository records events with its writes as the ORM one does with its transaction
(``FakeShipmentRepository.recorded``): what is recorded is what the outbox would relay.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from logistics.contracts import CreateShipment, ItemIn, LegacyShipment
from logistics.domain import CancelledDuringDispatch, ShipmentEventKind, ShipmentStatus
from logistics.ports import SupplierFailure
from logistics.services import LogisticsService
from tests.unit.logistics.fakes import FakeShipmentRepository
from tests.unit.logistics.test_service_conflicts import ContendedRepository

COMMAND = CreateShipment(
    order_ref="ORD-000001",
    destination="1 Dock Road",
    items=[ItemIn(sku="BOX-S", quantity=2)],
    contact_email="ada@example.com",
)


def create(service: LogisticsService) -> uuid.UUID:
    return service.create_shipment(COMMAND).id


def recorded(repository: FakeShipmentRepository) -> list[tuple[int, ShipmentEventKind]]:
    return [(event.shipment.version, event.kind) for event in repository.recorded]


def test_each_change_of_a_shipments_life_is_one_event_at_the_version_it_wrote(
    service, supplier, repository
):
    shipment_id = create(service)
    supplier.failure = SupplierFailure("unavailable", "HTTP 503", 503)
    service.dispatch(shipment_id)  # a failed attempt
    supplier.failure = SupplierFailure("circuit_open", "breaker open")
    service.dispatch(shipment_id)  # a deferral: refused on our side
    supplier.failure = None
    service.dispatch(shipment_id)
    delivered = service.record_delivery(shipment_id)

    assert recorded(repository) == [
        (1, ShipmentEventKind.CREATED),
        (2, ShipmentEventKind.FAILED),
        (3, ShipmentEventKind.FAILED),
        (4, ShipmentEventKind.DISPATCHED),
        (5, ShipmentEventKind.DELIVERED),
    ]
    # The event carries the shipment as the change left it: a receiver needs nothing else.
    assert repository.recorded[-1].shipment == delivered
    assert repository.recorded[2].shipment.last_error == "supplier circuit_open: breaker open"
    assert repository.recorded[-1].occurred_at == delivered.updated_at


def test_a_cancel_is_an_event_and_a_cancel_of_a_cancelled_shipment_is_none(service, repository):
    shipment_id = create(service)

    service.cancel(shipment_id)
    service.cancel(shipment_id)  # idempotent: nothing written, nothing announced

    assert recorded(repository) == [
        (1, ShipmentEventKind.CREATED),
        (2, ShipmentEventKind.CANCELLED),
    ]
    assert repository.recorded[-1].shipment.status is ShipmentStatus.CANCELLED


def test_creating_an_existing_shipment_again_announces_nothing(service, repository):
    create(service)
    create(service)  # a redelivered create_shipment

    assert recorded(repository) == [(1, ShipmentEventKind.CREATED)]


def test_an_accepted_dispatch_after_the_cancel_and_its_resolution_are_events(
    service, supplier, repository
):
    shipment_id = create(service)
    supplier.while_in_flight = lambda: service.cancel(shipment_id)
    with pytest.raises(CancelledDuringDispatch):
        service.dispatch(shipment_id)
    service.resolve_attention(shipment_id)

    assert recorded(repository) == [
        (1, ShipmentEventKind.CREATED),
        (2, ShipmentEventKind.CANCELLED),
        (3, ShipmentEventKind.DISPATCHED_AFTER_CANCEL),
        (4, ShipmentEventKind.ATTENTION_RESOLVED),
    ]
    # The late dispatch's event still says cancelled: a receiver applying it keeps the cancel.
    assert repository.recorded[2].shipment.status is ShipmentStatus.CANCELLED


def test_a_write_that_lost_to_another_writer_announces_only_the_decision_it_stored(
    supplier, notifier, clock
):
    repository = ContendedRepository()
    service = LogisticsService(
        repository=repository, supplier=supplier, notifier=notifier, clock=clock
    )
    shipment_id = create(service)
    repository.rival_writes = 1  # the dispatch's first save loses; it reads again, decides again

    service.dispatch(shipment_id)

    assert repository.saves == 2
    assert recorded(repository) == [
        (1, ShipmentEventKind.CREATED),
        (3, ShipmentEventKind.DISPATCHED),
    ]


def test_a_backfill_announces_nothing_the_legacy_columns_hold_already(service, repository):
    report = service.import_legacy(
        [
            LegacyShipment(
                **COMMAND.model_dump(),
                status=ShipmentStatus.DISPATCHED,
                supplier_reference="SUP-1",
                tracking_number="TRK-1",
                created_at=datetime(2026, 1, 5, tzinfo=UTC),
            )
        ]
    )

    assert report.created == 1
    assert repository.recorded == []
