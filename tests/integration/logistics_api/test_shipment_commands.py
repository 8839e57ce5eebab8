"""POST dispatch and cancel: who may, what the supplier simulator receives, every outcome's code.

Dispatches go to a real supplier simulator process (the ``supplier`` fixture).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.test import APIClient

from logistics.adapters.orm import DjangoShipmentRepository
from logistics.domain import ShipmentStatus
from tests.conftest import SupplierSimulator
from tests.factories import StaffUserFactory
from tests.integration.logistics_api.factories import ShipmentFactory

pytestmark = [pytest.mark.django_db(databases=["default", "logistics"]), pytest.mark.simulator]

ClientAs = Callable[[User], APIClient]


def dispatch_url(shipment_id: uuid.UUID) -> str:
    return reverse("logistics_api:shipment_dispatch", args=[shipment_id])


def cancel_url(shipment_id: uuid.UUID) -> str:
    return reverse("logistics_api:shipment_cancel", args=[shipment_id])


def stored_status(shipment_id: uuid.UUID) -> ShipmentStatus:
    return DjangoShipmentRepository().get(shipment_id).status


# ---------------------------------------------------------------------- dispatch


def test_a_staff_token_dispatches_a_pending_shipment(
    client_as: ClientAs, staff: User, supplier: SupplierSimulator
) -> None:
    shipment = ShipmentFactory()

    response = client_as(staff).post(dispatch_url(shipment.id))

    assert response.status_code == 200
    body = response.json()
    [dispatch] = supplier.ledger()
    assert dispatch["order_ref"] == shipment.order_ref
    assert body["status"] == "dispatched"
    assert body["supplier_reference"] == dispatch["supplier_reference"]
    assert body["tracking_number"] == dispatch["tracking_number"]
    assert body["attempt_count"] == 1
    assert stored_status(shipment.id) is ShipmentStatus.DISPATCHED


def test_a_service_token_may_dispatch(
    client_as: ClientAs, service_user: User, supplier: SupplierSimulator
) -> None:
    shipment = ShipmentFactory()

    response = client_as(service_user).post(dispatch_url(shipment.id))

    assert response.status_code == 200
    assert [d["order_ref"] for d in supplier.ledger()] == [shipment.order_ref]


def test_a_supplier_outage_answers_202_and_the_shipment_stays_pending(
    client_as: ClientAs, staff: User, supplier: SupplierSimulator
) -> None:
    shipment = ShipmentFactory()
    supplier.set_chaos(failure_rate=1.0)

    response = client_as(staff).post(dispatch_url(shipment.id))

    assert response.status_code == 202
    body = response.json()
    assert body["dispatched"] is False
    assert body["failure"]["kind"] == "unavailable"
    assert body["failure"]["status"] == 503
    assert body["failure"]["detail"] == "HTTP 503"
    assert body["shipment"]["status"] == "pending"
    assert body["shipment"]["attempt_count"] == 1
    assert body["retry_at"] == body["shipment"]["next_attempt_at"]
    assert datetime.fromisoformat(body["retry_at"]) > datetime.fromisoformat(
        body["shipment"]["updated_at"]
    )
    assert supplier.ledger() == []
    assert stored_status(shipment.id) is ShipmentStatus.PENDING


def test_dispatching_a_cancelled_shipment_is_a_409_naming_both_statuses(
    client_as: ClientAs, staff: User, supplier: SupplierSimulator
) -> None:
    shipment = ShipmentFactory(cancelled=True)

    response = client_as(staff).post(dispatch_url(shipment.id))

    assert response.status_code == 409
    body = response.json()
    assert body["extra"] == {"current_status": "cancelled", "target_status": "dispatched"}
    assert "cannot go from cancelled to dispatched" in body["message"]
    assert supplier.received() == []


def test_dispatching_an_unknown_shipment_is_a_404(
    client_as: ClientAs, staff: User, supplier: SupplierSimulator
) -> None:
    response = client_as(staff).post(dispatch_url(uuid.uuid4()))

    assert response.status_code == 404
    assert supplier.received() == []


def test_a_customer_may_not_dispatch_even_their_own_shipment(
    client_as: ClientAs, customer: User, supplier: SupplierSimulator
) -> None:
    shipment = ShipmentFactory(owner_id=customer.pk)

    response = client_as(customer).post(dispatch_url(shipment.id))

    assert response.status_code == 403
    assert set(response.json()) == {"message", "extra"}
    assert supplier.received() == []
    assert stored_status(shipment.id) is ShipmentStatus.PENDING


def test_anonymous_callers_get_a_401_with_a_token_challenge(
    api: APIClient, supplier: SupplierSimulator
) -> None:
    shipment = ShipmentFactory()

    response = api.post(dispatch_url(shipment.id))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "message": "Authentication credentials were not provided.",
        "extra": {},
    }
    assert api.get(reverse("logistics_api:shipment_list")).status_code == 401


def test_an_unknown_token_is_a_401(api: APIClient) -> None:
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = api.get(reverse("logistics_api:shipment_list"))

    assert response.status_code == 401
    assert response.json()["message"] == "Invalid token."


# ---------------------------------------------------------------------- cancel


def test_plain_staff_may_cancel_a_pending_shipment(client_as: ClientAs) -> None:
    clerk: User = StaffUserFactory(is_superuser=False)
    shipment = ShipmentFactory()

    response = client_as(clerk).post(cancel_url(shipment.id))

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancelled_at"] is not None
    assert stored_status(shipment.id) is ShipmentStatus.CANCELLED


def test_cancelling_a_dispatched_shipment_is_a_409(client_as: ClientAs, staff: User) -> None:
    shipment = ShipmentFactory(dispatched=True)

    response = client_as(staff).post(cancel_url(shipment.id))

    assert response.status_code == 409
    assert response.json()["extra"] == {
        "current_status": "dispatched",
        "target_status": "cancelled",
    }
    assert stored_status(shipment.id) is ShipmentStatus.DISPATCHED


def test_cancelling_a_cancelled_shipment_answers_it_unchanged(
    client_as: ClientAs, staff: User
) -> None:
    shipment = ShipmentFactory()
    first = client_as(staff).post(cancel_url(shipment.id))

    again = client_as(staff).post(cancel_url(shipment.id))

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()


def test_cancelling_an_unknown_shipment_is_a_404(client_as: ClientAs, staff: User) -> None:
    assert client_as(staff).post(cancel_url(uuid.uuid4())).status_code == 404


def test_a_customer_may_not_cancel(client_as: ClientAs, customer: User) -> None:
    shipment = ShipmentFactory(owner_id=customer.pk)

    assert client_as(customer).post(cancel_url(shipment.id)).status_code == 403
    assert stored_status(shipment.id) is ShipmentStatus.PENDING
