"""A failed attempt's own backoff: a few seconds at most, while refusals keep their delay."""

from __future__ import annotations

from datetime import timedelta

from logistics.contracts import CreateShipment, ItemIn
from logistics.ports import SupplierFailure
from logistics.services import LogisticsService


def a_service(repository, supplier, notifier, clock) -> LogisticsService:
    return LogisticsService(
        repository=repository,
        supplier=supplier,
        notifier=notifier,
        clock=clock,
        retry_delay=timedelta(seconds=10),
        attempt_backoff=timedelta(seconds=1),
        attempt_backoff_max=timedelta(seconds=5),
    )


def create() -> CreateShipment:
    return CreateShipment(
        order_ref="ORD-000001",
        destination="1 Dock Road",
        items=[ItemIn(sku="BOX-S", quantity=2)],
        contact_email="ada@example.com",
    )


def test_a_failing_supplier_s_backoff_doubles_up_to_its_cap(
    repository, supplier, notifier, clock
) -> None:
    service = a_service(repository, supplier, notifier, clock)
    supplier.failure = SupplierFailure("unavailable", "HTTP 503", 503)
    shipment = service.create_shipment(create())

    delays = [
        (service.dispatch(shipment.id).shipment.next_attempt_at - clock.now()).total_seconds()
        for _ in range(5)
    ]

    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_refusal_of_the_breaker_comes_back_after_the_retry_delay(
    repository, supplier, notifier, clock
) -> None:
    service = a_service(repository, supplier, notifier, clock)
    supplier.failure = SupplierFailure("circuit_open", "not sent")
    shipment = service.create_shipment(create())

    outcome = service.dispatch(shipment.id)

    assert outcome.shipment.next_attempt_at == clock.now() + timedelta(seconds=10)


def test_a_refusal_of_an_open_breaker_comes_back_when_it_lets_a_trial_call_through(
    repository, supplier, notifier, clock
) -> None:
    service = a_service(repository, supplier, notifier, clock)
    shipment = service.create_shipment(create())

    waits = []
    for retry_after in (25.0, 3.0, None):
        supplier.failure = SupplierFailure("circuit_open", "not sent", retry_after=retry_after)
        due = service.dispatch(shipment.id).shipment.next_attempt_at
        waits.append((due - clock.now()).total_seconds())

    # Not before the breaker half-opens; never sooner than the retry delay, and not climbing.
    assert waits == [25.0, 10.0, 10.0]
