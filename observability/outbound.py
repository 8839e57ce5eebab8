"""An HTTP session for calls to the Supplier Protocol API that carries the trace and is measured.

Every call gets the current trace headers (``traceparent``, ``X-Request-ID``), one latency
observation labelled by operation and outcome, and one ``supplier_call`` log line. It adds no
timeout and no retry of its own: those are the resilience layer's decisions.
"""

from __future__ import annotations

import time
from typing import Any

import requests
import structlog

from observability import trace
from observability.metrics import SUPPLIER_CALL_SECONDS, supplier_outcome

logger = structlog.get_logger(__name__)


class SupplierSession(requests.Session):
    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, operation: str = "call", **kwargs: Any
    ) -> requests.Response:
        kwargs["headers"] = {**trace.outbound_headers(), **(kwargs.get("headers") or {})}
        started = time.perf_counter()
        outcome, status = "error", None
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.Timeout:
            outcome = "timeout"
            raise
        else:
            status = response.status_code
            outcome = supplier_outcome(status)
            return response
        finally:
            elapsed = time.perf_counter() - started
            SUPPLIER_CALL_SECONDS.labels(operation, outcome).observe(elapsed)
            logger.info(
                "supplier_call",
                operation=operation,
                outcome=outcome,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
