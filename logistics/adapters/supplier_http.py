"""The SupplierGateway over HTTP: the Supplier Protocol API, with timeouts and idempotency keys.

Every call carries the trace headers and is measured (observability.outbound). Failures are
translated into ``SupplierFailure`` with a kind the services can act on: ``unavailable``
(5xx, 429), ``unreachable`` (connection refused or reset), ``timeout``, ``rejected`` (other
4xx: our request is wrong, retrying will not help). Retries and the circuit breaker belong to
the resilience layer, not here.
"""

from __future__ import annotations

from typing import Any

import requests

from logistics.domain import SupplierConfirmation
from logistics.ports import DispatchRequest, SupplierFailure
from observability.outbound import SupplierSession


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
        self.timeout = (connect_timeout, read_timeout)
        self.session = session or SupplierSession()

    def _call(self, method: str, path: str, operation: str, **kwargs: Any) -> Any:
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                timeout=self.timeout,
                operation=operation,
                **kwargs,
            )
        except requests.Timeout as error:
            raise SupplierFailure("timeout", type(error).__name__) from error
        except requests.RequestException as error:
            raise SupplierFailure("unreachable", type(error).__name__) from error
        status = response.status_code
        if status >= 500 or status == 429:
            raise SupplierFailure("unavailable", f"HTTP {status}", status)
        if status >= 400:
            raise SupplierFailure("rejected", f"HTTP {status}: {response.text[:200]}", status)
        try:
            return response.json()
        except ValueError as error:
            raise SupplierFailure("unavailable", "malformed JSON answer", status) from error

    def dispatch(self, request: DispatchRequest) -> SupplierConfirmation:
        body = self._call(
            "POST",
            "/v1/dispatches",
            "dispatch",
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

    def dispatch_status(self, supplier_reference: str) -> str:
        body = self._call("GET", f"/v1/dispatches/{supplier_reference}", "track")
        return str(body.get("status", "unknown")) if isinstance(body, dict) else "unknown"
