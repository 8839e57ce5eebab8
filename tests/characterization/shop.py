"""The web shop's side of the legacy JSON API: how it builds and sends an order."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client


def order_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "shipping_address": "12 Analytical Row\nLondon",
        "lines": [{"sku": "PALLET", "quantity": 2}],
    }
    payload.update(overrides)
    return payload


def place(client: Client, payload: Any) -> Any:
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post("/api/orders/", data=body, content_type="application/json")
