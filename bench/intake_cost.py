"""Benchmark: what each part of ``POST /api/v1/orders/`` costs under a herd, against the floor.

bench/herd.py holds the intake to the bare DRF floor (one INSERT, no authentication, throttle
or validation) while the workers drain on the same cores. This benchmark takes the workers away
and the request apart: on fresh PostgreSQL databases and a dedicated Redis database, with no
Celery worker (the broker messages wait in Redis), it starts gunicorn (config/gunicorn.py,
``--web-workers`` workers) once per variant and fires ``-n`` requests at once, exactly as
bench/herd.py does:

- ``floor``: the bare endpoint (bench/floor);
- ``intake``: the endpoint as shipped;
- ``intake, claimed hand-over``: the same with ORDER_INTAKE_HAND_OVER=claimed (one row and a
  NOTIFY, no broker message; docs/adr/0025);
- ``intake without <part>``: the same with one part left out (bench/intake_cost_wsgi.py): the
  broker message (``hand_over``), the token's query (``token_lookup``), the catalogue check
  (``catalogue_check``), the throttle (``throttle``), the answer's serializer
  (``response_body``);
- ``intake without all five``: what is left is DRF's input validation and the INSERT.

Each variant runs ``--rounds`` times, interleaved; it prints the median throughput, p50 and p99,
the web processes' CPU per request, and throughput and p99 against the floor's (the herd's
targets, with the workers running: at least 0.5 and at most 2). Exit status 0, or 2 when the
run could not be made.

    .venv/bin/python bench/intake_cost.py            # 1,000 requests, 3 rounds, ~3 minutes
    .venv/bin/python bench/intake_cost.py -n 500 --rounds 1
    .venv/bin/python bench/intake_cost.py --variants intake   # floor and the two intakes
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness.client import (  # noqa: E402  (the project's root on the path first)
    FLOOR_PATH,
    ORDERS_PATH,
    SKU,
    fire,
    http_request,
    order_body,
    percentile,
    warm_up,
)
from bench.harness.processes import (  # noqa: E402
    Processes,
    RunFailed,
    answers,
    cpu_seconds,
    family,
    free_port,
    raise_file_limit,
    wait_for,
)
from bench.harness.system import (  # noqa: E402
    FLOOR_SETTINGS,
    SYSTEM_SETTINGS,
    add_server_arguments,
    exclusive,
    gunicorn_argv,
    manage,
    recreate_databases,
    setup_system_data,
)

# The intake measured alone against the floor, in one run (issue 18's decision on measurement).
THROUGHPUT_TARGET = 0.5
P99_TARGET = 2.0

PARTS = ("hand_over", "token_lookup", "catalogue_check", "throttle", "response_body")


@dataclass(frozen=True)
class Variant:
    label: str
    floor: bool = False
    left_out: tuple[str, ...] = ()
    hand_over: str = "broker"  # ORDER_INTAKE_HAND_OVER (docs/adr/0025)


VARIANTS = (
    Variant("floor", floor=True),
    Variant("intake"),
    Variant("intake, claimed hand-over", hand_over="claimed"),
    *(Variant(f"intake without {part}", left_out=(part,)) for part in PARTS),
    Variant("intake without all five", left_out=PARTS),
)


@dataclass
class Sample:
    throughput: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # web processes' CPU per request
    problems: dict[str, int] = field(default_factory=dict)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/intake_cost.py",
        description="The intake's request taken apart under a herd, against the bare floor.",
    )
    parser.add_argument("-n", "--requests", type=int, default=1000, help="fired at once (1000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant (3)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--variants",
        choices=("all", "intake"),
        default="all",
        help="all: every variant; intake: the floor and the intake with each hand-over, for "
        "a lever's before and after (all)",
    )
    add_server_arguments(parser, db_prefix="monolithos_intake_cost", broker_db=13, cache_db=15)
    args = parser.parse_args(argv)
    if args.requests < 1 or args.rounds < 1 or args.web_workers < 1:
        parser.error("-n, --rounds and --web-workers must be at least 1")
    args.postgres = args.postgres.rstrip("/")
    return args


def environment(
    args: argparse.Namespace, directory: Path, variant: Variant, port: int
) -> dict[str, str]:
    database = f"{args.postgres}/{args.db_prefix}"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "LOGISTICS_DATABASE_URL", "REPLICA_DATABASE_URL"}
    }
    metrics = directory / f"prometheus-{uuid.uuid4().hex[:8]}"
    metrics.mkdir()
    env.update(
        DJANGO_SETTINGS_MODULE=FLOOR_SETTINGS if variant.floor else SYSTEM_SETTINGS,
        DATABASE_URL=f"{database}_floor" if variant.floor else database,
        LOGISTICS_DATABASE_URL=f"{database}_floor" if variant.floor else f"{database}_logistics",
        REDIS_URL=args.redis,
        CACHE_URL=args.cache,
        MONOLITHOS_VAR_DIR=str(directory / "var"),
        MEDIA_ROOT=str(directory / "media"),
        WEB_CONCURRENCY=str(args.web_workers),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        LOG_LEVEL="WARNING",
        DEBUG="false",
        API_THROTTLE_USER="100000/minute",
        API_THROTTLE_ANON="100000/minute",
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
        BENCH_LEAVE_OUT=",".join(variant.left_out),
        ORDER_INTAKE_HAND_OVER=variant.hand_over,
        PYTHONUNBUFFERED="1",
    )
    return env


def measure(
    args: argparse.Namespace, directory: Path, variant: Variant, token: str, processes: Processes
) -> Sample:
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    redis.Redis.from_url(args.cache).flushdb()
    port = free_port()
    app = "config.wsgi:application" if variant.floor else "bench.intake_cost_wsgi:application"
    web = processes.start("web", gunicorn_argv(app), environment(args, directory, variant, port))
    wait_for("gunicorn", lambda: answers(f"http://127.0.0.1:{port}/healthz"), processes, 60)
    path, status = (FLOOR_PATH, 201) if variant.floor else (ORDERS_PATH, 202)

    def request(index: int) -> bytes:
        headers = {"Authorization": f"Token {token}", "Idempotency-Key": str(uuid.uuid4())}
        return http_request(port, path, order_body(index, "cost"), headers)

    try:
        warm_up(port, request)
        requests = [request(index) for index in range(args.requests)]
        before = cpu_seconds(family(web.pid))
        herd = fire(port, requests, 120)
        cpu = cpu_seconds(family(web.pid)) - before
    finally:
        processes.stop(["web"])
    latencies = herd.latencies_ms()
    return Sample(
        throughput=herd.throughput(status),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        cpu_ms=1000 * cpu / args.requests,
        problems=herd.problems(status),
    )


def chosen_variants(args: argparse.Namespace) -> tuple[Variant, ...]:
    return VARIANTS if args.variants == "all" else VARIANTS[:3]


def report(args: argparse.Namespace, samples: dict[Variant, list[Sample]]) -> None:
    threads = os.environ.get("GUNICORN_THREADS", "8")
    print(
        f"intake cost: {args.requests} requests at once, gunicorn {args.web_workers} workers x "
        f"{threads} threads, PostgreSQL, Redis, no Celery worker, {os.cpu_count()} CPUs; "
        f"median of {args.rounds} round(s)"
    )
    print(
        f"  {'variant':34} {'throughput':>11} {'p50':>7} {'p99':>7} {'web CPU':>10} "
        f"{'throughput / floor':>19} {'p99 / floor':>12}"
    )
    floor = samples[VARIANTS[0]]
    floor_throughput = statistics.median(sample.throughput for sample in floor)
    floor_p99 = statistics.median(sample.p99_ms for sample in floor)
    for variant in chosen_variants(args):
        runs = samples[variant]
        throughput = statistics.median(sample.throughput for sample in runs)
        p99 = statistics.median(sample.p99_ms for sample in runs)
        print(
            f"  {variant.label:34} {throughput:9.1f}/s "
            f"{statistics.median(sample.p50_ms for sample in runs):7.0f} {p99:7.0f} "
            f"{statistics.median(sample.cpu_ms for sample in runs):7.2f} ms "
            f"{throughput / floor_throughput:19.2f} {p99 / floor_p99:12.2f}"
        )
        for sample in runs:
            if sample.problems:
                print(f"    not accepted: {sample.problems}")
    print("  (latencies in ms; web CPU: gunicorn processes' CPU time per request)")
    for variant in VARIANTS[1:3]:
        runs = samples[variant]
        throughput_ratio = statistics.median(s.throughput for s in runs) / floor_throughput
        p99_ratio = statistics.median(s.p99_ms for s in runs) / floor_p99
        throughput_verdict = "PASS" if throughput_ratio >= THROUGHPUT_TARGET else "MISS"
        p99_verdict = "PASS" if p99_ratio <= P99_TARGET else "MISS"
        print(
            f"  {variant.label} alone (issue 18): throughput {throughput_ratio:.2f} x the "
            f"floor's (at least {THROUGHPUT_TARGET}): {throughput_verdict}; p99 "
            f"{p99_ratio:.2f} x the floor's (at most {P99_TARGET}): {p99_verdict}"
        )


def bench(args: argparse.Namespace, directory: Path, processes: Processes) -> None:
    names = [args.db_prefix, f"{args.db_prefix}_logistics", f"{args.db_prefix}_floor"]
    # A second run on the same databases refuses to start instead of dropping them.
    with exclusive(args.postgres, [*names, args.redis, args.cache]):
        recreate_databases(args.postgres, names)
        try:
            measure_all(args, directory, processes)
        finally:
            processes.stop()
            recreate_databases(args.postgres, names, create=False)


def measure_all(args: argparse.Namespace, directory: Path, processes: Processes) -> None:
    system = environment(args, directory, VARIANTS[1], 0)
    floor = environment(args, directory, VARIANTS[0], 0)
    manage(system, "migrate", "--database", "default", "--no-input")
    manage(system, "migrate", "--database", "logistics", "--no-input")
    manage(system, "seed_demo")
    manage(floor, "migrate", "--database", "default", "--no-input")
    os.environ.update(system)
    import django

    django.setup()
    # Nothing places an order here (no worker), so the stock never runs out.
    token = setup_system_data(args.requests, [SKU])
    samples: dict[Variant, list[Sample]] = {variant: [] for variant in chosen_variants(args)}
    for round_number in range(1, args.rounds + 1):
        for variant in chosen_variants(args):
            print(f"round {round_number}: {variant.label} ...", file=sys.stderr, flush=True)
            samples[variant].append(measure(args, directory, variant, token, processes))
            time.sleep(1)
    report(args, samples)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_file_limit(4 * args.requests + 1024)
    directory = Path(tempfile.mkdtemp(prefix="monolithos-bench-intake-cost-"))
    (directory / "var").mkdir()
    processes = Processes(directory)
    try:
        bench(args, directory, processes)
    except RunFailed as error:
        print(f"intake_cost: the run failed: {error} (logs: {directory})", file=sys.stderr)
        return 2
    finally:
        processes.stop()
    shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
