"""The parity job: every settled order's columns against its shipment, its figures recorded and
exposed; a copy still in flight is not a disagreement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from logistics.models import ShipmentRecord
from logistics.public import ShipmentView, build_logistics_service
from monolithos import shipping_parity
from monolithos.backfill import LEGACY_DISPATCH_FAILED
from monolithos.models import Order
from strangler.models import ParityRun, StranglerState
from strangler.tasks import check_parity
from tests.factories import DISPATCHED_AT
from tests.integration.data_phase.conftest import backfilled, legacy_order, tamper

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stored_state")]


def test_the_job_records_what_it_found(db):
    agreeing, apart = backfilled(legacy_order("dispatched"), legacy_order("dispatched"))
    legacy_order("cancelled")  # no shipment: the backfill ran before it
    tamper(apart, dispatched_at=DISPATCHED_AT + timedelta(seconds=1))

    figures = check_parity.apply().get()

    assert figures == {"checked": 3, "mismatched": 1, "missing": 1}
    run = ParityRun.objects.get()
    assert (run.phase, run.is_clean) == ("legacy", False)
    [example] = run.examples
    assert example.startswith(f"{apart.number} dispatched_at: columns='2024-03-01T10:30:01")
    assert run.started_at <= run.finished_at
    assert agreeing.number not in example


def test_the_job_compares_nothing_in_contract(db):
    backfilled(legacy_order("dispatched"))
    StranglerState.objects.update_or_create(pk=1, defaults={"phase": "contract"})

    assert check_parity.apply().get() is None
    assert not ParityRun.objects.exists()


def test_orders_younger_than_the_settle_window_wait_for_the_next_run(db, settings):
    settings.SHIPPING_PARITY_SETTLE_SECONDS = 300
    settled = legacy_order("pending")
    Order.objects.filter(pk=settled.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    legacy_order("pending")  # just placed: its shipment may not exist yet

    report = shipping_parity.check()

    assert (report.checked, report.missing) == (1, 1)


class CopiedDuringThePass:
    """Logistics, while the listener's copy of a dispatch lands on the order mid-pass."""

    def __init__(self, order: Order) -> None:
        self.service = build_logistics_service()
        self.order = order
        self.calls = 0

    def find_for_orders(self, numbers: list[str]) -> dict[str, ShipmentView]:
        found = self.service.find_for_orders(numbers)
        self.calls += 1
        if self.calls == 1:
            tamper(self.order, tracking_number="TRK-1")
        return found


def test_a_copy_in_flight_is_not_a_disagreement(db):
    [order] = backfilled(legacy_order("dispatched"))
    tamper(order, tracking_number="")  # the shipment is ahead; its copy has not landed yet
    logistics: Any = CopiedDuringThePass(order)

    report = shipping_parity.check(logistics=logistics)

    assert (report.checked, report.mismatched, report.missing) == (1, 0, 0)
    assert logistics.calls == 2  # the pass, then a second look at the one that disagreed


def test_the_last_runs_figures_are_exposed_at_scrape_time(client, db):
    backfilled(legacy_order("dispatched"))
    check_parity.apply()

    metrics = client.get("/metrics").content.decode()

    assert "monolithos_strangler_parity_checked 1.0" in metrics
    assert "monolithos_strangler_parity_mismatched 0.0" in metrics
    assert "monolithos_strangler_parity_missing 0.0" in metrics
    assert "monolithos_strangler_parity_age_seconds " in metrics


def test_a_backfilled_failed_dispatch_reads_failed_from_its_shipment_and_stays_due(db):
    [order] = backfilled(legacy_order("dispatch_failed"))

    report = shipping_parity.check()

    assert (report.checked, report.mismatched, report.missing) == (1, 0, 0)
    record = ShipmentRecord.objects.get(order_ref=order.number)
    assert (record.status, record.attempt_count, record.next_attempt_at) == ("pending", 0, None)
    assert record.last_error == LEGACY_DISPATCH_FAILED
