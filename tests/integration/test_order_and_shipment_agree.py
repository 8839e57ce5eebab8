"""An order and its shipment never disagree: the columns follow it, a cancel is one decision.

The shipment (``logistics``) owns the shipping state. Whichever process changes it, the legacy
order's columns follow in that process (``monolithos.shipping_columns``), so the back office and
the parity check are right without anyone reading tracking, no GET writes, and a cancel is
decided by the shipment before anything of the order is committed.
"""

from __future__ import annotations

from typing import Any

import pytest

from logistics.models import ShipmentRecord
from logistics.public import build_logistics_service
from monolithos.backfill import parity_check
from monolithos.models import Order, Product
from monolithos.shipping_columns import Applied, apply
from tests.characterization.shop import order_payload, place
from tests.factories import StaffUserFactory

pytestmark = [pytest.mark.simulator, pytest.mark.django_db(databases=["default", "logistics"])]


@pytest.fixture
def staff(client):
    client.force_login(StaffUserFactory())
    return client


@pytest.fixture
def deferred_order(client, supplier, mailoutbox) -> Order:
    """Placed on the legacy path while the supplier answered 503: its shipment stays pending."""
    Product.objects.create(sku="PALLET", name="Euro pallet", price="18.50", stock=10)
    supplier.set_chaos(failure_rate=1.0)
    response = place(client, order_payload())
    assert response.status_code == 201
    assert response.json()["shipping_status"] == "dispatch_failed"
    supplier.reset(failure_rate=0.0, hang_rate=0.0, seed=7)
    mailoutbox.clear()
    return Order.objects.get(pk=response.json()["id"])


def dispatched_by_a_worker(order: Order) -> None:
    """What the background dispatch does, in this process: the service the worker builds."""
    shipment = build_logistics_service(background=True).get_for_order(str(order.number))
    assert build_logistics_service(background=True).dispatch(shipment.id).dispatched


def columns(order: Order) -> dict[str, Any]:
    order.refresh_from_db()
    return {
        "status": order.status,
        "shipping_status": order.shipping_status,
        "tracking_number": order.tracking_number,
        "supplier_reference": order.supplier_reference,
    }


def test_a_cancel_refused_by_a_shipment_dispatched_meanwhile_commits_nothing(
    staff, deferred_order, mailoutbox
):
    # The shipment was dispatched and its order's columns were not told (a process that died
    # between the two commits): the shipment's word decides, not the stale columns.
    ShipmentRecord.objects.filter(order_ref=deferred_order.number).update(
        status="dispatched", supplier_reference="SUP-1", tracking_number="TRK-1"
    )
    before = columns(deferred_order)

    response = staff.post(f"/orders/{deferred_order.pk}/cancel/")

    assert response.status_code == 400
    assert "is shipped and cannot be cancelled" in response.content.decode()
    assert columns(deferred_order) == before
    assert deferred_order.cancelled_at is None
    assert Product.objects.get(sku="PALLET").stock == 8  # nothing released
    assert ShipmentRecord.objects.get(order_ref=deferred_order.number).status == "dispatched"
    assert mailoutbox == []


def test_a_cancel_before_dispatch_cancels_both_sides_and_mails_once(
    staff, deferred_order, mailoutbox
):
    response = staff.post(f"/orders/{deferred_order.pk}/cancel/")

    assert response.status_code == 302
    assert columns(deferred_order)["status"] == "cancelled"
    assert ShipmentRecord.objects.get(order_ref=deferred_order.number).status == "cancelled"
    assert Product.objects.get(sku="PALLET").stock == 10
    assert [mail.subject for mail in mailoutbox] == [
        f"Your order {deferred_order.number} has been cancelled"
    ]
    assert parity_check() == []


def test_a_worker_dispatch_brings_the_order_pages_and_parity_in_step_without_a_track_call(
    staff, deferred_order, supplier
):
    dispatched_by_a_worker(deferred_order)

    shipment = ShipmentRecord.objects.get(order_ref=deferred_order.number)
    assert columns(deferred_order) == {
        "status": "shipped",
        "shipping_status": "dispatched",
        "tracking_number": shipment.tracking_number,
        "supplier_reference": shipment.supplier_reference,
    }
    assert deferred_order.shipping_version == shipment.version
    page = staff.get(f"/orders/{deferred_order.pk}/").content.decode()
    assert shipment.tracking_number in page
    assert "Cancel order" not in page
    assert parity_check() == []
    # Nothing asked the supplier about the order's status: no tracking read happened.
    assert [call["method"] for call in supplier.received()][-1] == "POST"


def test_cancelling_after_a_background_dispatch_is_a_400_and_commits_nothing(
    staff, deferred_order, mailoutbox
):
    dispatched_by_a_worker(deferred_order)
    before = columns(deferred_order)

    response = staff.post(f"/orders/{deferred_order.pk}/cancel/")

    assert response.status_code == 400
    assert "is shipped and cannot be cancelled" in response.content.decode()
    assert columns(deferred_order) == before
    assert deferred_order.cancelled_at is None
    assert Product.objects.get(sku="PALLET").stock == 8
    assert ShipmentRecord.objects.get(order_ref=deferred_order.number).status == "dispatched"
    assert mailoutbox == []
    # Tracking reads: it answers from the columns and writes nothing.
    tracked = staff.get(f"/api/orders/{deferred_order.pk}/track/")
    assert tracked.json()["shipping_status"] == "dispatched"
    assert columns(deferred_order) == before


def test_a_late_change_never_overwrites_a_later_one(deferred_order):
    """The listener copies by version: an older view arriving after a newer one is ignored."""
    service = build_logistics_service()
    older = service.get_for_order(str(deferred_order.number))
    cancelled = service.cancel(older.id)

    assert apply(cancelled) is Applied.STALE  # the listener already copied it
    assert apply(older) is Applied.STALE
    assert columns(deferred_order)["shipping_status"] == "cancelled"
