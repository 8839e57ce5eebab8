"""One HTTP attempt at the Supplier Protocol API, with timeouts and idempotency keys.

Every call carries the trace headers and is measured (observability.outbound). Failures are
translated into ``SupplierFailure`` with a kind the caller can act on: ``unavailable`` (5xx,
429 with its Retry-After), ``unreachable`` (connection refused or reset), ``timeout``,
``rejected`` (other 4xx: our request is wrong, retrying will not help). Retries, the circuit
breaker, the bulkhead and fallbacks wrap this in ``logistics.adapters.resilient_supplier``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from logistics.domain import SupplierConfirmation
from logistics.ports import DispatchRequest, Quote, SupplierFailure
from observability.outbound import SupplierSession


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None  # absent, or an HTTP date: the caller's own backoff applies


class HttpSupplierGateway:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        session: SupplierSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.session = session or SupplierSession()

    def _call(
        self, method: str, path: str, operation: str, read_timeout: float | None, **kwargs: Any
    ) -> Any:
        timeout = (self.connect_timeout, read_timeout or self.read_timeout)
        try:
            response = self.session.request(
                method, self.base_url + path, timeout=timeout, operation=operation, **kwargs
            )
        except requests.Timeout as error:
            raise SupplierFailure("timeout", type(error).__name__) from error
        except requests.RequestException as error:
            raise SupplierFailure("unreachable", type(error).__name__) from error
        status = response.status_code
        if status >= 500 or status == 429:
            raise SupplierFailure("unavailable", f"HTTP {status}", status, _retry_after(response))
        if status >= 400:
            raise SupplierFailure("rejected", f"HTTP {status}: {response.text[:200]}", status)
        try:
            return response.json()
        except ValueError as error:
            raise SupplierFailure("unavailable", "malformed JSON answer", status) from error

    def dispatch(
        self, request: DispatchRequest, read_timeout: float | None = None
    ) -> SupplierConfirmation:
        body = self._call(
            "POST",
            "/v1/dispatches",
            "dispatch",
            read_timeout,
            json={
                "order_ref": request.order_ref,
                "destination": request.destination,
                "items": [{"sku": item.sku, "quantity": item.quantity} for item in request.items],
            },
            headers={"Idempotency-Key": request.idempotency_key},
        )
        try:
            return SupplierConfirmation(
                supplier_reference=str(body["supplier_reference"]),
                tracking_number=str(body["tracking_number"]),
            )
        except (KeyError, TypeError) as error:
            raise SupplierFailure("unavailable", "answer without a reference") from error

    def dispatch_status(self, supplier_reference: str, read_timeout: float | None = None) -> str:
        body = self._call("GET", f"/v1/dispatches/{supplier_reference}", "track", read_timeout)
        return str(body.get("status", "unknown")) if isinstance(body, dict) else "unknown"

    def quote(self, sku: str, quantity: int, read_timeout: float | None = None) -> Quote:
        body = self._call(
            "GET", "/v1/quotes", "quote", read_timeout, params={"sku": sku, "quantity": quantity}
        )
        try:
            return Quote(
                sku=str(body["sku"]),
                quantity=int(body["quantity"]),
                unit_cost=Decimal(str(body["unit_cost"])),
                shipping_cost=Decimal(str(body["shipping_cost"])),
                currency=str(body["currency"]),
                lead_time_days=int(body["lead_time_days"]),
            )
        except (KeyError, TypeError, ValueError, InvalidOperation) as error:
            raise SupplierFailure("unavailable", "malformed quote") from error
