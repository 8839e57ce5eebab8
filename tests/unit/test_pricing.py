"""Pricing rules of the legacy OrderManager: pure arithmetic, no database."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from monolithos.order_manager import OrderManager


def product(price: str) -> SimpleNamespace:
    return SimpleNamespace(price=Decimal(price))


@pytest.fixture
def manager() -> OrderManager:
    return OrderManager()


def test_a_small_order_pays_flat_shipping_and_tax_on_goods_only(manager):
    prices = manager.price([(product("10.00"), 2)])

    assert prices == {
        "subtotal": Decimal("20.00"),
        "discount": Decimal("0.00"),
        "shipping_cost": Decimal("4.95"),
        "tax": Decimal("4.00"),
        "total": Decimal("28.95"),
    }


@pytest.mark.parametrize(
    ("quantity", "line_total"),
    [(9, Decimal("9.00")), (10, Decimal("9.50")), (25, Decimal("23.75"))],
)
def test_ten_or_more_of_one_sku_take_five_percent_off_that_line(manager, quantity, line_total):
    assert manager.line_total(Decimal("1.00"), quantity) == line_total


def test_free_shipping_starts_at_100_after_discount(manager):
    just_under = manager.price([(product("105.00"), 1)], "WELCOME10")  # 94.50 after discount
    exactly = manager.price([(product("100.00"), 1)])

    assert just_under["shipping_cost"] == Decimal("4.95")
    assert exactly["shipping_cost"] == Decimal("0.00")


def test_discount_codes_apply_their_rate_to_the_subtotal(manager):
    welcome = manager.price([(product("50.00"), 1)], "WELCOME10")
    spring = manager.price([(product("50.00"), 1)], "SPRING5")

    assert (welcome["discount"], spring["discount"]) == (Decimal("5.00"), Decimal("2.50"))


def test_amounts_round_half_up_to_the_cent(manager):
    # 0.45 of goods: tax 0.09; half a cent rounds away from zero.
    assert manager.money(Decimal("0.225")) == Decimal("0.23")
    assert manager.money(Decimal("0.224")) == Decimal("0.22")
    assert manager.price([(product("0.15"), 3)])["tax"] == Decimal("0.09")


def test_money_is_formatted_with_the_currency_code(manager):
    assert OrderManager.format_money(Decimal("7.5")) == "EUR 7.50"
