"""The shipment backfill: legacy order columns -> logistics shipments, then parity between both."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from logistics.models import ShipmentRecord
from logistics.public import ShipmentStatus
from monolithos.backfill import backfill, parity_check, to_legacy_shipment
from monolithos.models import Customer, Order, Product
from tests.conftest import ROOT
from tests.factories import (
    CANCELLED_AT,
    DISPATCHED_AT,
    CustomerFactory,
    LegacyOrderFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


# ---------------------------------------------------------------------- helpers


def make_order(shipping_status: str = "pending", **fields: Any) -> Order:
    """An order in a legacy shipping state, written directly with the ORM."""
    return LegacyOrderFactory(shipping_status=shipping_status, **fields)


def shipment(order: Order) -> ShipmentRecord:
    return ShipmentRecord.objects.using("logistics").get(order_ref=order.number)


def shipments() -> int:
    return ShipmentRecord.objects.using("logistics").count()


class Run:
    def __init__(self, stdout: str, stderr: str) -> None:
        self.stdout = stdout
        self.stderr = stderr


def run(*args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    call_command("backfill_shipments", *args, stdout=out, stderr=err)
    return Run(out.getvalue(), err.getvalue())


def run_failing(*args: str) -> tuple[Run, CommandError]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("backfill_shipments", *args, stdout=out, stderr=err)
    return Run(out.getvalue(), err.getvalue()), raised.value


# ---------------------------------------------------------------------- mapping


def test_a_dispatched_order_becomes_a_dispatched_shipment_with_its_supplier_data():
    user = User.objects.create_user("ada", "ada@example.com", "pw")
    customer = CustomerFactory(user=user, email="ada@example.com")
    order = make_order(
        "dispatched", customer=customer, lines=(("SKU-A", 2), ("SKU-B", 1), ("SKU-A", 3))
    )

    run("--no-parity")

    record = shipment(order)
    assert record.status == ShipmentStatus.DISPATCHED.value
    assert record.supplier_reference == "SUP-1"
    assert record.tracking_number == "TRK-1"
    assert record.dispatched_at == DISPATCHED_AT
    assert record.attempt_count == 1
    assert record.items == [{"sku": "SKU-A", "quantity": 5}, {"sku": "SKU-B", "quantity": 1}]
    assert record.destination == "1 Analytical Row\nLondon"
    assert record.owner_id == user.pk
    assert record.contact_email == "ada@example.com"
    assert record.created_at == order.created_at
    assert record.cancelled_at is None


def test_a_cancelled_order_becomes_a_cancelled_shipment_cancelled_when_the_order_was():
    order = make_order("cancelled")

    run("--no-parity")

    record = shipment(order)
    assert record.status == ShipmentStatus.CANCELLED.value
    assert record.cancelled_at == CANCELLED_AT
    assert record.dispatched_at is None
    assert record.supplier_reference == ""
    assert record.owner_id is None


@pytest.mark.parametrize("legacy_status", ["pending", "dispatch_failed"])
def test_pending_and_failed_orders_become_pending_shipments(legacy_status):
    order = make_order(legacy_status)

    record = to_legacy_shipment(Order.objects.get(pk=order.pk))
    run("--no-parity")

    assert record.status is ShipmentStatus.PENDING
    assert shipment(order).status == ShipmentStatus.PENDING.value
    assert shipment(order).supplier_reference == ""
    assert shipment(order).tracking_number == ""
    assert shipment(order).dispatched_at is None


# ---------------------------------------------------------------------- the run


def test_a_rerun_creates_nothing_and_reports_what_is_there():
    for state in ("pending", "dispatched", "dispatch_failed", "cancelled"):
        make_order(state)

    first = run()
    second = run()

    assert "shipments created: 4" in first.stdout
    assert "shipments created: 0" in second.stdout
    assert "already present: 4" in second.stdout
    assert "parity: 0 mismatches" in second.stdout
    assert shipments() == 4


def test_after_id_resumes_after_the_given_order():
    first, second, third = (make_order("dispatched") for _ in range(3))

    resumed = backfill(batch_size=10, after_id=first.pk)

    assert resumed.orders_scanned == 2
    assert resumed.shipments_created == 2
    assert resumed.last_order_id == third.pk
    assert not ShipmentRecord.objects.using("logistics").filter(order_ref=first.number).exists()
    assert shipment(second) and shipment(third)

    output = run("--after-id", "0")
    assert "orders scanned: 3" in output.stdout
    assert "shipments created: 1" in output.stdout
    assert "already present: 2" in output.stdout


def test_after_id_on_the_command_line():
    first, _second = make_order(), make_order()

    output = run("--after-id", str(first.pk), "--no-parity")

    assert "orders scanned: 1" in output.stdout
    assert "shipments created: 1" in output.stdout


def test_dry_run_writes_nothing_and_says_so():
    for state in ("pending", "dispatched"):
        make_order(state)
    already = make_order("cancelled")
    backfill(after_id=already.pk - 1)

    output = run("--dry-run", "--no-parity")

    assert shipments() == 1
    assert "dry run: nothing will be written" in output.stdout
    assert "shipments would be created: 2" in output.stdout
    assert "already present: 1" in output.stdout
    assert "dry run: nothing was written" in output.stdout


def test_dry_run_with_parity_lists_the_orders_not_backfilled_yet():
    order = make_order("dispatched")

    output, error = run_failing("--dry-run")

    assert shipments() == 0
    assert f"{order.number} shipment: legacy='dispatched' logistics=None" in output.stdout
    assert error.returncode == 1


def test_batches_smaller_than_the_data():
    orders = [make_order("dispatched") for _ in range(5)]
    seen: list[tuple[int, int]] = []

    report = backfill(batch_size=2, progress=lambda done, total: seen.append((done, total)))

    assert report.batches == 3
    assert report.orders_scanned == 5
    assert report.shipments_created == 5
    assert report.last_order_id == orders[-1].pk
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]
    assert parity_check(batch_size=2) == []


def test_orders_without_a_number_are_skipped_and_counted():
    make_order("dispatched", numbered=False)
    make_order("pending", numbered=False, number="")
    numbered = make_order("pending")

    output = run()

    assert "orders scanned: 3" in output.stdout
    assert "shipments created: 1" in output.stdout
    assert "skipped: 2 (2 without number, 0 invalid)" in output.stdout
    assert "parity: 0 mismatches" in output.stdout
    assert ShipmentRecord.objects.using("logistics").get().order_ref == numbered.number


def test_an_order_that_cannot_make_a_shipment_is_skipped_and_parity_reports_it_missing():
    empty = make_order("pending", lines=())
    make_order("pending")

    output, error = run_failing()

    assert "shipments created: 1" in output.stdout
    assert "skipped: 1 (0 without number, 1 invalid)" in output.stdout
    assert f"{empty.number} shipment: legacy='pending' logistics=None" in output.stdout
    assert error.returncode == 1


# ---------------------------------------------------------------------- parity


def test_parity_reports_a_shipment_changed_behind_its_back_and_the_command_fails():
    changed = make_order("dispatched")
    deleted = make_order("pending")
    untouched = make_order("cancelled")
    run()
    ShipmentRecord.objects.using("logistics").filter(order_ref=changed.number).update(
        status=ShipmentStatus.PENDING.value, tracking_number="TRK-OTHER", supplier_reference=""
    )
    ShipmentRecord.objects.using("logistics").filter(order_ref=deleted.number).delete()

    output, error = run_failing("--batch-size", "2")

    assert error.returncode == 1
    assert "parity check failed: 3 mismatches" in str(error)
    lines = output.stdout.splitlines()
    # The rerun leaves the changed shipment alone and recreates the deleted one.
    assert "shipments created: 1" in lines
    assert lines[-4:] == [
        "parity: 3 mismatches",
        f"{changed.number} status: legacy='dispatched' logistics='pending'",
        f"{changed.number} supplier_reference: legacy='SUP-1' logistics=None",
        f"{changed.number} tracking_number: legacy='TRK-1' logistics='TRK-OTHER'",
    ]
    assert not any(
        line.startswith((f"{deleted.number} ", f"{untouched.number} ")) for line in lines
    )


def test_parity_reports_a_missing_shipment():
    kept, deleted = make_order("dispatched"), make_order("dispatch_failed")
    backfill()
    ShipmentRecord.objects.using("logistics").filter(order_ref=deleted.number).delete()

    mismatches = parity_check(batch_size=1)

    assert [str(m) for m in mismatches] == [
        f"{deleted.number} shipment: legacy='dispatch_failed' logistics=None"
    ]
    assert f"{kept.number} " not in str(mismatches)


def test_parity_treats_blank_and_missing_alike_and_delivered_as_dispatched():
    dispatched = make_order("dispatched")
    pending = make_order("pending", tracking_number="", supplier_reference="")
    backfill()
    ShipmentRecord.objects.using("logistics").filter(order_ref=dispatched.number).update(
        status=ShipmentStatus.DELIVERED.value
    )

    assert parity_check() == []
    assert shipment(pending).tracking_number == ""


def test_parity_holds_when_the_backfill_ran_then_the_command_exits_zero():
    make_order("dispatched")

    output = run()

    assert output.stdout.splitlines()[-1] == "parity: 0 mismatches"


# ---------------------------------------------------------------------- output and arguments


def test_progress_goes_to_stderr_one_line_per_tenth_when_not_a_terminal():
    for _ in range(20):
        make_order("pending", lines=(("SKU-A", 1),))

    output = run("--batch-size", "1", "--no-parity")

    lines = output.stderr.splitlines()
    assert lines[0] == "[..............................] 0/20 orders"
    assert lines[-1] == "[##############################] 20/20 orders"
    assert len(lines) == 11
    assert "\r" not in output.stderr
    assert "[" not in output.stdout


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_in_place_on_a_terminal():
    for _ in range(3):
        make_order("pending")
    err = Terminal()

    call_command("backfill_shipments", "--batch-size", "1", stdout=io.StringIO(), stderr=err)

    assert "\r[##########....................] 1/3 orders" in err.getvalue()
    assert "\r[##############################] 3/3 orders checked\n" in err.getvalue()


@pytest.mark.parametrize(
    "args", [["--batch-size", "0"], ["--after-id", "-1"], ["--batch-size", "x"]]
)
def test_bad_arguments_are_refused(args):
    with pytest.raises(CommandError, match="argument"):
        call_command("backfill_shipments", *args)
    assert shipments() == 0


def test_bad_arguments_exit_with_status_2_on_the_command_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "backfill_shipments", "--batch-size", "0", "--skip-checks"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "--batch-size: must be at least 1" in result.stderr


# ---------------------------------------------------------------------- seed_legacy_orders


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_legacy_orders", *args, stdout=out)
    return out.getvalue()


def test_seed_legacy_orders_creates_the_count_with_the_state_mix():
    output = seed("--count", "500", "--seed", "3")

    orders = list(Order.objects.prefetch_related("lines"))
    assert len(orders) == 500
    assert "seed_legacy_orders: 500 orders created" in output
    mix = Counter(order.shipping_status for order in orders)
    assert set(mix) == {"dispatched", "dispatch_failed", "pending", "cancelled"}
    assert 0.52 < mix["dispatched"] / 500 < 0.68
    assert 0.14 < mix["dispatch_failed"] / 500 < 0.26
    assert 0.05 < mix["pending"] / 500 < 0.15
    assert 0.05 < mix["cancelled"] / 500 < 0.15
    for order in orders:
        assert order.number == f"ORD-{order.pk:06d}"
        assert 1 <= len(order.lines.all()) <= 3
        if order.shipping_status == "dispatched":
            assert order.supplier_reference == f"SUP-LEG-{order.pk:06d}"
            assert order.tracking_number == f"TRKLEG{order.pk:06d}"
            assert order.status == "shipped"
            assert order.dispatched_at is not None
        else:
            assert order.supplier_reference == order.tracking_number == ""
        if order.shipping_status == "cancelled":
            assert order.status == "cancelled"
            assert order.cancelled_at is not None
    assert Customer.objects.count() == 100
    assert Product.objects.count() == 10


def test_seed_legacy_orders_twice_adds_more_with_unique_numbers_and_the_same_mix():
    ProductFactory.create_batch(3)
    seed("--count", "50", "--seed", "1")
    first = [o.shipping_status for o in Order.objects.order_by("pk")]

    seed("--count", "50", "--seed", "1")

    orders = list(Order.objects.order_by("pk"))
    assert len(orders) == 100
    assert len({order.number for order in orders}) == 100
    assert [o.shipping_status for o in orders[50:]] == first
    assert Customer.objects.count() == 100
    assert Product.objects.count() == 3


def test_seeded_orders_backfill_with_parity():
    seed("--count", "120")

    output = run("--batch-size", "50")

    assert "shipments created: 120" in output.stdout
    assert "batches: 3" in output.stdout
    assert "parity: 0 mismatches" in output.stdout


def test_seed_legacy_orders_numbers_past_a_million_keep_every_digit():
    from django.core.management.color import no_style
    from django.db import connection

    make_order("pending", pk=999_999)
    # PostgreSQL's sequence does not follow an explicit id the way SQLite's rowid does.
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [Order]):
            cursor.execute(statement)

    seed("--count", "2")

    numbers = list(Order.objects.order_by("pk").values_list("number", flat=True))
    assert numbers == ["ORD-999999", "ORD-1000000", "ORD-1000001"]
