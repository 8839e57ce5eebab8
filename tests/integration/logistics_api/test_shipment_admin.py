"""The shipment admin: a read-only changelist on the logistics alias, and its actions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from logistics.adapters.orm import DjangoShipmentRepository
from logistics.domain import Shipment, ShipmentStatus, SupplierConfirmation
from tests.conftest import SupplierSimulator
from tests.integration.logistics_api.factories import EPOCH, ShipmentFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


# Reversed inside tests, not at import (see test_shipment_reads.list_url).
def changelist_url() -> str:
    return reverse("admin:logistics_shipmentrecord_changelist")


@pytest.fixture
def back_office(client: Client, staff: User) -> Client:
    client.force_login(staff)
    return client


def run_action(client: Client, action: str, ids: Sequence[uuid.UUID]) -> list[str]:
    response = client.post(
        changelist_url(),
        {"action": action, "index": 0, ACTION_CHECKBOX_NAME: [str(i) for i in ids]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def status_of(shipment_id: uuid.UUID) -> ShipmentStatus:
    return DjangoShipmentRepository().get(shipment_id).status


def test_the_changelist_shows_shipments_from_the_logistics_database(back_office: Client) -> None:
    pending = ShipmentFactory()
    dispatched = ShipmentFactory(dispatched=True)

    response = back_office.get(changelist_url())

    assert response.status_code == 200
    page = response.content.decode()
    assert pending.order_ref in page
    assert str(dispatched.tracking_number) in page
    assert response.context["cl"].result_count == 2


def test_the_changelist_filters_by_status_and_searches_references(back_office: Client) -> None:
    ShipmentFactory()
    cancelled = ShipmentFactory(cancelled=True)
    dispatched = ShipmentFactory(dispatched=True)

    by_status = back_office.get(changelist_url(), {"status__exact": "cancelled"})
    by_tracking = back_office.get(changelist_url(), {"q": dispatched.tracking_number})

    assert [r.order_ref for r in by_status.context["cl"].result_list] == [cancelled.order_ref]
    assert [r.order_ref for r in by_tracking.context["cl"].result_list] == [dispatched.order_ref]


def test_a_shipment_can_be_viewed_but_not_edited_added_or_deleted(back_office: Client) -> None:
    shipment = ShipmentFactory()
    change_url = reverse("admin:logistics_shipmentrecord_change", args=[shipment.id])

    page = back_office.get(change_url)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False

    back_office.post(change_url, {"status": "delivered", "order_ref": "HACKED"})
    assert DjangoShipmentRepository().get(shipment.id).order_ref == shipment.order_ref
    assert back_office.get(reverse("admin:logistics_shipmentrecord_add")).status_code == 403
    delete_url = reverse("admin:logistics_shipmentrecord_delete", args=[shipment.id])
    assert back_office.get(delete_url).status_code == 403


@pytest.mark.simulator
def test_retry_dispatch_reports_dispatched_pending_and_illegal_counts(
    back_office: Client, supplier: SupplierSimulator
) -> None:
    first, second = ShipmentFactory.create_batch(2)
    cancelled = ShipmentFactory(cancelled=True)

    messages = run_action(back_office, "retry_dispatch", [first.id, second.id, cancelled.id])

    assert messages == [
        "2 dispatched, 0 still pending (the supplier did not take them), "
        "1 not pending (nothing done)."
    ]
    assert sorted(d["order_ref"] for d in supplier.ledger()) == sorted(
        [first.order_ref, second.order_ref]
    )
    assert status_of(first.id) is ShipmentStatus.DISPATCHED
    assert LogEntry.objects.filter(object_id=str(first.id)).exists()


@pytest.mark.simulator
def test_retry_dispatch_during_an_outage_leaves_shipments_pending(
    back_office: Client, supplier: SupplierSimulator
) -> None:
    shipment = ShipmentFactory()
    supplier.set_chaos(failure_rate=1.0)

    messages = run_action(back_office, "retry_dispatch", [shipment.id])

    assert messages == [
        "0 dispatched, 1 still pending (the supplier did not take them), "
        "0 not pending (nothing done)."
    ]
    assert status_of(shipment.id) is ShipmentStatus.PENDING
    assert DjangoShipmentRepository().get(shipment.id).attempt_count == 1


def test_cancel_reports_cancelled_already_cancelled_and_illegal_counts(
    back_office: Client,
) -> None:
    pending = ShipmentFactory()
    cancelled = ShipmentFactory(cancelled=True)
    dispatched = ShipmentFactory(dispatched=True)

    messages = run_action(back_office, "cancel", [pending.id, cancelled.id, dispatched.id])

    assert messages == ["1 cancelled, 1 already cancelled, 1 not pending (nothing done)."]
    assert status_of(pending.id) is ShipmentStatus.CANCELLED
    assert status_of(dispatched.id) is ShipmentStatus.DISPATCHED
    assert not LogEntry.objects.filter(object_id=str(cancelled.id)).exists()


def a_dispatch_accepted_after_its_cancel() -> Shipment:
    shipment = ShipmentFactory(cancelled=True)
    shipment.record_dispatch_after_cancel(SupplierConfirmation("SUP-9", "TRK9"), EPOCH)
    DjangoShipmentRepository().save(shipment)
    return shipment


def test_the_changelist_filters_the_shipments_that_need_attention(back_office: Client) -> None:
    ShipmentFactory(cancelled=True)
    conflict = a_dispatch_accepted_after_its_cancel()

    page = back_office.get(changelist_url(), {"needs_attention__exact": "1"})

    assert [r.order_ref for r in page.context["cl"].result_list] == [conflict.order_ref]
    assert "ask the supplier to stop it" in str(page.context["cl"].result_list[0].last_error)


def test_marking_conflicts_handled_clears_the_flag_and_logs_what_was_handled(
    back_office: Client,
) -> None:
    conflict = a_dispatch_accepted_after_its_cancel()
    untouched = ShipmentFactory()

    messages = run_action(back_office, "resolve_attention", [conflict.id, untouched.id])

    assert messages == ["1 marked handled."]
    assert DjangoShipmentRepository().get(conflict.id).needs_attention is False
    [entry] = LogEntry.objects.filter(object_id=str(conflict.id))
    assert "SUP-9" in entry.get_change_message()
