"""Benchmark: the thundering herd. N orders at once at ``POST /api/v1/orders/``, then the drain.

Starts the whole system on fresh PostgreSQL databases and two dedicated Redis databases (the
broker, the cache): gunicorn (config/gunicorn.py, ``--web-workers`` workers), real Celery
workers laid out as docker-compose lays them out on this machine's two cores (by default
``intake,notifications`` on two prefork processes, Celery's default of one per core,
``invoices`` on one, and ``logistics`` on 16 threads: a dispatch mostly waits on the supplier),
the intake worker of the claimed hand-over (``--hand-over``, docker-compose's), celery beat,
and the supplier simulator at its chaos defaults (50% of requests answered 503, 10% of the rest
hang 5 s), these at a lower CPU priority than the web (``--worker-nice``). Then, in one run, it
prints:

1. intake: N orders fired at once (connections opened first, every request written at one
   common instant, latency measured from that instant to the last byte of each answer):
   accepted (202), throughput, p50/p95/p99/max;
2. drain: from the same instant, the time until every accepted order request is placed by the
   intake worker and its order has its shipment dispatched at the supplier
   (``logistics_shipment.status``), its invoice rendered
   (``monolithos_invoice.rendered_version``) and its confirmation mail sent
   (``notifications_notification``), each also checked against what really left the system:
   the simulator's ledger and the mail files (filebased backend), and where the CPU went;
3. lost and duplicated work, both of which must be 0: accepted orders missing or unfinished
   at the timeout, and dispatches, shipments, orders, mails or PDFs produced more than once;
4. issue 18's drain targets: the workers' and PostgreSQL's CPU from the first 202 to the last
   invoice and mail at least 0.75 of the cores' time, and the last shipment dispatched within
   1.5 times the time 99 % were; and the workers' CPU per order;
5. as information, two references measured on this machine in the same run: (a) a bare DRF
   endpoint that inserts one row (bench/floor, bench/settings_floor.py), on its own PostgreSQL
   database, hit by the same herd through the same gunicorn configuration and worker count,
   against which the intake's throughput and p99 are given (its targets are measured alone, by
   bench/intake_cost.py); (b) WeasyPrint rendering the same invoice in a loop, against which
   the drain time is given (orders x median render time / processes consuming ``invoices``).

Exit status: 0 whether the targets are met or missed; 1 when work was lost or duplicated, an
order was not accepted, or the drain timed out; 2 when the run itself could not be made.

    .venv/bin/python bench/herd.py                 # 1,000 orders, 2 web workers, chaos on
    .venv/bin/python bench/herd.py -n 200 --no-chaos --worker intake,notifications=1 \\
        --worker logistics=8:threads --worker invoices=1 --timeout 300 --keep
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness.client import (  # noqa: E402  (the project's root on the path first)
    FLOOR_PATH,
    ORDERS_PATH,
    SKU,
    Herd,
    fire,
    herd_headers,
    http_request,
    order_body,
    percentile,
    warm_up,
)
from bench.harness.integrity import check_integrity, count_rows  # noqa: E402
from bench.harness.processes import (  # noqa: E402
    Processes,
    RunFailed,
    answers,
    cpu_snapshot,
    free_port,
    raise_file_limit,
    terminate_on_sigterm,
    wait_for,
)
from bench.harness.report import (  # noqa: E402
    intake_line,
    read_log_events,
    read_metrics,
    target_line,
)
from bench.harness.system import (  # noqa: E402
    FLOOR_SETTINGS,
    Run,
    WorkerSpec,
    add_server_arguments,
    exclusive,
    gunicorn_argv,
    manage,
    recreate_databases,
    setup_system_data,
    start_system,
    worker_spec,
)

DEFAULT_WORKERS = ("intake,notifications=2", "logistics=16:threads", "invoices=1")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/herd.py",
        description="Thundering herd: N orders at once, the drain, and the floors.",
    )
    parser.add_argument("-n", "--orders", type=int, default=1000, help="orders fired (1000)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--worker",
        action="append",
        type=worker_spec,
        metavar="QUEUES=CONCURRENCY[:POOL]",
        help="a Celery worker, repeatable (default: intake,notifications=2, "
        "logistics=16:threads, invoices=1); every queue must be consumed",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for the drain (600)"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=120.0, help="per-request timeout (120 s)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=12.0,
        help="seconds to keep watching after the drain before duplicates are counted (12: more "
        "than one sweep interval)",
    )
    parser.add_argument(
        "--chaos",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="supplier simulator at its chaos defaults (default) or well-behaved",
    )
    parser.add_argument(
        "--skus",
        type=lambda raw: [sku.strip() for sku in raw.split(",") if sku.strip()],
        default=[SKU],
        help=f"products ordered, one unit per order, round robin ({SKU}: every order takes stock "
        "from the same row, as in a flash sale)",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        choices=range(20),
        metavar="0-19",
        help="CPU niceness of the Celery workers, beat and the supplier simulator (10): on one "
        "host, web requests come first and the workers take the rest, as docker-compose's "
        "cpu_shares lay it out; the simulator stands for the supplier's own servers",
    )
    parser.add_argument(
        "--floor-under-load",
        action="store_true",
        help="fire the floor's herd again once the intake is done, while the workers drain: "
        "what the same machine's contention costs the floor (informational; adds its load to "
        "the drain)",
    )
    parser.add_argument(
        "--hand-over",
        choices=("broker", "claimed"),
        default="claimed",
        help="ORDER_INTAKE_HAND_OVER (claimed, as docker-compose runs it): claimed also runs "
        "manage.py intake_worker, at the workers' niceness (docs/adr/0025)",
    )
    parser.add_argument("--render-samples", type=int, default=20, help="timed renders (20)")
    parser.add_argument(
        "--keep", action="store_true", help="leave the databases and the run directory"
    )
    add_server_arguments(parser, db_prefix="monolithos_herd", broker_db=12, cache_db=14)
    args = parser.parse_args(argv)
    args.worker = args.worker or [worker_spec(raw) for raw in DEFAULT_WORKERS]
    consumed = {queue for spec in args.worker for queue in spec.queues}
    missing = {"intake", "logistics", "invoices", "notifications"} - consumed
    if missing:
        parser.error(f"no worker consumes {', '.join(sorted(missing))}")
    if args.orders < 1 or args.web_workers < 1 or args.render_samples < 1:
        parser.error("-n, --web-workers and --render-samples must be at least 1")
    args.postgres = args.postgres.rstrip("/")
    return args


# --------------------------------------------------------------------------------------------
# Phase (a): the bare DRF floor.


def measure_floor(run: Run, processes: Processes) -> tuple[Herd, int]:
    port = free_port()
    env = run.environment(settings=FLOOR_SETTINGS, web_port=port, supplier_url="http://127.0.0.1:9")
    manage(env, "migrate", "--database", "default", "--no-input")
    processes.start("floor-web", gunicorn_argv(), env)
    wait_for("floor gunicorn", lambda: answers(f"http://127.0.0.1:{port}/healthz"), processes, 60)
    warm_up(port, lambda i: http_request(port, FLOOR_PATH, {"warm": i}))
    requests = [
        http_request(port, FLOOR_PATH, order_body(i, run.run_id, run.args.skus), herd_headers("-"))
        for i in range(1, run.args.orders + 1)
    ]
    before = count_rows(run.database_url("floor"), "floor_accepted")
    herd = fire(port, requests, run.args.request_timeout)
    processes.stop(["floor-web"])
    rows = count_rows(run.database_url("floor"), "floor_accepted") - before
    return herd, rows


# --------------------------------------------------------------------------------------------
# Phase 1-3: the system.


@dataclass
class Progress:
    """When each kind of work was complete for every accepted order (seconds from the start)."""

    placed: int = 0
    rejected: int = 0
    shipments: int = 0
    invoices: int = 0
    mails: int = 0
    numbers: list[str] = field(default_factory=list)
    done_at: dict[str, float] = field(default_factory=dict)
    # CPU seconds of every process once the last invoice and mail were done (issue 18's window).
    cpu_at_paperwork: dict[str, float] = field(default_factory=dict)


KINDS = ("placed", "shipments", "invoices", "mails")
PAPERWORK = "invoices and mails"


def poll_progress(request_ids: Sequence[int], progress: Progress) -> None:
    """Requests placed (their order numbers) and rejected, then the placed orders' work done."""
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT r.status, o.number FROM monolithos_orderrequest r "
            "LEFT JOIN monolithos_order o ON o.id = r.order_id "
            "WHERE r.id = ANY(%s) AND r.status <> 'received'",
            [list(request_ids)],
        )
        rows = cursor.fetchall()
        numbers = [number for status, number in rows if status == "placed" and number]
        progress.numbers = numbers
        progress.placed = len(numbers)
        progress.rejected = sum(1 for status, _ in rows if status == "rejected")
        cursor.execute(
            "SELECT count(*) FROM monolithos_invoice i "
            "JOIN monolithos_order o ON o.id = i.order_id "
            "WHERE i.rendered_version IS NOT NULL AND o.number = ANY(%s)",
            [numbers],
        )
        progress.invoices = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT count(DISTINCT idempotency_key) FROM notifications_notification "
            "WHERE kind = 'order_confirmation' AND status = 'sent' AND idempotency_key = ANY(%s)",
            [[f"order-confirmation:{number}" for number in numbers]],
        )
        progress.mails = int(cursor.fetchone()[0])
    with connections["logistics"].cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT order_ref) FROM logistics_shipment "
            "WHERE status = 'dispatched' AND order_ref = ANY(%s)",
            [numbers],
        )
        progress.shipments = int(cursor.fetchone()[0])


