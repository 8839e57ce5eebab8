"""The one place where the logistics service meets its real adapters (chosen from settings).

Entry points (API views, admin actions, management commands, the legacy OrderManager through
``logistics.public``) ask this module for a service; nothing else constructs adapters.

Two retry policies: a caller waiting on an HTTP request gets one attempt within a short
deadline (a failure defers the shipment, it is never lost); the background sweep retries with
backoff within a longer one. The bulkhead is per process and shared by both; the circuit
breaker's state is shared by every process: through Redis with REDIS_URL set (docs/adr/0017),
else through a SQLite file every process of the host opens (BREAKER_STATE_FILE, docs/adr/0024).

The service tells the listeners of ``LOGISTICS_SHIPMENT_LISTENERS`` of every change it commits,
in the thread that made it (inside a caller's transaction on ``default``, a listener's writes
there join it).
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from logistics.adapters.breaker import BreakerConfig, SharedCircuitBreaker, build_breaker
from logistics.adapters.bulkhead import Bulkhead
from logistics.adapters.clock import SystemClock
from logistics.adapters.notifier import EmailNotifier
from logistics.adapters.orm import DjangoShipmentRepository
from logistics.adapters.resilient_supplier import (
    ResilientSupplierGateway,
    RetryPolicy,
    our_request_was_wrong,
)
from logistics.adapters.supplier_http import HttpSupplierGateway
from logistics.contracts import ShipmentListener
from logistics.services import LogisticsService


@cache
def supplier_breaker() -> SharedCircuitBreaker:
    return build_breaker(
        BreakerConfig(
            name="supplier",
            fail_max=settings.BREAKER_FAIL_MAX,
            slow_call_seconds=settings.BREAKER_SLOW_CALL_SECONDS,
            reset_timeout_seconds=settings.BREAKER_RESET_TIMEOUT,
        ),
        settings.REDIS_URL,
        state_file=settings.BREAKER_STATE_FILE,
        exclude=[our_request_was_wrong],
    )


@cache
def supplier_bulkhead() -> Bulkhead:
    return Bulkhead(settings.SUPPLIER_MAX_CONCURRENT_CALLS)


def supplier_gateway(*, background: bool = False) -> ResilientSupplierGateway:
    policy = (
        RetryPolicy(
            max_attempts=settings.SUPPLIER_BACKGROUND_ATTEMPTS,
            deadline=settings.SUPPLIER_BACKGROUND_DEADLINE,
            backoff_initial=settings.SUPPLIER_BACKOFF_INITIAL,
            backoff_max=settings.SUPPLIER_BACKOFF_MAX,
        )
        if background
        else RetryPolicy(max_attempts=1, deadline=settings.SUPPLIER_DEADLINE)
    )
    return ResilientSupplierGateway(
        HttpSupplierGateway(
            settings.SUPPLIER_API_URL,
            connect_timeout=settings.SUPPLIER_CONNECT_TIMEOUT,
            read_timeout=settings.SUPPLIER_READ_TIMEOUT,
        ),
        breaker=supplier_breaker(),
        bulkhead=supplier_bulkhead(),
        policy=policy,
    )


def shipment_listeners() -> tuple[ShipmentListener, ...]:
    """The listeners named in ``LOGISTICS_SHIPMENT_LISTENERS``, each instantiated once."""
    return _listeners(tuple(settings.LOGISTICS_SHIPMENT_LISTENERS))


@cache
def _listeners(paths: tuple[str, ...]) -> tuple[ShipmentListener, ...]:
    # Imported by dotted path: the classes live in other contexts, which logistics never imports.
    listeners: list[ShipmentListener] = [import_string(path)() for path in paths]
    return tuple(listeners)


def build_logistics_service(*, background: bool = False) -> LogisticsService:
    return LogisticsService(
        repository=DjangoShipmentRepository(),
        supplier=supplier_gateway(background=background),
        notifier=EmailNotifier(),
        clock=SystemClock(),
        retry_delay=timedelta(seconds=settings.DISPATCH_RETRY_INITIAL_SECONDS),
        attempt_backoff=timedelta(seconds=settings.DISPATCH_ATTEMPT_BACKOFF_SECONDS),
        attempt_backoff_max=timedelta(seconds=settings.DISPATCH_ATTEMPT_BACKOFF_MAX_SECONDS),
        listeners=shipment_listeners(),
    )
