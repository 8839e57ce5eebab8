"""GET /api/v1/shipments/ and /api/v1/shipments/<id>/: what each caller sees, filtered, paged."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.test import APIClient

from logistics.adapters.orm import DjangoShipmentRepository
from logistics.domain import ShipmentStatus
from tests.integration.logistics_api.factories import ShipmentFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

ClientAs = Callable[[User], APIClient]


# A URL is reversed inside a test, never at import: collection would otherwise load the URLconf
# before pytest-django turns DEBUG off, and config/urls.py would add its DEBUG-only routes.
def list_url() -> str:
    return reverse("logistics_api:shipment_list")


def detail(shipment_id: uuid.UUID) -> str:
    return reverse("logistics_api:shipment_detail", args=[shipment_id])


def order_refs(body: dict[str, object]) -> list[str]:
    results = body["results"]
    assert isinstance(results, list)
    return [row["order_ref"] for row in results]


def test_staff_list_every_shipment_newest_first(client_as: ClientAs, staff: User) -> None:
    first, second, third = ShipmentFactory.create_batch(3)

    response = client_as(staff).get(list_url())

    assert response.status_code == 200
    assert order_refs(response.json()) == [third.order_ref, second.order_ref, first.order_ref]


def test_a_listed_shipment_carries_the_documented_fields_and_no_contact_email(
    client_as: ClientAs, staff: User
) -> None:
    shipment = ShipmentFactory(owner_id=staff.pk, contact_email="secret@example.com")

    [row] = client_as(staff).get(list_url()).json()["results"]

    assert row["id"] == str(shipment.id)
    assert row["status"] == "pending"
    assert row["items"] == [{"sku": "BOX-S", "quantity": 2}, {"sku": "PALLET", "quantity": 1}]
    assert datetime.fromisoformat(row["created_at"]) == shipment.created_at
    assert "contact_email" not in row
    assert "secret@example.com" not in str(row)


def test_the_list_filters_by_status_and_by_order_ref(client_as: ClientAs, staff: User) -> None:
    pending = ShipmentFactory()
    cancelled = ShipmentFactory(cancelled=True)
    dispatched = ShipmentFactory(dispatched=True)
    client = client_as(staff)

    assert order_refs(client.get(list_url(), {"status": "cancelled"}).json()) == [
        cancelled.order_ref
    ]
    assert order_refs(client.get(list_url(), {"status": "dispatched"}).json()) == [
        dispatched.order_ref
    ]
    assert order_refs(client.get(list_url(), {"order_ref": pending.order_ref}).json()) == [
        pending.order_ref
    ]
    both = client.get(list_url(), {"status": "pending", "order_ref": cancelled.order_ref})
    assert order_refs(both.json()) == []


def test_an_unknown_status_filter_is_a_400_naming_the_field(
    client_as: ClientAs, staff: User
) -> None:
    response = client_as(staff).get(list_url(), {"status": "bogus"})

    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Invalid input."
    assert list(body["extra"]["fields"]) == ["status"]
    assert "bogus" in body["extra"]["fields"]["status"][0]


def test_the_list_is_cursor_paginated_without_gaps_or_repeats(
    client_as: ClientAs, staff: User
) -> None:
    shipments = ShipmentFactory.create_batch(5)
    client = client_as(staff)

    first_page = client.get(list_url(), {"page_size": 2}).json()
    second_page = client.get(first_page["next"]).json()
    third_page = client.get(second_page["next"]).json()

    seen = order_refs(first_page) + order_refs(second_page) + order_refs(third_page)
    assert seen == [s.order_ref for s in reversed(shipments)]
    assert first_page["previous"] is None
    assert third_page["next"] is None
    assert client.get(second_page["previous"]).json()["results"] == first_page["results"]


def test_pages_hold_50_by_default_and_200_at_most(client_as: ClientAs, staff: User) -> None:
    DjangoShipmentRepository().add_many_if_absent(ShipmentFactory.build_batch(201))
    client = client_as(staff)

    assert len(client.get(list_url()).json()["results"]) == 50
    assert len(client.get(list_url(), {"page_size": 120}).json()["results"]) == 120
    assert len(client.get(list_url(), {"page_size": 200}).json()["results"]) == 200


@pytest.mark.parametrize("page_size", ["0", "201", "1000", "ten", "1.5", "-1", ""])
def test_a_page_size_out_of_its_bounds_is_refused_not_ignored(
    client_as: ClientAs, staff: User, page_size: str
) -> None:
    response = client_as(staff).get(list_url(), {"page_size": page_size})

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid input.",
        "extra": {"fields": {"page_size": ["Must be an integer from 1 to 200."]}},
    }


def test_a_forged_cursor_is_a_404_not_a_crash(client_as: ClientAs, staff: User) -> None:
    ShipmentFactory()
    # base64 of "p=not-a-timestamp": decodes fine, but its position is no date.
    response = client_as(staff).get(list_url(), {"cursor": "cD1ub3QtYS10aW1lc3RhbXA="})

    assert response.status_code == 404
    assert response.json() == {"message": "Invalid cursor", "extra": {}}


def test_retrieve_answers_one_shipment(client_as: ClientAs, staff: User) -> None:
    shipment = ShipmentFactory(dispatched=True)

    response = client_as(staff).get(detail(shipment.id))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(shipment.id)
    assert body["status"] == ShipmentStatus.DISPATCHED
    assert body["supplier_reference"] == shipment.supplier_reference
    assert "contact_email" not in body


def test_retrieving_an_unknown_shipment_is_a_404(client_as: ClientAs, staff: User) -> None:
    missing = uuid.uuid4()

    response = client_as(staff).get(detail(missing))

    assert response.status_code == 404
    assert response.json() == {"message": f"no shipment for {missing}", "extra": {}}


# ---------------------------------------------------------------------- customer isolation


def test_a_customer_lists_only_their_own_shipments(
    client_as: ClientAs, customer: User, staff: User
) -> None:
    mine = ShipmentFactory(owner_id=customer.pk)
    ShipmentFactory(owner_id=staff.pk)
    ShipmentFactory(owner_id=None)

    response = client_as(customer).get(list_url())

    assert order_refs(response.json()) == [mine.order_ref]


def test_someone_elses_shipment_is_not_found_for_a_customer(
    client_as: ClientAs, customer: User, staff: User
) -> None:
    theirs = ShipmentFactory(owner_id=staff.pk)
    mine = ShipmentFactory(owner_id=customer.pk)
    client = client_as(customer)

    assert client.get(detail(theirs.id)).status_code == 404
    assert client.get(list_url(), {"order_ref": theirs.order_ref}).json()["results"] == []
    assert client.get(detail(mine.id)).status_code == 200


def test_a_service_token_reads_every_shipment(
    client_as: ClientAs, service_user: User, customer: User
) -> None:
    ShipmentFactory(owner_id=customer.pk)

    response = client_as(service_user).get(list_url())

    assert len(response.json()["results"]) == 1


def test_a_logged_in_session_may_read_too(api: APIClient, customer: User) -> None:
    ShipmentFactory(owner_id=customer.pk)
    api.force_login(customer)

    response = api.get(list_url())

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_a_token_callers_request_is_logged_with_their_user_id(
    client_as: ClientAs, service_user: User, log_lines: Any
) -> None:
    client_as(service_user).get(reverse("logistics_api:shipment_list"))

    [final] = log_lines.events("request_finished")
    assert (final["route"], final["user_id"]) == ("logistics_api:shipment_list", service_user.pk)