def wait_for_drain(
    request_ids: Sequence[int], started: float, timeout: float, processes: Processes
) -> Progress:
    progress = Progress()
    total = len(request_ids)
    last_print = 0.0
    while True:
        now = time.perf_counter() - started
        poll_progress(request_ids, progress)
        for name in KINDS:
            if getattr(progress, name) >= total and name not in progress.done_at:
                progress.done_at[name] = now
        if (
            progress.shipments >= math.ceil(0.99 * total)
            and "shipments 99%" not in progress.done_at
        ):
            progress.done_at["shipments 99%"] = now  # the drain's tail is measured against it
        if PAPERWORK not in progress.done_at and {"invoices", "mails"} <= progress.done_at.keys():
            progress.done_at[PAPERWORK] = now
            progress.cpu_at_paperwork = cpu_snapshot(processes)
        if all(name in progress.done_at for name in KINDS):
            progress.done_at["all"] = max(progress.done_at[name] for name in KINDS)
            return progress
        if now - last_print >= 15:
            last_print = now
            print(
                f"   ... {now:5.0f} s: placed {progress.placed}, dispatched "
                f"{progress.shipments}, rendered {progress.invoices}, mailed {progress.mails} "
                f"of {total}",
                file=sys.stderr,
                flush=True,
            )
        if now > timeout or progress.rejected:
            return progress
        processes.check()
        time.sleep(0.5)


