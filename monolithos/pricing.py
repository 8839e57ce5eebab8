# Pricing constants and money formatting, shared by OrderManager and the invoice renderer.
# They used to live on OrderManager, which made invoicing import OrderManager while
# OrderManager imported invoicing (LEGACY.md, the circular import: gone).
from decimal import Decimal

TAX_RATE = Decimal("0.20")
SHIPPING_FLAT = Decimal("4.95")
FREE_SHIPPING_THRESHOLD = Decimal("100.00")
BULK_QUANTITY = 10
BULK_DISCOUNT = Decimal("0.05")
DISCOUNT_CODES = {"WELCOME10": Decimal("0.10"), "SPRING5": Decimal("0.05")}


def format_money(value):
    return "EUR %s" % Decimal(value).quantize(Decimal("0.01"))
