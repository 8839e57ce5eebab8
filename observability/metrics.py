"""The project's service level indicators, defined in one place.

django-prometheus provides the request, database and cache metrics; these are the ones that
belong to Monolithos itself. Metric names and label values are part of the operations contract:
the Prometheus rules and the Grafana dashboard under ops/ use them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.registry import Collector

from observability import shadow

logger = structlog.get_logger(__name__)

# From a few milliseconds (the asynchronous path) to the legacy path's ten seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

ORDER_PLACEMENT_SECONDS = Histogram(
    "monolithos_order_placement_seconds",
    "Time to place an order, by side (legacy or new) and outcome (placed, rejected, error).",
    ["side", "outcome"],
    buckets=LATENCY_BUCKETS,
)
ORDERS_PLACED = Counter("monolithos_orders_placed", "Orders placed.", ["side"])
ORDERS_FAILED = Counter(
    "monolithos_orders_failed",
    "Orders not placed: rejected (invalid input) or error (the system failed).",
    ["side", "reason"],
)
CACHE_UNAVAILABLE = Counter(
    "monolithos_cache_unavailable",
    "Cache operations that failed open because Redis (CACHE_URL) could not be reached.",
    ["operation"],
)
ORDER_REQUEST_WAIT_SECONDS = Histogram(
    "monolithos_order_request_wait_seconds",
    "From an order request's acceptance (202) to its placement or rejection by the intake worker.",
    buckets=(*LATENCY_BUCKETS, 30.0, 60.0, 300.0),
)
BROKER_PUBLISHES = Counter(
    "monolithos_broker_publishes",
    "Hand-overs to the broker by outcome: sent, failed (within the short publish timeout) or "
    "skipped (the broker failed a moment ago; left to the sweeps without trying).",
    ["outcome"],
)
OUTBOX_REPUBLISHED = Counter(
    "monolithos_outbox_republished",
    "Outbox messages handed to the broker again because their task did not finish within its "
    "lease (lost with the broker's data, or with a killed worker), by task.",
    ["task"],
)
OWED_WORK_HANDED_OVER = Counter(
    "monolithos_owed_work_handed_over",
    "Work the database says is owed, found without any message owing it and handed over again "
    "by a sweep, by kind.",
    ["kind"],
)
SHIPMENT_EVENTS = Counter(
    "monolithos_shipment_events",
    "Shipment events applied to the legacy order's shipping columns by the worker, by kind and "
    "outcome: stale (that version or a later one was there: the in-process copy came first, "
    "the usual case), applied (it was not: the process that changed the shipment died before "
    "copying it, or its copy failed) or no_order (no such order: retried, then a failed task).",
    ["kind", "outcome"],
)
SUPPLIER_CALL_SECONDS = Histogram(
    "monolithos_supplier_call_seconds",
    "Calls to the Supplier Protocol API, by operation and outcome (ok, error, timeout, rejected).",
    ["operation", "outcome"],
    buckets=(0.001, *LATENCY_BUCKETS, 30.0),
)


INVOICE_RENDER_SECONDS = Histogram(
    "monolithos_invoice_render_seconds",
    "Time to render one invoice PDF with WeasyPrint, by where it ran (request or worker).",
    ["where"],
    buckets=LATENCY_BUCKETS,
)

# Gauges read at scrape time (backlogs, queue depths): computed, not accumulated, so they bypass
# the multiprocess files and are served by whichever process answers the scrape.
SCRAPE_REGISTRY = CollectorRegistry()
_scrape_collectors: dict[str, Collector] = {}


def register_scrape_collector(collector: Collector) -> None:
    """Add a collector read on every scrape of /metrics (once per collector class)."""
    name = type(collector).__qualname__
    if name in _scrape_collectors:
        SCRAPE_REGISTRY.unregister(_scrape_collectors[name])
    _scrape_collectors[name] = collector
    SCRAPE_REGISTRY.register(collector)


TASK_SECONDS = Histogram(
    "monolithos_task_seconds",
    "Celery task run time, by task and final state (SUCCESS, RETRY, FAILURE...).",
    ["task", "state"],
    buckets=(0.001, *LATENCY_BUCKETS, 30.0, 60.0, 120.0),
)


@contextmanager
def order_placement(side: str, *, rejected: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Measure one order placement. Usable as a decorator (contextmanager objects are).

    Exceptions in ``rejected`` are the caller's mistakes (outcome ``rejected``); any other
    exception is the system's (outcome ``error``). The exception always propagates.

    A shadow write's placement (``observability.shadow``: the strangler's candidate, rolled
    back) placed nothing: it is logged with ``shadow`` true and neither measured nor counted, so
    the placement SLI counts real placements only (the candidate's time is the strangler's
    ``monolithos_strangler_candidate_seconds``).
    """
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "placed"
    except rejected:
        outcome = "rejected"
        raise
    finally:
        elapsed = time.perf_counter() - started
        rolled_back = shadow.active()
        if not rolled_back:
            ORDER_PLACEMENT_SECONDS.labels(side, outcome).observe(elapsed)
            if outcome == "placed":
                ORDERS_PLACED.labels(side).inc()
            else:
                ORDERS_FAILED.labels(side, outcome).inc()
        logger.info(
            "order_placement",
            side=side,
            outcome=outcome,
            duration_ms=round(elapsed * 1000, 2),
            **({"shadow": True} if rolled_back else {}),
        )


def supplier_outcome(status_code: int) -> str:
    """A supplier answer's outcome: server errors and throttling are errors, the rest answered."""
    return "error" if status_code >= 500 or status_code == 429 else "ok"


LOGIN_FAILURES = Counter(
    "monolithos_login_failures",
    "Failed logins to the back office and admin (a wrong password), counted from Django's "
    "user_login_failed.",
)
LOGIN_LOCKOUTS = Counter(
    "monolithos_login_lockouts",
    "Logins refused because django-axes locked the username from that address out, counted from "
    "its user_locked_out signal (one per refused attempt).",
)
API_TOKEN_FAILURES = Counter(
    "monolithos_api_token_failures",
    "API requests with a token that authenticated no one, by outcome: refused (401) or "
    "throttled (429: too many failures from that address).",
    ["outcome"],
)