@dataclass
class SystemResult:
    herd: Herd
    request_ids: list[int]
    numbers: list[str] = field(default_factory=list)
    progress: Progress | None = None
    ledger: list[dict[str, Any]] = field(default_factory=list)
    supplier_calls: dict[str, int] = field(default_factory=dict)
    integrity: dict[str, dict[str, int]] = field(default_factory=dict)
    metrics: dict[str, tuple[float, float]] = field(default_factory=dict)
    log_events: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    paperwork_cpu: dict[str, float] = field(default_factory=dict)
    loaded_floor: Herd | None = None
    missing_endpoint: bool = False


def measure_system(run: Run, processes: Processes, token: str, web_port: int) -> SystemResult:
    auth = {"Authorization": f"Token {token}"}
    # OPTIONS runs the middleware, the token lookup and the view's set-up, and writes nothing.
    probe = warm_up(web_port, lambda i: http_request(web_port, ORDERS_PATH, None, auth, "OPTIONS"))
    if any(outcome.status == 404 for outcome in probe.outcomes):
        return SystemResult(herd=probe, request_ids=[], missing_endpoint=True)
    requests = [
        http_request(
            web_port, ORDERS_PATH, order_body(i, run.run_id, run.args.skus), herd_headers(token)
        )
        for i in range(1, run.args.orders + 1)
    ]
    before = cpu_snapshot(processes)
    herd = fire(web_port, requests, run.args.request_timeout)
    request_ids = order_requests(herd)
    result = SystemResult(herd=herd, request_ids=request_ids)
    if request_ids and run.args.floor_under_load:
        result.loaded_floor, _ = measure_floor(run, processes)
    if request_ids:
        result.progress = wait_for_drain(request_ids, herd.started, run.args.timeout, processes)
        result.numbers = result.progress.numbers
        after = cpu_snapshot(processes)
        result.cpu = {name: after[name] - before.get(name, 0.0) for name in after}
        at = result.progress.cpu_at_paperwork
        result.paperwork_cpu = {name: at[name] - before.get(name, 0.0) for name in at}
        if len(result.progress.done_at) == len(KINDS) + 1 and run.args.settle > 0:
            time.sleep(run.args.settle)  # duplicates show up late, if they do (sweeps, retries)
    return result


