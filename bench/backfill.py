"""Benchmark: the shipment backfill over N seeded legacy orders (monolithos/backfill.py).

What it measures, in one process and without a server: seeding N legacy orders with
``seed_legacy_orders`` (bulk inserts), the backfill itself (legacy columns -> logistics
shipments, batch by batch through ``import_legacy``), the rerun (must create 0: idempotency,
and the cost of the existing-reference lookups alone), and the parity check. Each is timed with
a monotonic clock and reported as seconds and orders per second.

By default it runs against two fresh SQLite files in a temporary directory (MONOLITHOS_VAR_DIR
is pointed there before Django starts; DATABASE_URL and LOGISTICS_DATABASE_URL are ignored),
migrated on both aliases, and removed afterwards. ``--use-configured-databases`` runs against
the databases the settings name instead: it adds N orders to them and backfills *every* order
there, so only use it on a disposable environment.

    .venv/bin/python bench/backfill.py                  # 10,000 orders, batches of 500
    .venv/bin/python bench/backfill.py --count 50000 --batch-size 1000 --json

Exit status 1 when the rerun created shipments or the parity check found mismatches.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.in_process import add_database_choice, setup_django, timed  # noqa: E402

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    orders: int

    @property
    def orders_per_second(self) -> float:
        return self.orders / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Result:
    databases: str
    count: int
    batch_size: int
    steps: tuple[Step, ...]
    created: int
    created_on_rerun: int
    mismatches: int

    @property
    def ok(self) -> bool:
        return self.created_on_rerun == 0 and self.mismatches == 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000, help="orders to seed (10000)")
    parser.add_argument("--batch-size", type=int, default=500, help="backfill batch size (500)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the order mix (1)")
    add_database_choice(parser)
    parser.add_argument("--json", action="store_true", help="one machine-readable JSON object")
    args = parser.parse_args(argv)
    if args.count < 1 or args.batch_size < 1:
        parser.error("--count and --batch-size must be at least 1")
    return args


def bench(args: argparse.Namespace, databases: str) -> Result:
    from django.core.management import call_command

    from monolithos.backfill import backfill, parity_check

    for alias in ("default", "logistics"):
        call_command("migrate", database=alias, verbosity=0, interactive=False)

    _, seed_seconds = timed(
        lambda: call_command(
            "seed_legacy_orders", count=args.count, seed=args.seed, stdout=io.StringIO()
        )
    )
    first, first_seconds = timed(lambda: backfill(batch_size=args.batch_size))
    rerun, rerun_seconds = timed(lambda: backfill(batch_size=args.batch_size))
    mismatches, parity_seconds = timed(lambda: parity_check(batch_size=args.batch_size))
    return Result(
        databases=databases,
        count=args.count,
        batch_size=args.batch_size,
        steps=(
            Step("seed", seed_seconds, args.count),
            Step("backfill", first_seconds, first.orders_scanned),
            Step("rerun", rerun_seconds, rerun.orders_scanned),
            Step("parity", parity_seconds, rerun.orders_scanned),
        ),
        created=first.shipments_created,
        created_on_rerun=rerun.shipments_created,
        mismatches=len(mismatches),
    )


def render(result: Result) -> str:
    lines = [
        f"backfill benchmark: {result.count} seeded orders, batches of {result.batch_size}, "
        f"{result.databases}",
        f"{'step':<10}{'orders':>10}{'seconds':>10}{'orders/s':>12}",
    ]
    for step in result.steps:
        lines.append(
            f"{step.name:<10}{step.orders:>10}{step.seconds:>10.2f}{step.orders_per_second:>12.0f}"
        )
    lines.append(
        f"shipments created: {result.created}; created on rerun: {result.created_on_rerun} "
        f"(expected 0); parity mismatches: {result.mismatches} (expected 0)"
    )
    lines.append("OK" if result.ok else "FAILED")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    temporary = setup_django(args.use_configured_databases, name="backfill")
    databases = "configured databases" if temporary is None else f"temporary SQLite ({temporary})"
    try:
        result = bench(args, databases)
    finally:
        from django.db import connections

        connections.close_all()
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    if args.json:
        payload = asdict(result) | {
            "ok": result.ok,
            "orders_per_second": {step.name: step.orders_per_second for step in result.steps},
        }
        print(json.dumps(payload, indent=2))
    else:
        print(render(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
