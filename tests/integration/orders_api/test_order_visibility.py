"""Who may read an order's v1 resources: its owner, staff, holders of monolithos.view_order.

Anyone else gets 404, as for an order that does not exist (a 403 would confirm the id), with
the API's error body; without credentials, 401. Each rule holds for the order, its tracking and
its invoice alike.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from monolithos.models import Order
from tests.integration.orders_api.factories import OrderFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

RESOURCES = ["", "tracking/", "invoice.pdf"]


def url(order_id: int, resource: str) -> str:
    return f"/api/v1/orders/{order_id}/{resource}"


@pytest.mark.parametrize("resource", RESOURCES)
def test_the_owner_reads_its_order(client_as, owner: User, order: Order, resource: str):
    assert client_as(owner).get(url(order.pk, resource)).status_code in (200, 202)


@pytest.mark.parametrize("resource", RESOURCES)
def test_someone_elses_order_is_not_found(client_as, stranger: User, order: Order, resource):
    response = client_as(stranger).get(url(order.pk, resource))

    assert response.status_code == 404
    assert response.json() == {"message": "No such order.", "extra": {}}


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("order_id", [999_999, 2**70])
def test_an_order_that_does_not_exist_is_not_found_the_same_way(
    client_as, owner: User, order: Order, resource: str, order_id: int
):
    response = client_as(owner).get(url(order_id, resource))

    assert response.status_code == 404
    assert response.json() == {"message": "No such order.", "extra": {}}


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("reader", ["staff", "viewer"])
def test_staff_and_holders_of_view_order_read_every_order(
    client_as, request: pytest.FixtureRequest, reader: str, resource: str
):
    # No owner at all: an order the legacy shop placed for a customer without an account.
    unowned: Order = OrderFactory(owner=None)
    user: User = request.getfixturevalue(reader)

    assert client_as(user).get(url(unowned.pk, resource)).status_code in (200, 202)


@pytest.mark.parametrize("resource", RESOURCES)
def test_an_order_without_an_owner_is_nobody_elses(client_as, stranger: User, resource: str):
    unowned: Order = OrderFactory(owner=None)

    assert client_as(stranger).get(url(unowned.pk, resource)).status_code == 404


@pytest.mark.parametrize("resource", RESOURCES)
def test_anonymous_callers_are_asked_for_credentials(order: Order, resource: str):
    response = APIClient().get(url(order.pk, resource))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert set(response.json()) == {"message", "extra"}


@pytest.mark.parametrize("resource", RESOURCES)
def test_a_bad_token_is_refused_before_anything_is_read(order: Order, resource: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    response = client.get(url(order.pk, resource))

    assert response.status_code == 401
    assert response.json()["message"] == "Invalid token."
