"""The supplier's domain records: validated dispatch requests and the dispatches it accepted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DispatchItem:
    sku: str
    quantity: int

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "quantity": self.quantity}


@dataclass(frozen=True)
class DispatchRequest:
    order_ref: str
    destination: str
    items: tuple[DispatchItem, ...]


@dataclass(frozen=True)
class Dispatch:
    supplier_reference: str
    tracking_number: str
    order_ref: str
    destination: str
    items: tuple[DispatchItem, ...]
    idempotency_key: str | None
    created_at: str
    status: str = "accepted"

    def to_json(self) -> dict[str, Any]:
        return {
            "supplier_reference": self.supplier_reference,
            "tracking_number": self.tracking_number,
            "status": self.status,
            "order_ref": self.order_ref,
            "destination": self.destination,
            "items": [item.to_json() for item in self.items],
            "idempotency_key": self.idempotency_key,
            "created_at": self.created_at,
        }
