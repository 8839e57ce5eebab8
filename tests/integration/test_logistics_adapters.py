"""The logistics adapters against real infrastructure: the database alias and the simulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from logistics.adapters.orm import DjangoShipmentRepository
from logistics.adapters.supplier_http import HttpSupplierGateway
from logistics.domain import (
    Shipment,
    ShipmentChanged,
    ShipmentItem,
    ShipmentNotFound,
    ShipmentStatus,
    SupplierConfirmation,
)
from logistics.models import ShipmentRecord
from logistics.ports import DispatchRequest, SupplierFailure

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


def shipment(order_ref: str = "ORD-000001") -> Shipment:
    return Shipment(
        order_ref=order_ref,
        destination="1 Dock Road\nPortsmouth",
        items=(ShipmentItem("BOX-S", 2), ShipmentItem("PALLET", 1)),
        owner_id=7,
        contact_email="ada@example.com",
        created_at=NOW,
    )


# ---------------------------------------------------------------------- repository


def test_a_shipment_round_trips_through_the_logistics_database():
    repository = DjangoShipmentRepository()
    original = shipment()
    repository.add_if_absent(original)
    original.record_failed_attempt(
        "supplier unavailable: HTTP 503", NOW, NOW + timedelta(minutes=1)
    )
    original.mark_dispatched(SupplierConfirmation("SUP-1", "TRK1"), NOW + timedelta(minutes=2))

    repository.save(original)

    assert repository.get(original.id) == original
    assert repository.get_by_order_ref("ORD-000001") == original
    assert ShipmentRecord.objects.using("logistics").count() == 1


def test_a_save_bumps_the_version_it_was_loaded_at():
    repository = DjangoShipmentRepository()
    stored, _ = repository.add_if_absent(shipment())
    loaded = repository.get(stored.id)

    loaded.cancel(NOW)
    repository.save(loaded)

    assert (loaded.version, repository.get(stored.id).version) == (2, 2)


def test_a_save_over_a_version_another_writer_replaced_writes_nothing():
    repository = DjangoShipmentRepository()
    stored, _ = repository.add_if_absent(shipment())
    first, second = repository.get(stored.id), repository.get(stored.id)
    first.cancel(NOW)
    repository.save(first)

    second.mark_dispatched(SupplierConfirmation("SUP-1", "TRK1"), NOW)
    with pytest.raises(ShipmentChanged):
        repository.save(second)

    kept = repository.get(stored.id)
    assert (kept.status, kept.supplier_reference, kept.version) == (
        ShipmentStatus.CANCELLED,
        None,
        2,
    )
    assert second.version == 1  # unchanged: the caller reads again and decides again


def test_saving_a_shipment_that_is_not_stored_raises_not_found():
    with pytest.raises(ShipmentNotFound):
        DjangoShipmentRepository().save(shipment())


def test_adding_a_second_shipment_for_the_same_order_returns_the_first():
    repository = DjangoShipmentRepository()
    first, created = repository.add_if_absent(shipment())

    second, created_again = repository.add_if_absent(shipment())

    assert (created, created_again) == (True, False)
    assert second.id == first.id
    assert ShipmentRecord.objects.count() == 1


def test_bulk_add_skips_existing_orders_and_counts_what_it_stored():
    repository = DjangoShipmentRepository()
    repository.add_if_absent(shipment("ORD-000001"))

    stored = repository.add_many_if_absent([shipment(f"ORD-{n:06d}") for n in range(1, 6)])

    assert stored == 4
    found = repository.find_by_order_refs(["ORD-000001", "ORD-000005", "ORD-999999"])
    assert sorted(found) == ["ORD-000001", "ORD-000005"]
    assert found["ORD-000005"].status is ShipmentStatus.PENDING


def test_missing_shipments_raise_not_found():
    repository = DjangoShipmentRepository()

    with pytest.raises(ShipmentNotFound):
        repository.get(uuid.uuid4())
    with pytest.raises(ShipmentNotFound):
        repository.get_by_order_ref("ORD-404")


def claim(repository: DjangoShipmentRepository, now: datetime, limit: int, **kwargs: Any) -> Any:
    kwargs.setdefault("until", now + timedelta(minutes=1))
    kwargs.setdefault("never_tried_before", now - timedelta(minutes=1))
    return repository.claim_due_for_dispatch(now, limit, **kwargs)


def test_a_claim_takes_due_unclaimed_shipments_up_to_its_limit_until_its_lease_ends():
    repository = DjangoShipmentRepository()
    due = [shipment(f"ORD-{n:06d}") for n in range(1, 4)]  # never tried, created at NOW
    repository.add_many_if_absent(due)
    not_yet = shipment("ORD-000009")
    not_yet.record_failed_attempt("HTTP 503", NOW, NOW + timedelta(hours=1))
    cancelled = shipment("ORD-000010")
    cancelled.cancel(NOW)
    repository.add_many_if_absent([not_yet, cancelled])
    later = NOW + timedelta(minutes=5)
    lease_end = later + timedelta(minutes=1)

    too_young = claim(repository, NOW + timedelta(seconds=59), 10)
    first = claim(repository, later, 2, until=lease_end)
    second = claim(repository, later, 2, until=lease_end)
    held = claim(repository, lease_end - timedelta(seconds=1), 10)
    expired = claim(repository, lease_end, 10)

    assert too_young == []  # its creation's lease: the creator enqueues its dispatch
    assert len(first) == 2 and len(second) == 1
    assert set(first) | set(second) == {s.id for s in due}
    assert held == []
    assert sorted(expired) == sorted(s.id for s in due)
    assert ShipmentRecord.objects.get(pk=due[0].id).handed_over_at == lease_end


def test_a_claim_leaves_alone_a_shipment_handed_over_since_the_queues_head_was_sent():
    repository = DjangoShipmentRepository()
    early, late = shipment("ORD-000001"), shipment("ORD-000002")
    repository.add_many_if_absent([early, late])
    later = NOW + timedelta(minutes=5)
    repository.lease_dispatch(late.id, None, handed_over_at=NOW + timedelta(minutes=3))

    claimed = claim(repository, later, 10, queued_since=NOW + timedelta(minutes=2))

    # ``early`` was last handed over at its creation, before the head: its task left the queue.
    assert claimed == [early.id]


def test_a_save_leaves_the_dispatch_lease_alone():
    repository = DjangoShipmentRepository()
    stored, _ = repository.add_if_absent(shipment())
    later = NOW + timedelta(minutes=5)
    [claimed] = claim(repository, later, 1, until=later + timedelta(minutes=1))
    loaded = repository.get(claimed)
    loaded.record_deferral("breaker open", later, later)

    repository.save(loaded)

    assert claim(repository, later, 1) == []
    record = ShipmentRecord.objects.get(pk=stored.id)
    assert (record.claimed_until, record.handed_over_at) == (later + timedelta(minutes=1), later)


def test_a_lease_holds_and_releases_a_shipment_without_changing_its_version():
    repository = DjangoShipmentRepository()
    stored, _ = repository.add_if_absent(shipment())
    later = NOW + timedelta(minutes=5)

    repository.lease_dispatch(stored.id, later + timedelta(seconds=90), handed_over_at=None)
    held = claim(repository, later, 1)
    repository.lease_dispatch(stored.id, None, handed_over_at=None)
    released = claim(repository, later, 1)

    assert (held, released) == ([], [stored.id])
    assert ShipmentRecord.objects.get(pk=stored.id).version == stored.version


# ---------------------------------------------------------------------- supplier gateway


def request(key: str = "shipment-1") -> DispatchRequest:
    return DispatchRequest(
        order_ref="ORD-000001",
        destination="1 Dock Road",
        items=(ShipmentItem("BOX-S", 2),),
        idempotency_key=key,
    )


def gateway(url: str, read_timeout: float = 5.0) -> HttpSupplierGateway:
    return HttpSupplierGateway(url, connect_timeout=1.0, read_timeout=read_timeout)


@pytest.mark.simulator
def test_the_gateway_dispatches_once_per_idempotency_key(supplier):
    first = gateway(supplier.url).dispatch(request())
    again = gateway(supplier.url).dispatch(request())

    assert first == again
    [dispatch] = supplier.ledger()
    assert (dispatch["supplier_reference"], dispatch["idempotency_key"]) == (
        first.supplier_reference,
        "shipment-1",
    )
    assert gateway(supplier.url).dispatch_status(first.supplier_reference) == "accepted"


@pytest.mark.simulator
def test_a_timed_out_dispatch_is_recognised_on_retry_by_its_key(supplier):
    supplier.set_chaos(hang_rate=1.0, hang_seconds=0.5)

    with pytest.raises(SupplierFailure) as failure:
        gateway(supplier.url, read_timeout=0.1).dispatch(request())
    supplier.set_chaos(hang_rate=0.0)
    retried = gateway(supplier.url).dispatch(request())

    assert failure.value.kind == "timeout"
    [dispatch] = supplier.ledger()  # the supplier had accepted it behind the timeout
    assert retried.supplier_reference == dispatch["supplier_reference"]


@pytest.mark.simulator
def test_supplier_errors_become_failures_the_service_can_act_on(supplier):
    supplier.set_chaos(failure_rate=1.0)

    with pytest.raises(SupplierFailure) as unavailable:
        gateway(supplier.url).dispatch(request())

    assert (unavailable.value.kind, unavailable.value.status, unavailable.value.retryable) == (
        "unavailable",
        503,
        True,
    )


@pytest.mark.simulator
def test_a_request_the_supplier_refuses_is_rejected_not_retried(supplier):
    bad = DispatchRequest(
        order_ref="ORD-000001", destination="x", items=(), idempotency_key="shipment-2"
    )

    with pytest.raises(SupplierFailure) as rejected:
        gateway(supplier.url).dispatch(bad)

    assert (rejected.value.kind, rejected.value.status, rejected.value.retryable) == (
        "rejected",
        400,
        False,
    )


def test_an_unreachable_supplier_is_reported_as_such():
    with pytest.raises(SupplierFailure) as unreachable:
        gateway("http://127.0.0.1:9").dispatch(request())

    assert unreachable.value.kind == "unreachable"
