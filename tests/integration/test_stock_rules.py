"""Stock rules of the legacy OrderManager against the real database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from monolithos import placement
from monolithos.models import Order, Product
from monolithos.order_manager import OrderError, OrderManager
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def payload(*lines: tuple[str, int]) -> dict:
    return {
        "customer_name": "Stock Tester",
        "customer_email": "stock@example.com",
        "shipping_address": "1 Warehouse Lane",
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
    }


def test_validation_merges_repeated_skus_before_checking_stock():
    ProductFactory(sku="A", stock=5)

    clean = OrderManager().validate(payload(("A", 2), ("A", 3)))

    assert [(p.sku, qty) for p, qty in clean["lines"]] == [("A", 5)]


def test_validation_refuses_more_than_the_stock():
    ProductFactory(sku="A", stock=5)

    with pytest.raises(OrderError, match=r"insufficient stock for A \(requested 6, available 5\)"):
        OrderManager().validate(payload(("A", 6)))


def test_stock_taken_after_validation_rolls_the_whole_order_back(settings, monkeypatch):
    """Another order takes the last units between the check and the update: nothing is kept."""
    settings.SUPPLIER_API_URL = "http://127.0.0.1:9"
    first = ProductFactory(sku="A", stock=5, price=Decimal("1.00"))
    second = ProductFactory(sku="B", stock=1, price=Decimal("1.00"))
    validate = placement.validate

    def validate_then_lose_the_race(data, *, repo):
        clean = validate(data, repo=repo)
        Product.objects.filter(pk=second.pk).update(stock=0)
        return clean

    monkeypatch.setattr(placement, "validate", validate_then_lose_the_race)

    with pytest.raises(OrderError, match="insufficient stock for B"):
        OrderManager().place_order(payload(("A", 2), ("B", 1)))

    assert Order.objects.count() == 0
    first.refresh_from_db()
    assert first.stock == 5


def test_cancelling_returns_every_line_to_stock(settings, mailoutbox):
    settings.SUPPLIER_API_URL = "http://127.0.0.1:9"  # supplier down: the order stays cancellable
    a = ProductFactory(sku="A", stock=5)
    b = ProductFactory(sku="B", stock=5)
    order = OrderManager().place_order(payload(("A", 2), ("B", 5)))
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.stock, b.stock, order.shipping_status) == (3, 0, "dispatch_failed")

    OrderManager().cancel_order(order)

    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.stock, b.stock) == (5, 5)
