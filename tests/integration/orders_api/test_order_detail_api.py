"""GET /api/v1/orders/<id>/: the order its caller placed, with its lines, money and links."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from monolithos.models import Order

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


def test_the_owner_gets_the_order_with_its_lines_money_shipping_state_and_links(
    client_as, owner: User, order: Order
):
    line = order.lines.get()

    response = client_as(owner).get(f"/api/v1/orders/{order.pk}/")

    assert response.status_code == 200
    assert response.json() == {
        "id": order.pk,
        "number": order.number,
        "status": "placed",
        "customer_email": "ada@example.com",
        "shipping_name": "Ada Lovelace",
        "shipping_address": "12 Analytical Row\nLondon",
        "discount_code": "",
        "subtotal": "25.00",
        "discount": "0.00",
        "shipping_cost": "4.90",
        "tax": "4.75",
        "total": "34.65",
        "lines": [{"sku": line.sku, "quantity": 2, "unit_price": "12.50", "line_total": "25.00"}],
        "shipping_status": "pending",
        "tracking_number": None,
        "created_at": order.created_at.isoformat().replace("+00:00", "Z"),
        "cancelled_at": None,
        "links": {
            "order": f"/api/v1/orders/{order.pk}/",
            "tracking": f"/api/v1/orders/{order.pk}/tracking/",
            "invoice": f"/api/v1/orders/{order.pk}/invoice.pdf",
            "shipment": f"/api/v1/tracking/{order.number}/",
        },
    }


def test_a_dispatched_order_shows_the_tracking_number_its_columns_hold(
    client_as, owner: User, order: Order
):
    Order.objects.filter(pk=order.pk).update(
        status="shipped", shipping_status="dispatched", tracking_number="TRK-1"
    )

    body = client_as(owner).get(f"/api/v1/orders/{order.pk}/").json()

    assert (body["status"], body["shipping_status"], body["tracking_number"]) == (
        "shipped",
        "dispatched",
        "TRK-1",
    )
