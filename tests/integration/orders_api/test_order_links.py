"""Every link in every v1 answer opens for the caller who got it, and for no other user.

The order is placed as a client places it: POST /api/v1/orders/ with the caller's token, the
intake worker's half in-process (``intake.place``), then the logistics worker's first step
(the shipment, from the outbox message). The caller then reads the request and the order, and
every link found in the three answers is fetched with its token and with a stranger's.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from logistics.public import CREATE_SHIPMENT_TASK, CreateShipment, build_logistics_service
from monolithos import intake
from outbox.models import OutboxMessage
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


def links_in(answer: Any) -> dict[str, str]:
    """Every link of an answer, nested ones included, by name (``order.invoice``)."""
    found: dict[str, str] = {}
    if isinstance(answer, dict):
        for key, value in answer.items():
            if key == "links":
                found.update(value)
            else:
                found.update({f"{key}.{name}": link for name, link in links_in(value).items()})
    return found


def test_every_link_in_every_v1_answer_opens_for_its_caller_and_for_no_other_user(
    client_as, owner: User, stranger: User
):
    ProductFactory(sku="BOX-S", price="12.50", stock=10)
    caller = client_as(owner)
    accepted = caller.post(
        "/api/v1/orders/",
        {
            "customer_name": "Ada Lovelace",
            "customer_email": owner.email,
            "shipping_address": "12 Analytical Row\nLondon",
            "lines": [{"sku": "BOX-S", "quantity": 2}],
        },
        format="json",
    )
    assert accepted.status_code == 202
    request = intake.place(accepted.json()["id"])
    assert request is not None and request.status == "placed"
    message = OutboxMessage.objects.get(task=CREATE_SHIPMENT_TASK)
    build_logistics_service().create_shipment(
        CreateShipment.model_validate(message.kwargs["shipment"])
    )
    placed = caller.get(accepted.json()["links"]["self"])
    order = caller.get(placed.json()["order"]["links"]["order"])

    answers = {"accepted": accepted.json(), "request": placed.json(), "order": order.json()}
    links = {
        f"{answer}: {name}": link
        for answer, body in answers.items()
        for name, link in links_in(body).items()
    }
    opened = {name: caller.get(link).status_code for name, link in links.items()}
    refused = {name: client_as(stranger).get(link).status_code for name, link in links.items()}

    # The invoice is still owed its PDF (no worker rendered it): 202, come back later.
    assert opened == {
        "accepted: self": 200,
        "request: self": 200,
        "request: order.order": 200,
        "request: order.tracking": 200,
        "request: order.invoice": 202,
        "request: order.shipment": 200,
        "order: order": 200,
        "order: tracking": 200,
        "order: invoice": 202,
        "order: shipment": 200,
    }
    assert set(refused.values()) == {404}, refused
