"""``manage.py dispatch_due_shipments``: the scheduled retry of deferred dispatches.

Every pending shipment whose next attempt is due (or that was never attempted) is dispatched
again, with the background retry policy. Run it from cron, or with ``--every`` as a process of
its own (the run command does); the async phase replaces it with a Celery beat task. Safe to
run in several processes at once: the supplier deduplicates on each shipment's key.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from logistics.wiring import build_logistics_service


class Command(BaseCommand):
    help = "Dispatch pending shipments whose next attempt is due."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=100, help="shipments per sweep")
        parser.add_argument(
            "--every", type=float, default=None, help="sweep again every N seconds, for ever"
        )

    def handle(self, *args: Any, limit: int, every: float | None, **options: Any) -> None:
        if limit < 1 or (every is not None and every <= 0):
            self.stderr.write("--limit and --every must be positive")
            raise SystemExit(2)
        while True:
            report = build_logistics_service(background=True).dispatch_due(limit)
            if report.due or every is None:
                self.stdout.write(
                    f"due {report.due}, dispatched {report.dispatched}, deferred {report.deferred}"
                )
            if every is None:
                return
            time.sleep(every)
