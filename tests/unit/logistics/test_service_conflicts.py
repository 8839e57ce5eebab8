"""LogisticsService when another writer saves first: it reads again and decides again.

Every save is conditional on the version it read (the fake repository as the ORM one), so each
test makes the other writer act at the worst moment, in the same thread: inside the supplier
call (``FakeSupplier.while_in_flight``) or between a use case's read and its save
(``ContendedRepository.before_next_save``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from logistics.contracts import CreateShipment, DispatchOutcome, ItemIn
from logistics.domain import (
    CancelledDuringDispatch,
    IllegalTransition,
    Shipment,
    ShipmentChanged,
    ShipmentStatus,
)
from logistics.ports import SupplierFailure
from logistics.services import MAX_WRITE_ATTEMPTS, LogisticsService
from tests.unit.logistics.fakes import (
    FakeShipmentRepository,
)


class ContendedRepository(FakeShipmentRepository):
    """A fake repository where other writers get in first, as told.

    ``before_next_save`` runs once, just before the next save (another use case, between this
    one's read and its write); ``rival_writes`` saves go to a rival first, each bumping the
    stored version, so that many saves in a row lose.
    """

    def __init__(self) -> None:
        super().__init__()
        self.before_next_save: Callable[[], object] | None = None
        self.rival_writes = 0
        self.saves = 0

    def save(self, shipment: Shipment) -> None:
        self.saves += 1
        meanwhile, self.before_next_save = self.before_next_save, None
        if meanwhile is not None:
            meanwhile()
        if self.rival_writes:
            self.rival_writes -= 1
            self._by_id[shipment.id].version += 1
        super().save(shipment)


@pytest.fixture
def repository() -> ContendedRepository:
    return ContendedRepository()


def pending(service: LogisticsService, order_ref: str = "ORD-000001") -> uuid.UUID:
    command = CreateShipment(
        order_ref=order_ref,
        destination="1 Dock Road",
        items=[ItemIn(sku="BOX-S", quantity=2)],
        contact_email="ada@example.com",
    )
    return service.create_shipment(command).id


# ---------------------------------------------------------------------- dispatch vs cancel


def test_a_cancel_during_an_accepted_dispatch_stands_and_keeps_the_suppliers_answer(
    service, supplier, clock, caplog
):
    shipment_id = pending(service)
    supplier.while_in_flight = lambda: service.cancel(shipment_id)

    with (
        caplog.at_level(logging.WARNING, logger="logistics.services"),
        pytest.raises(CancelledDuringDispatch) as conflict,
    ):
        service.dispatch(shipment_id)

    stored = service.get(shipment_id)
    assert (stored.status, stored.cancelled_at, stored.dispatched_at) == (
        ShipmentStatus.CANCELLED,
        clock.now(),
        None,
    )
    assert (stored.supplier_reference, stored.tracking_number) == ("SUP-000001", "TRK0000000001")
    assert stored.needs_attention
    assert stored.last_error is not None and "ask the supplier to stop it" in stored.last_error
    assert stored.version == 3  # created, cancelled, the supplier's answer recorded
    assert conflict.value.supplier_reference == "SUP-000001"
    assert "SUP-000001" in caplog.text and str(shipment_id) in caplog.text


def test_a_failed_attempt_that_loses_to_a_cancel_is_dropped(service, supplier):
    shipment_id = pending(service)
    supplier.failure = SupplierFailure("unavailable", "HTTP 503", 503)
    supplier.while_in_flight = lambda: service.cancel(shipment_id)

    with pytest.raises(IllegalTransition) as illegal:
        service.dispatch(shipment_id)

    stored = service.get(shipment_id)
    assert (stored.status, stored.attempt_count, stored.last_error, stored.next_attempt_at) == (
        ShipmentStatus.CANCELLED,
        0,
        None,
        None,
    )
    assert not stored.needs_attention
    assert (illegal.value.current, illegal.value.target) == (
        ShipmentStatus.CANCELLED,
        ShipmentStatus.DISPATCHED,
    )


# ---------------------------------------------------------------------- dispatch vs dispatch


def test_a_dispatch_that_another_worker_finished_first_is_the_same_dispatch(service, supplier):
    shipment_id = pending(service)
    other_worker: list[DispatchOutcome] = []
    supplier.while_in_flight = lambda: other_worker.append(service.dispatch(shipment_id))

    outcome = service.dispatch(shipment_id)

    assert outcome.dispatched and other_worker[0].dispatched
    assert outcome.shipment == service.get(shipment_id)
    assert (outcome.shipment.supplier_reference, outcome.shipment.version) == ("SUP-000001", 2)
    assert len(supplier.accepted) == 1  # one idempotency key, one dispatch


def test_a_failure_that_loses_to_another_workers_dispatch_reports_the_dispatch(service, supplier):
    shipment_id = pending(service)
    supplier.failure = SupplierFailure("timeout", "ReadTimeout")

    def other_worker_succeeds() -> None:
        supplier.failure = None
        service.dispatch(shipment_id)
        supplier.failure = SupplierFailure("timeout", "ReadTimeout")

    supplier.while_in_flight = other_worker_succeeds

    outcome = service.dispatch(shipment_id)

    assert outcome.dispatched
    assert (outcome.shipment.status, outcome.shipment.last_error) == (
        ShipmentStatus.DISPATCHED,
        None,
    )


def test_a_failure_that_loses_to_a_change_leaving_it_pending_is_applied_to_the_fresh_copy(
    service, repository, supplier, clock
):
    shipment_id = pending(service)
    supplier.failure = SupplierFailure("unavailable", "HTTP 503", 503)

    def another_worker_defers() -> None:
        other = repository.get(shipment_id)
        other.record_deferral("supplier circuit_open: open", clock.now(), clock.now())
        repository.save(other)

    supplier.while_in_flight = another_worker_defers

    outcome = service.dispatch(shipment_id)

    assert not outcome.dispatched
    # Both are kept: the other worker's deferral (version 2), then this failed attempt over it.
    assert (outcome.shipment.version, outcome.shipment.attempt_count) == (3, 1)
    assert outcome.shipment.last_error == "supplier unavailable: HTTP 503"
    assert outcome.shipment.next_attempt_at == clock.now() + timedelta(minutes=1)


# ---------------------------------------------------------------------- cancel, delivery


def test_cancelling_a_cancelled_shipment_returns_it_unchanged(service, repository):
    shipment_id = pending(service)
    first = service.cancel(shipment_id)
    saves = repository.saves

    again = service.cancel(shipment_id)  # the legacy order cancel, retried after a failure

    assert again == first
    assert repository.saves == saves


def test_cancelling_a_dispatched_shipment_stays_illegal(service):
    shipment_id = pending(service)
    service.dispatch(shipment_id)

    with pytest.raises(IllegalTransition):
        service.cancel(shipment_id)


def test_a_cancel_that_read_a_pending_shipment_never_overwrites_its_delivery(service, repository):
    shipment_id = pending(service)

    def dispatched_and_delivered_meanwhile() -> None:
        service.dispatch(shipment_id)
        service.record_delivery(shipment_id)

    repository.before_next_save = dispatched_and_delivered_meanwhile

    with pytest.raises(IllegalTransition):
        service.cancel(shipment_id)

    stored = service.get(shipment_id)
    assert (stored.status, stored.cancelled_at) == (ShipmentStatus.DELIVERED, None)


def test_a_delivery_recorded_twice_at_once_is_written_once(service, repository):
    shipment_id = pending(service)
    service.dispatch(shipment_id)
    repository.before_next_save = lambda: service.record_delivery(shipment_id)

    delivered = service.record_delivery(shipment_id)

    assert delivered.status is ShipmentStatus.DELIVERED
    assert delivered.version == 3  # created, dispatched, delivered: one delivery write


# ---------------------------------------------------------------------- bounded retries


def test_a_write_that_keeps_losing_gives_up_after_a_bounded_number_of_tries(service, repository):
    shipment_id = pending(service)
    repository.rival_writes = MAX_WRITE_ATTEMPTS
    saves = repository.saves

    with pytest.raises(ShipmentChanged):
        service.cancel(shipment_id)

    assert repository.saves - saves == MAX_WRITE_ATTEMPTS


def test_a_write_that_loses_fewer_times_than_the_bound_succeeds(service, repository):
    shipment_id = pending(service)
    repository.rival_writes = MAX_WRITE_ATTEMPTS - 1

    cancelled = service.cancel(shipment_id)

    assert cancelled.status is ShipmentStatus.CANCELLED
    assert cancelled == service.get(shipment_id)


# ---------------------------------------------------------------------- staff


def test_staff_mark_a_conflict_handled_once(service, supplier, repository):
    shipment_id = pending(service)
    supplier.while_in_flight = lambda: service.cancel(shipment_id)
    with pytest.raises(CancelledDuringDispatch):
        service.dispatch(shipment_id)

    handled = service.resolve_attention(shipment_id)
    saves = repository.saves
    again = service.resolve_attention(shipment_id)

    assert (handled.needs_attention, handled.status) == (False, ShipmentStatus.CANCELLED)
    assert again == handled and repository.saves == saves