def order_requests(herd: Herd) -> list[int]:
    """The order requests' ids from the 202 bodies."""
    ids: list[int] = []
    for outcome in herd.accepted(202):
        try:
            body = json.loads(outcome.body)
        except ValueError:
            continue
        if isinstance(body, dict) and isinstance(body.get("id"), int):
            ids.append(body["id"])
    return ids


# --------------------------------------------------------------------------------------------
# Phase (b): the rendering floor.


@dataclass(frozen=True)
class RenderFloor:
    median_s: float
    samples: int
    invoice: str
    synthetic: bool
    pdf_bytes: int


class _Rollback(Exception):
    pass


def measure_render(numbers: Sequence[str], samples: int) -> RenderFloor:
    from monolithos.invoicing import render_invoice_pdf
    from monolithos.models import Invoice

    def timed(invoice: Any) -> tuple[float, int]:
        for _ in range(2):  # fonts and the template are loaded once per process
            render_invoice_pdf(invoice)
        times = []
        size = 0
        for _ in range(samples):
            started = time.perf_counter()
            size = len(render_invoice_pdf(invoice))
            times.append(time.perf_counter() - started)
        return statistics.median(times), size

    invoice = (
        Invoice.objects.select_related("order").filter(order__number__in=list(numbers[:50])).first()
    )
    if invoice is not None:
        median, size = timed(invoice)
        return RenderFloor(median, samples, invoice.number, False, size)
    # No invoice from the herd (intake missing or failed): render one like it, then roll back.
    from django.db import transaction

    measured: list[RenderFloor] = []
    with contextlib.suppress(_Rollback), transaction.atomic():
        invoice = synthetic_invoice()
        median, size = timed(invoice)
        measured.append(RenderFloor(median, samples, invoice.number, True, size))
        raise _Rollback
    return measured[0]


def synthetic_invoice() -> Any:
    from decimal import Decimal

    from monolithos.models import Customer, Invoice, Order, OrderLine, Product

    product = Product.objects.get(sku=SKU)
    customer = Customer.objects.create(name="Herd Customer 1", email="herd-render@example.com")
    total = product.price
    order = Order.objects.create(
        number="ORD-999999",
        customer=customer,
        subtotal=total,
        total=total,
        tax=Decimal("0.00"),
        shipping_name=customer.name,
        shipping_address="1 Herd Lane\nStampede Town",
    )
    OrderLine.objects.create(
        order=order, product=product, sku=SKU, quantity=1, unit_price=total, line_total=total
    )
    return Invoice.objects.create(order=order, number="INV-999999", amount=total)


# --------------------------------------------------------------------------------------------
# Report.


