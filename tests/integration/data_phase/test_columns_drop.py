"""The contract's release: the migration that drops the order's shipping columns, on real data,
and its reverse, which adds them back and refills them from logistics, after which parity holds.

The drop runs as ``manage.py migrate`` runs it, with the release's app installed
(SHIPPING_COLUMNS_DROPPED installs ``monolithos.shipping_contract``); while the columns are gone
the shipments move on in logistics, and the reverse must bring those changes back too. A fresh
clone migrates in both configurations, and neither has a model change without its migration.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import override_settings

from logistics.models import ShipmentRecord
from logistics.public import build_logistics_service
from monolithos import shipping_parity
from monolithos.backfill import parity_check
from monolithos.checks import shipping_columns_match_the_release
from monolithos.models import Order
from monolithos.shipping_columns import SHIPPING_COLUMNS
from strangler.testing import override_modes
from tests.conftest import ROOT
from tests.factories import CustomerFactory
from tests.integration.data_phase.conftest import backfilled, legacy_order

CONTRACT_APP = "monolithos.shipping_contract.apps.ShippingContractConfig"
DROP = ("monolithos_shipping_contract", "0001_drop_shipping_columns")


def order_columns() -> set[str]:
    connection = connections["default"]
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, "monolithos_order")
    return {column.name for column in description}


def migrate(target: tuple[str, str | None]) -> None:
    executor = MigrationExecutor(connections["default"])
    executor.migrate([target])


@pytest.fixture
def release_installed() -> Iterator[None]:
    """The contract release's app among the installed apps; the drop undone should a test fail
    half-way, so the next test finds the columns."""
    with override_settings(INSTALLED_APPS=[*django_settings.INSTALLED_APPS, CONTRACT_APP]):
        try:
            yield
        finally:
            if "shipping_status" not in order_columns():
                migrate((DROP[0], None))


@pytest.mark.django_db(transaction=True, databases=["default", "logistics"])
def test_the_drop_and_its_reverse_keep_every_orders_shipping_data(release_installed):
    dispatched, pending, cancelled = backfilled(
        legacy_order("dispatched"), legacy_order("pending"), legacy_order("cancelled")
    )
    assert parity_check() == []
    before = {
        order.pk: {name: getattr(order, name) for name in SHIPPING_COLUMNS[:-1]}
        for order in Order.objects.all()
    }

    with override_modes(all_routes="legacy", phase="contract"):
        assert shipping_columns_match_the_release(databases=["default"]) == []
        migrate(DROP)
        assert order_columns().isdisjoint(SHIPPING_COLUMNS)
        # The release with the columns is refused against this schema; the contract's is not.
        with override_settings(SHIPPING_COLUMNS_DROPPED=False):
            [refusal] = shipping_columns_match_the_release(databases=["default"])
        assert refusal.id == "monolithos.E001" and "tracking_number" in refusal.msg
        with override_settings(SHIPPING_COLUMNS_DROPPED=True):
            assert shipping_columns_match_the_release(databases=["default"]) == []
        # Logistics moves on while the columns are gone; nothing tries to write them.
        build_logistics_service().cancel_order(str(pending.number))
        assert ShipmentRecord.objects.get(order_ref=pending.number).status == "cancelled"

        migrate((DROP[0], None))

    assert order_columns() >= set(SHIPPING_COLUMNS)
    after = {
        order.pk: {name: getattr(order, name) for name in SHIPPING_COLUMNS[:-1]}
        for order in Order.objects.all()
    }
    assert after[dispatched.pk] == before[dispatched.pk]
    assert after[cancelled.pk] == before[cancelled.pk]
    assert after[pending.pk] == {**before[pending.pk], "shipping_status": "cancelled"}
    for order in Order.objects.all():
        shipment = ShipmentRecord.objects.get(order_ref=order.number)
        assert order.shipping_version == shipment.version
    assert parity_check() == []
    report = shipping_parity.check()
    assert (report.checked, report.mismatched, report.missing) == (3, 0, 0)


@pytest.mark.django_db(transaction=True, databases=["default", "logistics"])
def test_orders_are_placed_while_the_columns_are_dropped(release_installed):
    customer = CustomerFactory()
    with override_modes(all_routes="legacy", phase="contract"):
        migrate(DROP)
        # As the release's Order (no shipping field) inserts one: without the columns, and
        # after the reverse, the database's defaults fill them.
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "INSERT INTO monolithos_order (customer_id, status, discount_code, subtotal, "
                "discount, shipping_cost, tax, total, shipping_name, shipping_address, "
                "created_at) VALUES (%s, 'placed', '', 0, 0, 0, 0, 0, 'Q', 'Nowhere', %s)",
                [customer.pk, "2026-01-01 00:00:00+00:00"],
            )
        migrate((DROP[0], None))

    placed = Order.objects.get(shipping_name="Q")
    assert (placed.shipping_status, placed.tracking_number, placed.shipping_version) == (
        "pending",
        "",
        0,
    )


# ---------------------------------------------------------------------- both configurations


def manage(tmp_path: Path, *args: str, dropped: bool) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith("DATABASE_URL") and key not in ("REDIS_URL", "CACHE_URL")
    }
    env |= {"MONOLITHOS_VAR_DIR": str(tmp_path), "SHIPPING_COLUMNS_DROPPED": str(dropped).lower()}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("dropped", [False, True], ids=["columns", "dropped"])
def test_a_fresh_clone_migrates_and_no_model_change_lacks_its_migration(tmp_path, dropped):
    migrated = manage(tmp_path, "migrate", "--no-input", dropped=dropped)
    changes = manage(tmp_path, "makemigrations", "--check", "--dry-run", dropped=dropped)

    assert migrated.returncode == 0, migrated.stderr
    assert ("monolithos_shipping_contract.0001_drop_shipping_columns" in migrated.stdout) is (
        dropped
    )
    assert changes.returncode == 0, changes.stdout + changes.stderr
    assert "No changes detected" in changes.stdout
    if dropped:
        # The release reads and writes no column, whatever phase is stored, and will not step
        # out of contract until the drop is reversed.
        contract = "from strangler.models import StranglerState as S; "
        contract += "S.objects.update_or_create(pk=1, defaults={'phase': 'contract'})"
        assert manage(tmp_path, "shell", "-c", contract, dropped=True).returncode == 0
        back = manage(tmp_path, "strangler", "phase", "back", "--reason", "r", dropped=True)
        assert back.returncode == 1
        assert "cannot leave contract: the order's shipping columns are dropped" in back.stderr
