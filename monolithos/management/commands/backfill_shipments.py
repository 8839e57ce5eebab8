"""``manage.py backfill_shipments``: copy legacy shipping columns into logistics shipments.

Thin: the work is ``monolithos.backfill``. Progress goes to stderr, the report and the parity
result to stdout. Exit status: 0 when parity holds (or was not checked), 1 when mismatches
exist (they are listed first), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from config import routers
from monolithos.backfill import DEFAULT_BATCH_SIZE, backfill, parity_check

BAR_WIDTH = 30


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


class ProgressBar:
    """``[#####.....] 4500/10000 orders``: in place on a terminal, else one line per 10%."""

    def __init__(self, stream: OutputWrapper, label: str) -> None:
        self.stream = stream
        self.label = label
        self.in_place = stream.isatty()
        self.last_tenth = -1
        self.drawn = False

    def render(self, done: int, total: int) -> str:
        filled = BAR_WIDTH if total <= 0 else BAR_WIDTH * min(done, total) // total
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return f"[{bar}] {done}/{total} {self.label}"

    def __call__(self, done: int, total: int) -> None:
        if self.in_place:
            self.stream.write("\r" + self.render(done, total), style_func=str, ending="")
            self.stream.flush()
            self.drawn = True
            return
        tenth = 10 if total <= 0 else 10 * min(done, total) // total
        if tenth > self.last_tenth:
            self.last_tenth = tenth
            self.stream.write(self.render(done, total), style_func=str)

    def close(self) -> None:
        if self.in_place and self.drawn:
            self.stream.write("", style_func=str)


class Command(BaseCommand):
    help = (
        "Create the logistics shipment of every legacy order from its shipping columns, in "
        "batches by ascending order id, then check parity between both. Idempotent (orders "
        "that already have a shipment are left alone) and resumable with --after-id. Exits 1 "
        "when the parity check finds mismatches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=_at_least(1),
            default=DEFAULT_BATCH_SIZE,
            help=f"orders per batch (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="write nothing; count the shipments that would be created. The parity check "
            "still runs (read-only) and lists orders not backfilled yet as missing: add "
            "--no-parity for a preview only",
        )
        parser.add_argument(
            "--after-id",
            type=_at_least(0),
            default=0,
            metavar="N",
            help="start after the order with this id (resume: pass the last order id reported)",
        )
        parser.add_argument(
            "--no-parity", action="store_true", help="skip the parity check after the backfill"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = int(options["batch_size"])
        after_id = int(options["after_id"])
        if batch_size < 1 or after_id < 0:
            raise CommandError("--batch-size must be >= 1 and --after-id >= 0", returncode=2)
        if not routers.shipping_columns_written():
            raise CommandError(
                "the order's shipping columns are no longer written (data phase contract): "
                "nothing to backfill from",
                returncode=1,
            )
        dry_run = bool(options["dry_run"])
        if dry_run:
            self.stdout.write("dry run: nothing will be written")

        bar = ProgressBar(self.stderr, "orders")
        report = backfill(batch_size=batch_size, dry_run=dry_run, after_id=after_id, progress=bar)
        bar.close()
        for line in report.lines():
            self.stdout.write(line)
        if dry_run:
            self.stdout.write("dry run: nothing was written")

        if options["no_parity"]:
            self.stdout.write("parity: not checked (--no-parity)")
            return
        bar = ProgressBar(self.stderr, "orders checked")
        mismatches = parity_check(batch_size=batch_size, progress=bar)
        bar.close()
        self.stdout.write(f"parity: {len(mismatches)} mismatches")
        for mismatch in mismatches:
            self.stdout.write(str(mismatch))
        if mismatches:
            raise CommandError(f"parity check failed: {len(mismatches)} mismatches (listed above)")