def report(
    run: Run,
    floor: Herd,
    floor_rows: int,
    system: SystemResult | None,
    render: RenderFloor | None,
) -> int:
    args = run.args
    threads = os.environ.get("GUNICORN_THREADS", "8")
    print(
        f"thundering herd: {args.orders} requests at once, gunicorn {args.web_workers} workers x "
        f"{threads} threads, PostgreSQL, Redis, {os.cpu_count()} CPUs"
    )
    workers = "; ".join(spec.label for spec in args.worker)
    chaos = "chaos defaults (50% 503, 10% hang 5 s)" if args.chaos else "no chaos"
    niceness = f" (nice {args.worker_nice})" if args.worker_nice else ""
    print(f"  Celery workers{niceness}: {workers}; beat; supplier simulator at {chaos}")
    if args.hand_over == "claimed":
        print(f"  intake hand-over claimed: manage.py intake_worker{niceness}, no broker message")
    print(f"  one unit per order of {', '.join(args.skus)}; DEBUG off, LOG_LEVEL WARNING")
    loads = ", ".join(f"{phase} {load:.2f}" for phase, load in run.loads)
    print(f"  1-minute load average before each phase (other work on this machine): {loads}")
    print(f"intake{'':<22}accepted   wall    throughput   p50     p95     p99     max (ms)")
    print(intake_line("bare DRF floor (1 row)", floor, 201, args.orders))
    if floor_rows != len(floor.accepted(201)):
        print(f"    ! {floor_rows} rows in the floor table for {len(floor.accepted(201))} answers")
    if floor.problems(201):
        print(f"    not 201: {floor.problems(201)}")
    exit_status = 0
    if system is None or system.missing_endpoint:
        print(f"  POST {ORDERS_PATH}: answered 404, the intake endpoint does not exist yet")
        if render is not None:
            print_render(render, args.orders, render_processes(args))
        return 2
    herd = system.herd
    print(intake_line(f"POST {ORDERS_PATH}", herd, 202, args.orders))
    if system.loaded_floor is not None:
        print(intake_line("floor, workers draining", system.loaded_floor, 201, args.orders))
    if herd.problems(202):
        print(f"    not 202: {herd.problems(202)}")
        exit_status = 1
    progress = system.progress
    processes = render_processes(args)
    drain_s: float | None = None
    print(f"drain (seconds from the common start; the last 202 came at {herd.wall_s:.1f} s)")
    if progress is None:
        print("  nothing accepted, nothing to drain")
        exit_status = 1
    else:
        total = len(system.request_ids)
        for name, label, count in (
            ("placed", "orders placed", progress.placed),
            ("shipments", "shipments dispatched", progress.shipments),
            ("invoices", "invoices rendered", progress.invoices),
            ("mails", "confirmations sent", progress.mails),
        ):
            at = progress.done_at.get(name)
            when = f"all at {at:7.1f} s" if at is not None else "NOT ALL by the timeout"
            print(f"  {label:<24}{count:>5}/{total:<5} {when}")
        if progress.rejected:
            print(f"  orders rejected         {progress.rejected:>5}/{total:<5} (stock ran out?)")
            exit_status = 1
        drain_s = progress.done_at.get("all")
        if drain_s is None:
            print(f"  drain                   did not finish within {args.timeout:.0f} s")
            exit_status = 1
        else:
            after = drain_s - herd.wall_s
            print(f"  drained                 {drain_s:7.1f} s ({after:.1f} s after the last 202)")
    if system.supplier_calls:
        calls = ", ".join(f"{k} {v}" for k, v in sorted(system.supplier_calls.items()))
        print(f"  supplier dispatch calls {sum(system.supplier_calls.values())}: {calls}")
    if render is not None:
        print_render(render, len(system.numbers), processes)
    if system.metrics:
        print_metrics(system.metrics, render, len(system.numbers))
    if system.cpu and drain_s is not None:
        print_cpu(system.cpu, drain_s, args.worker)
    if system.log_events:
        events = ", ".join(f"{name} {count}" for name, count in system.log_events.items())
        print(f"  warnings and errors logged: {events}")
    if system.integrity:
        lost = system.integrity["lost"]
        duplicated = system.integrity["duplicated"]
        unfinished = system.integrity["unfinished"]
        for title, counts in (
            ("lost work", lost),
            ("duplicated work", duplicated),
            ("unfinished, still scheduled", unfinished),
        ):
            if title.startswith("unfinished") and not sum(counts.values()):
                continue
            print(f"{title}: {sum(counts.values())}")
            for label, count in counts.items():
                if count:
                    print(f"  {label:<48}{count:>6}")
        info = ", ".join(f"{k} {v}" for k, v in system.integrity["info"].items())
        print(f"  ({info})")
        if sum(lost.values()) or sum(duplicated.values()):
            exit_status = 1
    # Issue 18: the drain's targets here; the intake's are measured alone (bench/intake_cost.py),
    # and the herd reports its ratios as information.
    print("targets")
    if system.cpu and progress is not None and drain_s is not None:
        print_drain_targets(system, progress, len(system.numbers))
    print("information (the intake's targets are bench/intake_cost.py's, measured alone)")
    floor_p99 = percentile(floor.latencies_ms(), 99)
    if floor.throughput(201) > 0:
        ratio = herd.throughput(202) / floor.throughput(201)
        print(f"  {'intake throughput / floor throughput':<44}{ratio:>7.2f}")
    if floor_p99 > 0:
        ratio = percentile(herd.latencies_ms(), 99) / floor_p99
        print(f"  {'intake p99 / floor p99':<44}{ratio:>7.2f}")
    if render is not None and drain_s is not None:
        ratio = drain_s / (len(system.numbers) * render.median_s / processes)
        print(f"  {'drain time / rendering floor':<44}{ratio:>7.2f}")
    loaded = system.loaded_floor
    if loaded is not None and loaded.throughput(201) > 0:
        print(
            f"  (informational, against the floor under the workers' load: throughput "
            f"{herd.throughput(202) / loaded.throughput(201):.2f}, p99 "
            f"{percentile(herd.latencies_ms(), 99) / percentile(loaded.latencies_ms(), 99):.2f})"
        )
    return exit_status


