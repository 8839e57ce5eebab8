"""Deterministic price quotes, so callers can assert on figures without a price table."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

_SHIPPING_BASE = Decimal("3.50")
_SHIPPING_PER_UNIT = Decimal("0.25")


def quote(sku: str, quantity: int) -> dict[str, Any]:
    digest = hashlib.sha256(sku.encode("utf-8")).digest()
    # 9900 buckets offset by 100 cents spans exactly 1.00 to 99.99.
    unit_cents = 100 + int.from_bytes(digest[:4], "big") % 9900
    shipping = _SHIPPING_BASE + _SHIPPING_PER_UNIT * quantity
    return {
        "sku": sku,
        "quantity": quantity,
        # Money travels as decimal strings: a JSON float would invite rounding on the client.
        "unit_cost": f"{Decimal(unit_cents).scaleb(-2):.2f}",
        "shipping_cost": f"{shipping:.2f}",
        "currency": "EUR",
        "lead_time_days": 1 + digest[4] % 7,
    }
