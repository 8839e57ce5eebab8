"""LogisticsService with in-memory fakes: every use case, no database, no network."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from logistics.contracts import CreateShipment, ItemIn, LegacyShipment
from logistics.domain import IllegalTransition, ShipmentNotFound, ShipmentStatus
from logistics.ports import SupplierFailure


def create(order_ref: str = "ORD-000001", **overrides: Any) -> CreateShipment:
    fields: dict[str, Any] = {
        "order_ref": order_ref,
        "destination": "1 Dock Road",
        "items": [ItemIn(sku="BOX-S", quantity=2)],
        "contact_email": "ada@example.com",
    }
    fields.update(overrides)
    return CreateShipment(**fields)


def test_creating_a_shipment_is_idempotent_on_the_order_reference(service):
    first = service.create_shipment(create())
    second = service.create_shipment(create(destination="somewhere else"))

    assert second.id == first.id
    assert second.destination == "1 Dock Road"
    assert first.status is ShipmentStatus.PENDING


def test_dispatch_hands_the_shipment_to_the_supplier_with_its_idempotency_key(service, supplier):
    shipment = service.create_shipment(create())

    outcome = service.dispatch(shipment.id)

    assert outcome.dispatched
    assert (outcome.shipment.status, outcome.shipment.supplier_reference) == (
        ShipmentStatus.DISPATCHED,
        "SUP-000001",
    )
    [request] = supplier.requests
    assert request.idempotency_key == f"shipment-{shipment.id}"
    assert [(item.sku, item.quantity) for item in request.items] == [("BOX-S", 2)]


def test_a_supplier_failure_leaves_the_shipment_pending_with_a_growing_backoff(
    service, supplier, clock
):
    supplier.failure = SupplierFailure("unavailable", "HTTP 503", 503)
    shipment = service.create_shipment(create())

    first = service.dispatch(shipment.id)
    second = service.dispatch(shipment.id)

    assert not first.dispatched
    assert (first.failure_kind, first.failure_status) == ("unavailable", 503)
    assert first.shipment.next_attempt_at == clock.now() + timedelta(minutes=1)
    assert second.shipment.next_attempt_at == clock.now() + timedelta(minutes=2)
    assert (second.shipment.status, second.shipment.attempt_count) == (ShipmentStatus.PENDING, 2)


@pytest.mark.parametrize("kind", ["circuit_open", "bulkhead_full"])
def test_a_call_refused_on_our_side_comes_back_after_the_first_delay(
    service, supplier, clock, kind
):
    supplier.failure = SupplierFailure(kind, "not sent")
    shipment = service.create_shipment(create())

    outcomes = [service.dispatch(shipment.id) for _ in range(3)]
    supplier.failure = SupplierFailure("unavailable", "HTTP 503", 503)
    answered = service.dispatch(shipment.id)

    assert [o.shipment.next_attempt_at for o in outcomes] == [
        clock.now() + timedelta(minutes=1)
    ] * 3
    assert [o.shipment.attempt_count for o in outcomes] == [0, 0, 0]  # the supplier saw none
    assert outcomes[-1].shipment.last_error == f"supplier {kind}: not sent"
    # The first call the supplier saw starts the backoff at its first step.
    assert answered.shipment.attempt_count == 1
    assert answered.shipment.next_attempt_at == clock.now() + timedelta(minutes=1)


def test_a_rejected_dispatch_is_not_scheduled_for_retry(service, supplier):
    supplier.failure = SupplierFailure("rejected", "HTTP 400: bad item", 400)
    shipment = service.create_shipment(create())

    outcome = service.dispatch(shipment.id)

    assert (outcome.dispatched, outcome.shipment.next_attempt_at) == (False, None)
    assert outcome.shipment.last_error == "supplier rejected: HTTP 400: bad item"


def test_retrying_after_a_failure_reuses_the_same_idempotency_key(service, supplier):
    shipment = service.create_shipment(create())
    supplier.failure = SupplierFailure("timeout", "ReadTimeout")
    service.dispatch(shipment.id)
    supplier.failure = None

    service.dispatch(shipment.id)

    assert len({request.idempotency_key for request in supplier.requests}) == 1


def test_dispatching_twice_is_an_illegal_transition(service):
    shipment = service.create_shipment(create())
    service.dispatch(shipment.id)

    with pytest.raises(IllegalTransition):
        service.dispatch(shipment.id)


def test_cancel_then_dispatch_is_illegal_and_calls_no_supplier(service, supplier):
    shipment = service.create_shipment(create())
    service.cancel_order("ORD-000001")

    with pytest.raises(IllegalTransition):
        service.dispatch(shipment.id)
    assert supplier.requests == []


def test_delivery_notifies_the_contact_once_per_shipment(service, notifier):
    shipment = service.create_shipment(create())
    service.dispatch(shipment.id)

    delivered = service.record_delivery(shipment.id)

    assert delivered.status is ShipmentStatus.DELIVERED
    [(kind, recipient, context, key)] = notifier.sent
    assert (kind, recipient, context["order_ref"]) == (
        "shipment_delivered",
        "ada@example.com",
        "ORD-000001",
    )
    assert key == f"shipment-{shipment.id}-delivered"


def test_recording_a_delivery_again_asks_for_the_same_mail_and_changes_nothing(service, notifier):
    shipment = service.create_shipment(create())
    service.dispatch(shipment.id)
    first = service.record_delivery(shipment.id)

    again = service.record_delivery(shipment.id)  # a caller that failed after the save retries

    assert again == first
    assert [key for *_, key in notifier.sent] == [f"shipment-{shipment.id}-delivered"] * 2


def test_tracking_asks_the_supplier_only_after_dispatch(service, supplier):
    service.create_shipment(create())
    assert service.track("ORD-000001").supplier_status is None

    service.dispatch_order("ORD-000001")
    supplier.failure = SupplierFailure("unreachable", "ConnectionError")

    tracking = service.track("ORD-000001")
    assert (tracking.status, tracking.supplier_status) == (ShipmentStatus.DISPATCHED, "unknown")


def test_unknown_shipments_are_reported_as_not_found(service):
    with pytest.raises(ShipmentNotFound):
        service.track("ORD-404")


def test_importing_legacy_shipments_skips_orders_that_have_one(service, clock):
    service.create_shipment(create("ORD-000001"))
    records = [
        LegacyShipment(
            order_ref=ref,
            destination="1 Dock Road",
            items=[ItemIn(sku="BOX-S", quantity=1)],
            status=ShipmentStatus.DISPATCHED,
            supplier_reference="SUP-9",
            tracking_number="TRK9",
            dispatched_at=clock.now(),
            created_at=clock.now(),
        )
        for ref in ("ORD-000001", "ORD-000002")
    ]

    first = service.import_legacy(records)
    again = service.import_legacy(records)

    assert (first.received, first.created, again.created) == (2, 1, 0)
    imported = service.get_for_order("ORD-000002")
    assert (imported.status, imported.supplier_reference, imported.attempt_count) == (
        ShipmentStatus.DISPATCHED,
        "SUP-9",
        1,
    )
    assert service.get_for_order("ORD-000001").status is ShipmentStatus.PENDING


@pytest.mark.parametrize(
    "overrides",
    [{"order_ref": "  "}, {"items": []}, {"items": [{"sku": "X", "quantity": 0}]}, {"bogus": 1}],
)
def test_commands_refuse_bad_input_at_the_boundary(overrides):
    with pytest.raises(ValidationError):
        create(**overrides)


def test_the_sweep_retries_due_shipments_and_leaves_the_rest(service, supplier, clock):
    supplier.failure = SupplierFailure("unavailable", "HTTP 503", 503)
    due = service.create_shipment(create("ORD-000001"))
    service.dispatch(due.id)
    service.create_shipment(create("ORD-000002"))  # never attempted, not yet overdue here
    supplier.failure = None

    early = service.dispatch_due()
    clock.advance(timedelta(minutes=1))
    on_time = service.dispatch_due()

    assert (early.due, on_time.due, on_time.dispatched) == (0, 1, 1)
    assert service.get(due.id).status is ShipmentStatus.DISPATCHED


def test_a_quote_is_none_when_the_supplier_cannot_give_one(service, supplier):
    assert service.quote("BOX-S", 3).unit_cost == Decimal("9.99")

    supplier.failure = SupplierFailure("circuit_open", "breaker open")

    assert service.quote("BOX-S", 3) is None


def test_a_claimed_shipment_is_handed_to_no_other_sweep_until_the_lease_ends(
    service, supplier, clock
):
    supplier.failure = SupplierFailure("unavailable", "HTTP 503", 503)
    for n in range(1, 4):
        service.dispatch(service.create_shipment(create(f"ORD-{n:06d}")).id)
    clock.advance(timedelta(minutes=3))  # due since two minutes, no task holds them
    lease = timedelta(minutes=1)

    first = service.claim_due_shipments(2, lease=lease)
    second = service.claim_due_shipments(2, lease=lease)
    clock.advance(lease - timedelta(seconds=1))
    during = service.claim_due_shipments(10, lease=lease)
    clock.advance(timedelta(seconds=1))
    after = service.claim_due_shipments(10, lease=lease)

    assert (len(first), len(second), during, len(after)) == (2, 1, [], 3)
    assert set(first) | set(second) == set(after)


def test_a_shipment_whose_task_holds_a_lease_is_not_claimed(service, supplier, clock):
    supplier.failure = SupplierFailure("unavailable", "HTTP 503", 503)
    shipment = service.create_shipment(create())
    service.dispatch(shipment.id)  # due in a minute; its retry holds it until a minute after
    service.lease_dispatch(shipment.id, timedelta(minutes=2), handed_over=True)
    clock.advance(timedelta(minutes=2) - timedelta(seconds=1))
    held = service.claim_due_shipments(10, lease=timedelta(minutes=1))
    clock.advance(timedelta(seconds=1))

    assert held == []
    assert service.claim_due_shipments(10, lease=timedelta(minutes=1)) == [shipment.id]


def test_a_new_shipment_is_held_for_one_lease_by_its_creation(service, clock):
    shipment = service.create_shipment(create())
    lease = timedelta(minutes=1)
    clock.advance(lease - timedelta(seconds=1))
    held = service.claim_due_shipments(10, lease=lease)
    clock.advance(timedelta(seconds=2))

    assert held == []
    assert service.claim_due_shipments(10, lease=lease) == [shipment.id]