def worker_names(args: argparse.Namespace) -> list[str]:
    """The processes of the run that do the drain's work (their CPU is the workers')."""
    names = [f"worker{index}" for index in range(1, len(args.worker) + 1)]
    return [*names, "worker-intake"] if args.hand_over == "claimed" else names


def print_cpu(cpu: dict[str, float], drain_s: float, workers: Sequence[WorkerSpec]) -> None:
    """Where the machine's CPU went from the herd to the end of the drain."""
    labels = {f"worker{index}": spec.label for index, spec in enumerate(workers, start=1)}
    labels["worker-intake"] = "intake worker (claimed)"
    available = drain_s * (os.cpu_count() or 1)
    used = sum(cpu.values())
    parts = ", ".join(
        f"{labels.get(name, name)} {seconds:.1f}"
        for name, seconds in sorted(cpu.items(), key=lambda item: -item[1])
        if seconds >= 0.05
    )
    print(
        f"  CPU seconds, herd to drained: {used:.1f} of {available:.1f} "
        f"({used / available:.0%}): {parts}"
    )


def worker_cpu(cpu: dict[str, float]) -> float:
    """CPU seconds of the processes that do the drain's work (``worker_names``)."""
    return sum(seconds for name, seconds in cpu.items() if name.startswith("worker"))


def print_drain_targets(system: SystemResult, progress: Progress, orders: int) -> None:
    """Issue 18's drain targets: the workers kept busy, a bounded tail; and work per order.

    Utilization is issue 18's: from the first 202 to the last invoice and mail, the workers' and
    PostgreSQL's CPU seconds over the cores' seconds in that time.
    """
    first_202 = min((outcome.latency_s for outcome in system.herd.accepted(202)), default=0.0)
    window_s = progress.done_at.get(PAPERWORK, 0.0) - first_202
    if system.paperwork_cpu and window_s > 0:
        used = worker_cpu(system.paperwork_cpu) + system.paperwork_cpu.get("PostgreSQL", 0.0)
        utilization = used / (window_s * (os.cpu_count() or 1))
        print(target_line("drain utilization (workers + PostgreSQL)", utilization, 0.75, True))
        print(f"    (first 202 to the last invoice and mail: {window_s:.1f} s)")
    at_99 = progress.done_at.get("shipments 99%")
    last = progress.done_at.get("shipments")
    if at_99 and last:
        print(target_line("last shipment / 99 % dispatched", last / at_99, 1.5, False))
    if orders:
        print(f"  (worker CPU per order: {1000 * worker_cpu(system.cpu) / orders:.1f} ms)")


