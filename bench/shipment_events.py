"""Benchmark: what a shipment's event costs its writer and the worker (docs/adr/0021).

In one process, without a server: N pending shipments (seeded legacy orders, backfilled) are
cancelled one at a time through the logistics service, alternately with the event recorded in
the same transaction (and its relay handed to the broker on commit, as a web process does) and
without (``LOGISTICS_SHIPMENT_EVENT_TASKS`` empty: the write alone). No listener is told, so the
writer's cost is the logistics side's only. Then the worker's side: each recorded event is run
through ``monolithos.tasks.apply_shipment_event`` as the worker runs it (its task id, the
redelivery count, the done mark), once when the columns are behind (``applied``) and once more
(``stale``: what every event costs when the in-process copy came first).

By default on two fresh SQLite files in a temporary directory and the filesystem broker there;
``--use-configured-databases`` uses the databases (and REDIS_URL) of the environment: it adds
orders to them, so only on a disposable environment.

    .venv/bin/python bench/shipment_events.py              # 500 cancels of each kind
    .venv/bin/python bench/shipment_events.py -n 2000 --json
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import shutil
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.in_process import add_database_choice, setup_django, timed  # noqa: E402


@dataclass(frozen=True)
class Timing:
    name: str
    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float


def timing(name: str, samples: list[float]) -> Timing:
    ordered = sorted(samples)
    return Timing(
        name=name,
        count=len(ordered),
        mean_ms=statistics.fmean(ordered) * 1000,
        p50_ms=ordered[len(ordered) // 2] * 1000,
        p95_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("-n", "--count", type=int, default=500, help="cancels of each kind (500)")
    add_database_choice(parser)
    parser.add_argument("--json", action="store_true", help="one machine-readable JSON object")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    return args


def bench(count: int) -> list[Timing]:
    from django.conf import settings
    from django.core.management import call_command

    from logistics.adapters.clock import SystemClock
    from logistics.adapters.notifier import EmailNotifier
    from logistics.adapters.orm import DjangoShipmentRepository
    from logistics.models import ShipmentRecord
    from logistics.services import LogisticsService
    from logistics.wiring import supplier_gateway
    from monolithos.backfill import backfill
    from monolithos.tasks import apply_shipment_event
    from outbox import completion
    from outbox.models import OutboxMessage

    for alias in ("default", "logistics"):
        call_command("migrate", database=alias, verbosity=0, interactive=False)
    # About 30 % of seeded orders are not dispatched yet (pending or dispatch_failed).
    call_command("seed_legacy_orders", count=count * 8, seed=1, stdout=io.StringIO())
    backfill(batch_size=1000)
    pending = list(
        ShipmentRecord.objects.using("logistics")
        .filter(status="pending")
        .order_by("created_at")
        .values_list("id", flat=True)[: count * 2]
    )
    if len(pending) < count * 2:
        raise SystemExit(f"only {len(pending)} pending shipments seeded, {count * 2} needed")

    service = LogisticsService(
        repository=DjangoShipmentRepository(),
        supplier=supplier_gateway(),
        notifier=EmailNotifier(),
        clock=SystemClock(),
        listeners=(),
    )
    tasks = list(settings.LOGISTICS_SHIPMENT_EVENT_TASKS)
    without: list[float] = []
    with_event: list[float] = []
    for index, shipment_id in enumerate(pending):
        recording = index % 2 == 1  # interleaved: both kinds see the same warm-up and load
        settings.LOGISTICS_SHIPMENT_EVENT_TASKS = tasks if recording else []
        samples = with_event if recording else without
        samples.append(timed(functools.partial(service.cancel, shipment_id))[1])
    settings.LOGISTICS_SHIPMENT_EVENT_TASKS = tasks

    messages = list(OutboxMessage.objects.using("logistics").filter(task=tasks[0]).order_by("id"))

    def run(message: OutboxMessage) -> None:
        apply_shipment_event.apply(
            kwargs=message.kwargs, task_id=completion.task_id_for(message.key, "logistics")
        )

    applied = [timed(functools.partial(run, message))[1] for message in messages]
    stale = [timed(functools.partial(run, message))[1] for message in messages]
    return [
        timing("cancel, no event", without),
        timing("cancel + event", with_event),
        timing("apply: applied", applied),
        timing("apply: stale", stale),
    ]


def render(timings: list[Timing], databases: str) -> str:
    lines = [
        f"shipment events benchmark, {databases}",
        f"{'operation':<20}{'count':>7}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}",
    ]
    lines += [
        f"{t.name:<20}{t.count:>7}{t.mean_ms:>10.2f}{t.p50_ms:>10.2f}{t.p95_ms:>10.2f}"
        for t in timings
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    temporary = setup_django(args.use_configured_databases, name="events")
    databases = "configured databases" if temporary is None else f"temporary SQLite ({temporary})"
    try:
        timings = bench(args.count)
    finally:
        from django.db import connections

        connections.close_all()
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    if args.json:
        print(json.dumps({"databases": databases, "timings": [asdict(t) for t in timings]}))
    else:
        print(render(timings, databases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
