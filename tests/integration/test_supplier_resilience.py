"""The resilience layer against the real simulator process (no HTTP mocks), hangs scaled down."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from requests.adapters import HTTPAdapter

from logistics import wiring
from logistics.adapters.clock import SystemClock
from logistics.adapters.notifier import EmailNotifier
from logistics.adapters.orm import DjangoShipmentRepository
from logistics.contracts import CreateShipment, ItemIn
from logistics.domain import ShipmentItem, ShipmentStatus
from logistics.models import ShipmentRecord
from logistics.ports import DispatchRequest, SupplierFailure
from logistics.services import LogisticsService

pytestmark = [
    pytest.mark.simulator,
    pytest.mark.django_db(databases=["default", "logistics"], transaction=True),
]


@pytest.fixture(autouse=True)
def fast_resilience(settings: Any) -> None:
    """Hangs of tenths of a second, timeouts of a tenth: the same behaviour, much faster."""
    settings.SUPPLIER_READ_TIMEOUT = 0.1
    settings.SUPPLIER_DEADLINE = 0.5
    settings.SUPPLIER_BACKGROUND_ATTEMPTS = 3
    settings.SUPPLIER_BACKGROUND_DEADLINE = 1.0
    settings.BREAKER_FAIL_MAX = 4
    settings.BREAKER_RESET_TIMEOUT = 0.3
    settings.BREAKER_SLOW_CALL_SECONDS = 1.0
    settings.SUPPLIER_BACKOFF_INITIAL = 0.01
    settings.SUPPLIER_BACKOFF_MAX = 0.05
    wiring.supplier_breaker.cache_clear()
    wiring.supplier_bulkhead.cache_clear()


def service(*, background: bool = False) -> LogisticsService:
    return LogisticsService(
        repository=DjangoShipmentRepository(),
        supplier=wiring.supplier_gateway(background=background),
        notifier=EmailNotifier(),
        clock=SystemClock(),
        retry_delay=timedelta(0),
    )


def new_shipment(number: int = 1) -> Any:
    return service().create_shipment(
        CreateShipment(
            order_ref=f"ORD-{number:06d}",
            destination="1 Dock Road",
            items=[ItemIn(sku="BOX-S", quantity=1)],
        )
    )


def test_happy_path_dispatches_with_the_suppliers_reference(supplier):
    shipment = new_shipment()

    outcome = service().dispatch(shipment.id)

    [dispatch] = supplier.ledger()
    assert outcome.dispatched
    assert outcome.shipment.status is ShipmentStatus.DISPATCHED
    assert outcome.shipment.supplier_reference == dispatch["supplier_reference"]


def test_the_breaker_opens_then_fails_fast_without_calling_the_supplier(supplier):
    supplier.set_chaos(failure_rate=1.0)
    shipments = [new_shipment(n) for n in range(1, 6)]
    for shipment in shipments[:4]:
        service().dispatch(shipment.id)
    calls_before = len(supplier.received())

    outcome = service().dispatch(shipments[4].id)
    gateway = wiring.supplier_gateway()
    request = DispatchRequest("ORD-X", "x", (ShipmentItem("BOX-S", 1),), "k-open")
    refusals = [_failure_kind(gateway.dispatch, request) for _ in range(20)]

    assert calls_before == 4
    assert (outcome.dispatched, outcome.failure_kind) == (False, "circuit_open")
    assert refusals == ["circuit_open"] * 20
    assert len(supplier.received()) == calls_before
    assert outcome.shipment.next_attempt_at is not None  # deferred, not lost


def pass_the_reset_timeout() -> None:
    """As if the breaker's reset timeout had passed: its open period starts that much earlier.

    pybreaker's storage interface (``opened_at``), so the same on every store the wiring picks.
    """
    breaker = wiring.supplier_breaker()
    opened_at = breaker.storage.opened_at
    assert opened_at is not None
    breaker.storage.opened_at = opened_at - timedelta(seconds=breaker.config.reset_timeout_seconds)


def test_after_the_reset_timeout_one_probe_closes_or_reopens_the_breaker(supplier, settings):
    settings.BREAKER_RESET_TIMEOUT = 30  # passes only when the test says so
    wiring.supplier_breaker.cache_clear()
    supplier.set_chaos(failure_rate=1.0)
    shipments = [new_shipment(n) for n in range(1, 9)]
    for shipment in shipments[:4]:
        service().dispatch(shipment.id)
    pass_the_reset_timeout()

    failed_probe = service().dispatch(shipments[4].id)
    still_open = service().dispatch(shipments[5].id)
    pass_the_reset_timeout()
    supplier.set_chaos(failure_rate=0.0)
    good_probe = service().dispatch(shipments[6].id)
    closed = service().dispatch(shipments[7].id)

    assert failed_probe.failure_kind == "unavailable"  # the probe reached the supplier
    assert still_open.failure_kind == "circuit_open"  # and its failure reopened the breaker
    assert (good_probe.dispatched, closed.dispatched) == (True, True)
    assert wiring.supplier_breaker().state().state == "closed"


def test_a_hang_times_out_counts_as_failure_and_is_retried_with_the_same_key(supplier):
    supplier.set_chaos(hang_rate=1.0, hang_seconds=0.3)
    shipment = new_shipment()

    outcome = service(background=True).dispatch(shipment.id)

    assert (outcome.dispatched, outcome.failure_kind) == (False, "timeout")
    posts = [call for call in supplier.received() if call["method"] == "POST"]
    assert len(posts) == 3
    assert {call["headers"]["idempotency-key"] for call in posts} == {f"shipment-{shipment.id}"}
    assert len(supplier.ledger()) == 1  # the first hang was accepted behind the timeout
    assert wiring.supplier_breaker().state().failures > 0

    supplier.set_chaos(hang_rate=0.0)
    retried = service().dispatch(shipment.id)

    assert retried.shipment.supplier_reference == supplier.ledger()[0]["supplier_reference"]
    assert len(supplier.ledger()) == 1


def test_a_4xx_is_neither_retried_nor_counted_against_the_breaker(supplier):
    bad = DispatchRequest(order_ref="ORD-1", destination="x", items=(), idempotency_key="k-1")

    for _ in range(6):
        with pytest.raises(SupplierFailure) as failure:
            wiring.supplier_gateway(background=True).dispatch(bad)
        assert failure.value.kind == "rejected"

    assert len(supplier.received()) == 6  # one call each: no retry
    assert wiring.supplier_breaker().state().state == "closed"


def test_concurrent_hanging_calls_are_in_flight_together(supplier, monkeypatch):
    """Ten hanging calls all leave for the supplier before any has its answer: no lock between.

    Each thread's first request waits at a barrier for the other nine; a breaker, bulkhead or
    session that serialized the calls would keep them out, and the barrier would break.
    """
    supplier.set_chaos(hang_rate=1.0, hang_seconds=1.0)
    gateway = wiring.supplier_gateway()
    requests = [
        DispatchRequest(f"ORD-{n}", "x", (ShipmentItem("BOX-S", 1),), f"k-{n}") for n in range(10)
    ]
    together = threading.Barrier(10, timeout=30)  # a failure detector: passing it takes no time
    sent = threading.local()
    send = HTTPAdapter.send

    def send_together(adapter: HTTPAdapter, request: Any, **kwargs: Any) -> Any:
        if not getattr(sent, "first", False):
            sent.first = True
            together.wait()
        return send(adapter, request, **kwargs)

    monkeypatch.setattr(HTTPAdapter, "send", send_together)
    with ThreadPoolExecutor(max_workers=10) as pool:
        failures = list(pool.map(lambda r: _failure_kind(gateway.dispatch, r), requests))

    assert not together.broken
    assert failures == ["timeout"] * 10


def test_the_bulkhead_refuses_calls_past_its_bound_at_once(supplier, settings):
    settings.SUPPLIER_MAX_CONCURRENT_CALLS = 2
    wiring.supplier_bulkhead.cache_clear()
    supplier.set_chaos(hang_rate=1.0, hang_seconds=0.5)
    gateway = wiring.supplier_gateway()
    barrier = threading.Barrier(5)

    def call(n: int) -> str:
        barrier.wait()
        request = DispatchRequest(f"ORD-{n}", "x", (ShipmentItem("BOX-S", 1),), f"k-{n}")
        return _failure_kind(gateway.dispatch, request)

    with ThreadPoolExecutor(max_workers=5) as pool:
        kinds = Counter(pool.map(call, range(5)))

    assert kinds == {"timeout": 2, "bulkhead_full": 3}


def test_exactly_once_under_chaos_every_shipment_dispatched_once(supplier, settings):
    settings.BREAKER_FAIL_MAX = 10
    settings.BREAKER_RESET_TIMEOUT = 0.2
    wiring.supplier_breaker.cache_clear()
    supplier.set_chaos(failure_rate=0.5, hang_rate=0.2, hang_seconds=0.15, seed=11)
    shipments = [new_shipment(n) for n in range(1, 201)]
    background = service(background=True)
    for shipment in shipments:  # one by one: SQLite's test database locks across threads
        background.dispatch(shipment.id)

    deadline = time.monotonic() + 60
    while ShipmentRecord.objects.filter(status=ShipmentStatus.PENDING.value).exists():
        assert time.monotonic() < deadline, "shipments left behind"
        background.dispatch_due(limit=500)

    assert ShipmentRecord.objects.filter(status=ShipmentStatus.DISPATCHED.value).count() == 200
    per_order = Counter(dispatch["order_ref"] for dispatch in supplier.ledger())
    assert len(per_order) == 200
    assert set(per_order.values()) == {1}


def _failure_kind(call: Any, request: DispatchRequest) -> str:
    try:
        call(request)
    except SupplierFailure as failure:
        return failure.kind
    return "ok"


def test_a_quote_falls_back_to_the_last_known_good_one_marked_stale(supplier):
    fresh = wiring.supplier_gateway().quote("BOX-S", 4)
    supplier.set_chaos(failure_rate=1.0)

    stale = wiring.supplier_gateway().quote("BOX-S", 4)

    assert (fresh.stale, stale.stale) == (False, True)
    assert stale.unit_cost == fresh.unit_cost
    assert stale.age_seconds is not None and stale.age_seconds >= 0
    with pytest.raises(SupplierFailure):  # nothing known for another SKU: no invented price
        wiring.supplier_gateway().quote("PALLET", 1)


def test_a_429_is_retried_after_the_delay_the_supplier_asked_for(supplier):
    gateway = wiring.supplier_gateway(background=True)
    pauses: list[float] = []
    gateway.sleep = pauses.append
    answers = [SupplierFailure("unavailable", "HTTP 429", 429, retry_after=0.2)]

    def call(timeout: float) -> str:
        if answers:
            raise answers.pop()
        return "ok"

    result = gateway._with_retries("dispatch", call)

    assert result == "ok"
    assert pauses == [0.2]
