"""The web shop's JSON shapes, as the legacy endpoints have always answered them.

The new handlers of the shop's routes (``monolithos.shop_handlers``) answer with these, so a
client cannot tell which side served it; the characterization suite pins them. Decimals are
strings, missing references ``null``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monolithos import shipping_data
from monolithos.models import Order


def order_body(order: Order) -> dict[str, Any]:
    """An order, as ``POST /api/orders/`` and ``POST /api/orders/<id>/ship/`` answer it, its
    shipping data read where the data phase says (``monolithos.shipping_data``)."""
    shipping = shipping_data.read(order, reader="shop_bodies.order_body")
    return {
        "id": order.pk,
        "number": order.number,
        "status": order.status,
        "customer_email": order.customer.email,
        "shipping_name": order.shipping_name,
        "shipping_address": order.shipping_address,
        "discount_code": order.discount_code,
        "subtotal": str(order.subtotal),
        "discount": str(order.discount),
        "shipping_cost": str(order.shipping_cost),
        "tax": str(order.tax),
        "total": str(order.total),
        "shipping_status": shipping.shipping_status,
        "tracking_number": shipping.tracking_number or None,
        "supplier_reference": shipping.supplier_reference or None,
        "lines": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
                "line_total": str(line.line_total),
            }
            for line in order.lines.all()
        ],
        "invoice": f"/api/orders/{order.pk}/invoice.pdf",
    }


def tracking_body(
    *,
    order: Order,
    status: str,
    shipping_status: str,
    tracking_number: str | None,
    supplier_reference: str | None,
    dispatched_at: datetime | None,
    supplier_status: str | None,
) -> dict[str, Any]:
    """An order's tracking, as ``GET /api/orders/<id>/track/`` answers it."""
    return {
        "order": order.number,
        "status": status,
        "shipping_status": shipping_status,
        "tracking_number": tracking_number or None,
        "supplier_reference": supplier_reference or None,
        "dispatched_at": dispatched_at.isoformat() if dispatched_at else None,
        "supplier_status": supplier_status,
    }


def error_body(message: str) -> dict[str, str]:
    return {"error": message}
