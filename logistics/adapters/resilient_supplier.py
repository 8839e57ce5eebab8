"""The SupplierGateway the services use: one HTTP attempt, wrapped in the resilience layer.

Each attempt passes a bulkhead (a bound on concurrent calls, refused at once past it) and the
circuit breaker (refused at once while open, without touching the network), then makes one
HTTP call whose read timeout never outlives the operation's deadline. Retryable failures
(5xx, 429, connection errors, timeouts) are retried with exponential backoff and full jitter
(tenacity), honouring Retry-After, within both an attempt count and the deadline; a 4xx is
neither retried nor counted against the breaker. Quotes fall back to the last known good
answer, marked stale with its age. Dispatches carry the shipment's idempotency key, so a
retry after a hidden success returns the original dispatch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from django.core.cache import cache
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)
from tenacity.wait import wait_random_exponential

from logistics.adapters.breaker import CircuitOpen, SharedCircuitBreaker
from logistics.adapters.bulkhead import Bulkhead, BulkheadFull
from logistics.adapters.supplier_http import HttpSupplierGateway
from logistics.domain import SupplierConfirmation
from logistics.ports import DispatchRequest, FailureKind, Quote, SupplierFailure
from observability.metrics import SUPPLIER_CALL_SECONDS

T = TypeVar("T")

RETRY_NOW = frozenset({"unavailable", "unreachable", "timeout"})
QUOTE_CACHE_SECONDS = 7 * 24 * 3600


def our_request_was_wrong(error: BaseException) -> bool:
    """A 4xx: the supplier is fine, so the breaker excludes it (pybreaker's ``exclude``)."""
    return isinstance(error, SupplierFailure) and error.kind == "rejected"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one operation tries: attempts, overall deadline, backoff bounds (seconds)."""

    max_attempts: int
    deadline: float
    backoff_initial: float = 0.2
    backoff_max: float = 2.0


class ResilientSupplierGateway:
    def __init__(
        self,
        http: HttpSupplierGateway,
        *,
        breaker: SharedCircuitBreaker,
        bulkhead: Bulkhead,
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.breaker = breaker
        self.bulkhead = bulkhead
        self.policy = policy
        self.sleep = sleep  # between attempts; a test records the pauses instead

    # ------------------------------------------------------------------ the port

    def dispatch(self, request: DispatchRequest) -> SupplierConfirmation:
        return self._with_retries(
            "dispatch", lambda timeout: self.http.dispatch(request, read_timeout=timeout)
        )

    def dispatch_status(self, supplier_reference: str) -> str:
        return self._with_retries(
            "track",
            lambda timeout: self.http.dispatch_status(supplier_reference, read_timeout=timeout),
        )

    def quote(self, sku: str, quantity: int) -> Quote:
        key = f"supplier-quote:{sku}:{quantity}"
        try:
            fresh = self._with_retries(
                "quote", lambda timeout: self.http.quote(sku, quantity, read_timeout=timeout)
            )
        except SupplierFailure:
            remembered: tuple[Quote, float] | None = cache.get(key)
            if remembered is None:
                raise
            quote, fetched_at = remembered
            return replace(quote, stale=True, age_seconds=round(time.time() - fetched_at, 1))
        cache.set(key, (fresh, time.time()), QUOTE_CACHE_SECONDS)
        return fresh

    # ------------------------------------------------------------------ the layer

    def _with_retries(self, operation: str, call: Callable[[float], T]) -> T:
        deadline = time.monotonic() + self.policy.deadline
        jitter = wait_random_exponential(
            multiplier=self.policy.backoff_initial, max=self.policy.backoff_max
        )

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            pause = getattr(failure, "retry_after", None) or jitter(state)
            # Never sleep past the deadline: the stop condition below then ends the retries.
            return max(0.0, min(pause, deadline - time.monotonic()))

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts)
            | stop_after_delay(self.policy.deadline),
            wait=wait,
            sleep=self.sleep,
            retry=retry_if_exception(
                lambda error: isinstance(error, SupplierFailure) and error.kind in RETRY_NOW
            ),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SupplierFailure("timeout", "deadline reached before the call")
                return self._attempt(operation, call, min(remaining, self.http.read_timeout))
        raise AssertionError("unreachable: tenacity reraises the last failure")  # pragma: no cover

    def _attempt(self, operation: str, call: Callable[[float], T], timeout: float) -> T:
        started = time.perf_counter()
        try:
            with self.bulkhead.slot():
                return self.breaker.call(lambda: call(timeout))
        except (CircuitOpen, BulkheadFull) as refusal:
            SUPPLIER_CALL_SECONDS.labels(operation, "rejected").observe(
                time.perf_counter() - started
            )
            kind: FailureKind = (
                "circuit_open" if isinstance(refusal, CircuitOpen) else "bulkhead_full"
            )
            retry_after = refusal.retry_after if isinstance(refusal, CircuitOpen) else None
            raise SupplierFailure(kind, str(refusal), retry_after=retry_after) from refusal
