"""Benchmark: what the shipping data's ownership phases cost, over N backfilled legacy orders.

In one process, without a server: N legacy orders seeded (``seed_legacy_orders``) and
backfilled, then
- a read of one order's shipping data (``monolithos.shipping_data.read``, what every legacy
  reader calls) in each phase: ``legacy`` (the columns), ``verify`` (the columns and the
  shipment, compared), ``logistics`` (the shipment), as the median and p99 of R reads;
- the parity job (``monolithos.shipping_parity.check``) over every order;
- the refill of the columns from logistics (every order is behind: the backfill never wrote
  their versions), and again (nothing behind);
- the contract's drop migration and its reverse (the columns re-added and refilled), then the
  parity job again (it must find nothing).

On two fresh SQLite files in a temporary directory unless ``--use-configured-databases``
(which adds N orders there and drops and re-adds the columns: a disposable environment only).

    .venv/bin/python bench/data_phase.py                 # 10,000 orders, 2,000 reads a phase
    .venv/bin/python bench/data_phase.py --count 50000 --reads 5000

Exit status 1 when the parity job finds anything apart or missing.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.in_process import add_database_choice, setup_django, timed  # noqa: E402

T = TypeVar("T")
CONTRACT_APP = "monolithos.shipping_contract.apps.ShippingContractConfig"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000, help="orders to seed (10000)")
    parser.add_argument("--reads", type=int, default=2_000, help="reads per phase (2000)")
    add_database_choice(parser)
    args = parser.parse_args(argv)
    if args.count < 1 or args.reads < 1:
        parser.error("--count and --reads must be at least 1")
    return args


def reads(count: int) -> list[str]:
    from monolithos import shipping_data
    from monolithos.models import Order
    from strangler.testing import override_modes

    orders = list(Order.objects.order_by("?")[:count])
    lines = []
    for phase in ("legacy", "verify", "logistics"):
        with override_modes(all_routes="legacy", phase=phase):
            took = []
            for order in orders:
                started = time.perf_counter()
                shipping_data.read(order, reader="bench")
                took.append((time.perf_counter() - started) * 1e6)
        took.sort()
        p99 = took[int(len(took) * 0.99) - 1]
        lines.append(
            f"read in {phase:<10} median {statistics.median(took):>7.0f} us  p99 {p99:>7.0f} us"
        )
    return lines


def bench(args: argparse.Namespace) -> tuple[list[str], bool]:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor
    from django.test.utils import override_settings

    from monolithos import shipping_parity
    from monolithos.backfill import backfill
    from monolithos.shipping_columns import refill_from_logistics
    from strangler.testing import override_modes

    for alias in ("default", "logistics"):
        call_command("migrate", database=alias, verbosity=0, interactive=False)
    call_command("seed_legacy_orders", count=args.count, seed=1, stdout=io.StringIO())
    backfill()

    lines = reads(args.reads)
    parity, parity_seconds = timed(lambda: shipping_parity.check(settle_seconds=0))
    lines.append(
        f"parity job      {parity.checked} orders in {parity_seconds:.2f} s "
        f"({parity.checked / parity_seconds:.0f}/s): {parity.mismatched} apart, "
        f"{parity.missing} missing"
    )
    for label in ("refill (all behind)", "refill (none)"):
        written, seconds = timed(refill_from_logistics)
        lines.append(f"{label:<20} {written} orders written in {seconds:.2f} s")

    def migrate(target: str | None) -> None:
        MigrationExecutor(connections["default"]).migrate(
            [("monolithos_shipping_contract", target)]
        )

    with (
        override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, CONTRACT_APP]),
        override_modes(all_routes="legacy", phase="contract"),
    ):
        _, drop_seconds = timed(lambda: migrate("0001_drop_shipping_columns"))
        _, reverse_seconds = timed(lambda: migrate(None))
    after = shipping_parity.check(settle_seconds=0)
    lines.append(f"drop migration  {drop_seconds:.2f} s")
    lines.append(f"its reverse     {reverse_seconds:.2f} s (columns re-added and refilled)")
    lines.append(
        f"parity after    {after.checked} checked, {after.mismatched} apart, "
        f"{after.missing} missing"
    )
    clean = parity.mismatched == parity.missing == after.mismatched == after.missing == 0
    return lines, clean


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    temporary = setup_django(args.use_configured_databases, name="data-phase")
    try:
        lines, clean = bench(args)
    finally:
        from django.db import connections

        connections.close_all()
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    where = "configured databases" if temporary is None else "temporary SQLite"
    print(f"data phase benchmark: {args.count} orders, {args.reads} reads a phase, {where}")
    print("\n".join(lines))
    print("OK" if clean else "FAILED")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