def print_metrics(
    metrics: dict[str, tuple[float, float]], render: RenderFloor | None, orders: int
) -> None:
    """Where the workers' time went, from their own histograms."""
    placed = metrics.get("placement placed")
    if placed and placed[0]:
        print(
            f"  intake worker's placement.accept: {placed[1] / placed[0] * 1000:.1f} ms mean "
            f"over {placed[0]:.0f} orders"
        )
    waited = metrics.get("request wait")
    if waited and waited[0]:
        print(
            f"  order requests, from 202 to placement: {waited[1] / waited[0]:.1f} s mean "
            f"over {waited[0]:.0f}"
        )
    renders = metrics.get("renders")
    if renders and renders[0]:
        mean = renders[1] / renders[0]
        versus = f", {mean / render.median_s:.1f} x the quiet median" if render else ""
        print(f"  worker renders: {renders[0]:.0f}, {mean * 1000:.1f} ms mean{versus}")
    tasks = [
        (name[5:], count, total) for name, (count, total) in metrics.items() if name[:5] == "task "
    ]
    if tasks:
        print("  worker time by task and state (runs, runs per order, seconds in all, mean ms):")
        for name, count, total in sorted(tasks, key=lambda item: -item[2]):
            mean_ms = total / count * 1000 if count else 0.0
            per_order = count / orders if orders else 0.0
            print(f"    {name:<44}{count:>6.0f}{per_order:>7.2f}{total:>9.1f} s{mean_ms:>9.1f}")


def render_processes(args: argparse.Namespace) -> int:
    return sum(spec.processes for spec in args.worker if "invoices" in spec.queues)


def print_render(render: RenderFloor, renders: int, processes: int) -> None:
    which = "a synthetic copy of the herd's invoice" if render.synthetic else render.invoice
    floor_s = renders * render.median_s / processes
    print(
        f"rendering floor: median {render.median_s * 1000:.1f} ms per PDF ({which}, "
        f"{render.pdf_bytes} bytes, {render.samples} renders); {renders} renders / "
        f"{processes} process(es) = {floor_s:.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_file_limit(4 * args.orders + 1024)
    directory = Path(tempfile.mkdtemp(prefix="monolithos-bench-herd-"))
    run = Run(args, directory)
    processes = Processes(directory)
    failed = True
    with terminate_on_sigterm():
        try:
            status = bench(run, processes)
            failed = status != 0
            return status
        except RunFailed as error:
            print(f"herd: the run failed: {error}", file=sys.stderr)
            return 2
        finally:
            processes.stop()
            if args.keep or failed:
                print(f"run directory (logs, mails, PDFs): {directory}", file=sys.stderr)
            else:
                shutil.rmtree(directory, ignore_errors=True)


def bench(run: Run, processes: Processes) -> int:
    with exclusive(run.args.postgres, [*run.databases.values(), run.args.redis, run.args.cache]):
        try:
            return bench_exclusively(run, processes)
        finally:
            processes.stop()  # before the databases go, and while the lock is held
            if not run.args.keep:
                with contextlib.suppress(Exception):
                    recreate_databases(
                        run.args.postgres, list(run.databases.values()), create=False
                    )


def bench_exclusively(run: Run, processes: Processes) -> int:
    args = run.args
    import redis

    recreate_databases(args.postgres, list(run.databases.values()))
    redis.Redis.from_url(args.redis).flushdb()
    redis.Redis.from_url(args.cache).flushdb()

    print("(a) the bare DRF floor ...", file=sys.stderr, flush=True)
    run.note_load("floor")
    floor, floor_rows = measure_floor(run, processes)

    print("starting the system ...", file=sys.stderr, flush=True)
    web_port, supplier_url = start_system(run, processes, hand_over=args.hand_over)
    token = setup_system_data(args.orders, args.skus)
    print(f"the herd: {args.orders} orders ...", file=sys.stderr, flush=True)
    run.note_load("herd")
    system = measure_system(run, processes, token, web_port)
    system_processes = ["web", "beat", *worker_names(args)]
    processes.stop(system_processes)
    if not system.missing_endpoint:
        system.metrics = read_metrics(run.directory / "prometheus")
        system.log_events = read_log_events(run.directory, system_processes)
        checked = check_integrity(
            run,
            system.request_ids,
            system.numbers,
            supplier_url,
            renders=system.metrics.get("renders", (0.0, 0.0))[0],
        )
        system.ledger, system.supplier_calls = checked.ledger, checked.supplier_calls
        system.integrity = checked.counts
    processes.stop()  # the rendering floor is measured on a quiet machine

    print("(b) the rendering floor ...", file=sys.stderr, flush=True)
    run.note_load("render")
    render = measure_render(system.numbers, args.render_samples)
    return report(run, floor, floor_rows, system, render)


if __name__ == "__main__":
    sys.exit(main())
