"""An in-memory stand-in for OrderManager's repository (``monolithos.repository.DatabaseRepo``).

It holds unsaved model instances with their primary keys set and their relations filled in, as
``select_related`` and ``prefetch_related`` would leave them: code that asks the repository is
answered from memory, and code that goes to the ORM by itself (a ``save()``, a transaction, a
relation not loaded) still reaches for the database, where a test or the boss fight sees it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal
from itertools import count
from typing import Any

from django.db.models import Model, QuerySet

from monolithos.models import Customer, Invoice, Order, OrderLine, Product
from monolithos.placement import PlacementRepository

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)


def _loaded(model: type[Model], objects: Iterable[Model]) -> QuerySet[Any]:
    """A queryset already evaluated: iterating it runs no query."""
    queryset = model._default_manager.all()
    queryset._result_cache = list(objects)
    return queryset


class FakeOrderRepository:
    def __init__(self) -> None:
        self.products: dict[str, Product] = {}
        self.customers: dict[str, Customer] = {}
        self.orders: dict[int, Order] = {}
        self.invoices: dict[int, Invoice] = {}
        self._ids = count(1)

    # ------------------------------------------------------------------ the test's own set-up

    def add_product(self, sku: str, price: str, stock: int) -> Product:
        product = Product(
            pk=next(self._ids), sku=sku, name=sku.title(), price=Decimal(price), stock=stock
        )
        self.products[sku] = product
        return product

    def add_order(
        self, email: str, lines: Iterable[tuple[str, int]], *, created_at: datetime.datetime = NOW
    ) -> Order:
        """A placed order with its lines, customer and invoice, as the database would hold it."""
        customer = self.customer_for(email, email.split("@")[0].title())
        order = Order(
            pk=next(self._ids),
            customer=customer,
            shipping_name=customer.name,
            shipping_address="12 Analytical Row, London",
            created_at=created_at,
        )
        order.number = f"ORD-{order.pk:06d}"
        order_lines = [
            OrderLine(
                pk=next(self._ids),
                order=order,
                product=self.products[sku],
                sku=sku,
                quantity=quantity,
                unit_price=self.products[sku].price,
                line_total=self.products[sku].price * quantity,
            )
            for sku, quantity in lines
        ]
        order.total = sum((line.line_total for line in order_lines), Decimal("0"))
        order._prefetched_objects_cache = {"lines": _loaded(OrderLine, order_lines)}  # type: ignore[attr-defined]
        self.orders[order.pk] = order
        self.invoices[order.pk] = Invoice(
            pk=order.pk, order=order, number=f"INV-{order.pk:06d}", amount=order.total
        )
        return order

    # ------------------------------------------------------------------ DatabaseRepo's methods

    def product_by_sku(self, sku: str) -> Product | None:
        return self.products.get(sku)

    def take_stock(self, product: Product, quantity: int) -> bool:
        stored = self.products[product.sku]
        if stored.stock < quantity:
            return False
        stored.stock -= quantity
        return True

    def release_stock(self, product_id: int, quantity: int) -> None:
        for product in self.products.values():
            if product.pk == product_id:
                product.stock += quantity

    def customer_for(self, email: str, name: str) -> Customer:
        if email not in self.customers:
            self.customers[email] = Customer(pk=next(self._ids), email=email, name=name)
        return self.customers[email]

    def create_order(self, **fields: Any) -> Order:
        order = Order(pk=next(self._ids), created_at=NOW, **fields)
        self.orders[order.pk] = order
        return order

    def create_line(self, **fields: Any) -> OrderLine:
        return OrderLine(pk=next(self._ids), **fields)

    def create_invoice(self, **fields: Any) -> Invoice:
        invoice = Invoice(pk=next(self._ids), **fields)
        self.invoices[invoice.order.pk] = invoice
        return invoice

    def mark_dispatch_failed(self, order: Order) -> None:
        if order.shipping_status == "pending":
            order.shipping_status = "dispatch_failed"

    def lock_order(self, order_id: int) -> Order:
        return self.orders[order_id]

    def orders_since(self, since: datetime.datetime) -> list[Order]:
        return [
            o for o in self.orders.values() if o.created_at >= since and o.status != "cancelled"
        ]

    def products_below(self, threshold: int) -> list[Product]:
        return sorted(
            (p for p in self.products.values() if p.stock < threshold), key=lambda p: p.sku
        )


# mypy proves the fake answers what placement asks of a repository.
_repository: PlacementRepository = FakeOrderRepository()
