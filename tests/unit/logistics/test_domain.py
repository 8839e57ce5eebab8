"""The shipment's rules: legal transitions only, and what each one records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from logistics.domain import (
    IllegalTransition,
    InvalidShipment,
    LogisticsError,
    Shipment,
    ShipmentItem,
    ShipmentStatus,
    SupplierConfirmation,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 23, 12, 5, tzinfo=UTC)
CONFIRMATION = SupplierConfirmation(supplier_reference="SUP-1", tracking_number="TRK1")


def shipment(**overrides: object) -> Shipment:
    fields: dict[str, object] = {
        "order_ref": "ORD-000001",
        "destination": "1 Dock Road",
        "items": (ShipmentItem("BOX-S", 2),),
        "created_at": NOW,
    }
    fields.update(overrides)
    return Shipment(**fields)  # type: ignore[arg-type]


LEGAL = {
    (ShipmentStatus.PENDING, ShipmentStatus.DISPATCHED),
    (ShipmentStatus.PENDING, ShipmentStatus.CANCELLED),
    (ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED),
}


@pytest.mark.parametrize("current", list(ShipmentStatus))
@pytest.mark.parametrize("target", list(ShipmentStatus))
def test_only_the_legal_transitions_are_allowed(current, target):
    assert current.can_become(target) is ((current, target) in LEGAL)


def test_a_new_shipment_is_pending_with_a_stable_idempotency_key():
    first = shipment()

    assert first.status is ShipmentStatus.PENDING
    assert first.idempotency_key == f"shipment-{first.id}"
    assert first.updated_at == NOW


def test_dispatching_records_the_supplier_confirmation():
    s = shipment(attempt_count=2, last_error="HTTP 503", next_attempt_at=LATER)

    s.mark_dispatched(CONFIRMATION, LATER)

    assert (s.status, s.supplier_reference, s.tracking_number) == (
        ShipmentStatus.DISPATCHED,
        "SUP-1",
        "TRK1",
    )
    assert (s.dispatched_at, s.attempt_count, s.next_attempt_at, s.last_error) == (
        LATER,
        3,
        None,
        None,
    )


def test_a_failed_attempt_keeps_the_shipment_pending_with_its_next_attempt():
    s = shipment()

    s.record_failed_attempt("supplier unavailable: HTTP 503", NOW, LATER)

    assert (s.status, s.attempt_count, s.next_attempt_at, s.last_error) == (
        ShipmentStatus.PENDING,
        1,
        LATER,
        "supplier unavailable: HTTP 503",
    )


def test_cancelling_a_dispatched_shipment_is_illegal():
    s = shipment()
    s.mark_dispatched(CONFIRMATION, NOW)

    with pytest.raises(IllegalTransition) as error:
        s.cancel(LATER)

    assert (error.value.current, error.value.target) == (
        ShipmentStatus.DISPATCHED,
        ShipmentStatus.CANCELLED,
    )
    assert s.status is ShipmentStatus.DISPATCHED


def test_a_cancelled_shipment_cannot_be_dispatched_or_retried():
    s = shipment()
    s.cancel(NOW)

    with pytest.raises(IllegalTransition):
        s.mark_dispatched(CONFIRMATION, LATER)
    with pytest.raises(IllegalTransition):
        s.record_failed_attempt("x", LATER, None)
    assert (s.status, s.cancelled_at) == (ShipmentStatus.CANCELLED, NOW)


def test_delivery_follows_dispatch_only():
    s = shipment()
    with pytest.raises(IllegalTransition):
        s.mark_delivered(NOW)

    s.mark_dispatched(CONFIRMATION, NOW)
    s.mark_delivered(LATER)

    assert (s.status, s.delivered_at) == (ShipmentStatus.DELIVERED, LATER)


@pytest.mark.parametrize(
    "overrides",
    [{"order_ref": " "}, {"destination": ""}, {"items": ()}],
)
def test_a_shipment_without_order_destination_or_items_is_invalid(overrides):
    with pytest.raises(InvalidShipment):
        shipment(**overrides)


@pytest.mark.parametrize(("sku", "quantity"), [("", 1), ("BOX-S", 0), ("BOX-S", -1)])
def test_an_item_needs_a_sku_and_a_positive_quantity(sku, quantity):
    with pytest.raises(InvalidShipment):
        ShipmentItem(sku, quantity)


def test_a_dispatch_accepted_after_the_cancel_is_kept_on_the_cancelled_shipment():
    s = shipment()
    s.cancel(NOW)

    recorded = s.record_dispatch_after_cancel(CONFIRMATION, LATER)

    assert recorded
    assert (s.status, s.cancelled_at, s.dispatched_at) == (ShipmentStatus.CANCELLED, NOW, None)
    assert (s.supplier_reference, s.tracking_number, s.needs_attention) == ("SUP-1", "TRK1", True)
    assert s.last_error == (
        "supplier accepted dispatch SUP-1 (tracking TRK1) after the shipment was cancelled: "
        "ask the supplier to stop it"
    )
    # The same answer again (a second worker, the same idempotency key) changes nothing.
    assert not s.record_dispatch_after_cancel(CONFIRMATION, LATER)


def test_only_a_cancelled_shipment_records_a_dispatch_after_its_cancel():
    with pytest.raises(LogisticsError):
        shipment().record_dispatch_after_cancel(CONFIRMATION, NOW)


def test_resolving_the_attention_keeps_the_reason_and_is_idempotent():
    s = shipment()
    s.cancel(NOW)
    s.record_dispatch_after_cancel(CONFIRMATION, NOW)

    assert s.resolve_attention(LATER)
    assert (s.needs_attention, s.updated_at) == (False, LATER)
    assert s.last_error is not None and "SUP-1" in s.last_error
    assert not s.resolve_attention(LATER)
