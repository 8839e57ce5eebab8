"""Orders as the intake records them, placed by whichever user a test names as their owner.

``OrderFactory`` writes what ``accept_order`` writes for one line of two boxes: the order
(numbered), its line and its invoice, still owed its PDF. ``shipment_for`` creates the order's
shipment through the logistics facade, as the logistics worker does with the outbox message.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory
from factory.django import DjangoModelFactory

from logistics.public import CreateShipment, ItemIn, ShipmentView, build_logistics_service
from monolithos.models import Invoice, Order, OrderLine
from tests.factories import CustomerFactory, ProductFactory


class OrderFactory(DjangoModelFactory):
    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerFactory)
    owner = None
    shipping_name = "Ada Lovelace"
    shipping_address = "12 Analytical Row\nLondon"
    subtotal = Decimal("25.00")
    tax = Decimal("4.75")
    shipping_cost = Decimal("4.90")
    total = Decimal("34.65")

    @classmethod
    def _create(cls, model_class: type[Order], *args: Any, **kwargs: Any) -> Order:
        order: Order = super()._create(model_class, *args, **kwargs)
        order.number = f"ORD-{order.pk:06d}"
        order.save(update_fields=["number"])
        product = ProductFactory(price=Decimal("12.50"))
        OrderLine.objects.create(
            order=order,
            product=product,
            sku=product.sku,
            quantity=2,
            unit_price=product.price,
            line_total=Decimal("25.00"),
        )
        Invoice.objects.create(order=order, number=f"INV-{order.pk:06d}", amount=order.total)
        return order


def shipment_for(order: Order) -> ShipmentView:
    assert order.number is not None
    return build_logistics_service().create_shipment(
        CreateShipment(
            order_ref=order.number,
            destination=order.shipping_address,
            items=[ItemIn(sku=line.sku, quantity=line.quantity) for line in order.lines.all()],
            owner_id=order.owner_id,
            contact_email=order.customer.email,
        )
    )
