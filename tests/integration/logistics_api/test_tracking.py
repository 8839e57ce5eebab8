"""GET /api/v1/tracking/<order_ref>/: our status plus the supplier's, for those who may see it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.test import APIClient

from logistics.wiring import build_logistics_service
from tests.conftest import SupplierSimulator
from tests.integration.logistics_api.factories import ShipmentFactory

pytestmark = [pytest.mark.django_db(databases=["default", "logistics"]), pytest.mark.simulator]

ClientAs = Callable[[User], APIClient]


def tracking_url(order_ref: str) -> str:
    return reverse("logistics_api:tracking", args=[order_ref])


def test_a_pending_shipment_has_no_supplier_status_yet(
    client_as: ClientAs, customer: User, supplier: SupplierSimulator
) -> None:
    shipment = ShipmentFactory(owner_id=customer.pk)

    response = client_as(customer).get(tracking_url(shipment.order_ref))

    assert response.status_code == 200
    assert response.json() == {
        "order_ref": shipment.order_ref,
        "status": "pending",
        "supplier_reference": None,
        "tracking_number": None,
        "dispatched_at": None,
        "supplier_status": None,
    }
    assert supplier.received() == []


def test_a_dispatched_shipment_reports_the_suppliers_own_status(
    client_as: ClientAs, customer: User, supplier: SupplierSimulator
) -> None:
    shipment = ShipmentFactory(owner_id=customer.pk)
    build_logistics_service().dispatch(shipment.id)
    [dispatch] = supplier.ledger()

    response = client_as(customer).get(tracking_url(shipment.order_ref))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "dispatched"
    assert body["supplier_reference"] == dispatch["supplier_reference"]
    assert body["supplier_status"] == dispatch["status"]


def test_when_the_supplier_cannot_be_asked_its_status_is_unknown(
    client_as: ClientAs, staff: User, supplier: SupplierSimulator
) -> None:
    shipment = ShipmentFactory()
    build_logistics_service().dispatch(shipment.id)
    supplier.set_chaos(failure_rate=1.0)

    response = client_as(staff).get(tracking_url(shipment.order_ref))

    assert response.status_code == 200
    assert response.json()["supplier_status"] == "unknown"


def test_tracking_an_unknown_order_is_a_404(client_as: ClientAs, staff: User) -> None:
    response = client_as(staff).get(tracking_url("ORD-NOPE"))

    assert response.status_code == 404
    assert response.json() == {"message": "no shipment for ORD-NOPE", "extra": {}}


def test_someone_elses_order_is_not_found_and_the_supplier_is_not_asked(
    client_as: ClientAs, customer: User, staff: User, supplier: SupplierSimulator
) -> None:
    theirs = ShipmentFactory(owner_id=staff.pk)
    build_logistics_service().dispatch(theirs.id)
    asked_before = len(supplier.received())

    response = client_as(customer).get(tracking_url(theirs.order_ref))

    assert response.status_code == 404
    assert response.json()["message"] == f"no shipment for {theirs.order_ref}"
    assert len(supplier.received()) == asked_before


def test_an_order_ref_too_long_to_exist_is_a_400(client_as: ClientAs, staff: User) -> None:
    response = client_as(staff).get(tracking_url("X" * 65))

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["order_ref"]
