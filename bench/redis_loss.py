"""Benchmark: how long the system takes to recover from a Redis that lost its data (issue 13).

Starts the system as tests/system/test_broker_loss.py does, with the same harness
(tests/system/outages.py): gunicorn, the Procfile's two workers and beat, the supplier simulator
without chaos, broker and cache on a private redis-server, and, unlike the tests, the default
leases and sweeps (docs/adr/0015). Then, for each scenario:

- ``empty``: N orders, Redis killed with SIGKILL ``--drain`` seconds after them (while the
  workers drain) and restarted empty ``--outage`` seconds later, with M orders posted during
  the outage;
- ``kept``: the same with a Redis that keeps its data (append-only file, fsync always);
- ``workers``: N orders, every worker killed with SIGKILL ``--drain`` seconds after them and
  restarted ``--outage`` seconds later, M orders posted meanwhile;

and prints the recovery time: from Redis answering again (or the workers' restart) until every
order is placed, dispatched once (the supplier's ledger), its PDF rendered once and its two
mails sent once; how long the POSTs took during the outage; what was owed when it began; and
what the sweeps handed over again. Exit status 1 when work was lost or doubled.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench \\
        .venv/bin/python bench/redis_loss.py -n 30 --outage 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The harness reads state through Django shells in the system's environment.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from tests.system.outages import (  # noqa: E402
    BrokenSystem,
    broken_system,
    handovers,
    owed_now,
    place_orders,
    wait_until_done,
)

SCENARIOS = ("empty", "kept", "workers")


def run(
    broken: BrokenSystem, scenario: str, orders: int, during: int, outage: float, drain: float
) -> bool:
    if scenario in ("empty", "kept"):
        broken.redis.kill()
        broken.redis.persistent = scenario == "kept"
        broken.redis.start()
        time.sleep(3)  # workers and beat reconnect
    handed_before = handovers(broken)
    labels = [f"{scenario}-{int(time.time())}-{n}" for n in range(orders)]
    first = place_orders(broken, labels)
    time.sleep(drain)  # the loss comes while the workers drain
    if scenario == "workers":
        broken.workers.kill_workers()
        posted_during = place_orders(broken, [f"{label}-down" for label in labels[:during]])
    else:
        broken.redis.kill()
        posted_during = place_orders(broken, [f"{label}-down" for label in labels[:during]])
    owed = owed_now(broken)
    time.sleep(outage)
    if scenario == "workers":
        broken.workers.start()
    else:
        broken.redis.start()
    back = time.monotonic()
    ids = first.request_ids + posted_during.request_ids
    result, _ = wait_until_done(broken, ids, timeout=900)
    recovered = time.monotonic() - back
    statuses = first.statuses + posted_during.statuses
    during_seconds = sorted(posted_during.seconds) or [0.0]
    print(
        f"| {scenario} | {len(ids)} ({len(posted_during.request_ids)} during) "
        f"| {owed['requests_received']} requests, {owed['messages_owed']} messages "
        f"| {statistics.median(during_seconds) * 1000:.0f} / {during_seconds[-1] * 1000:.0f} ms "
        f"| {recovered:.1f} s | {result.summary()} |"
    )
    handed = handovers(broken) - handed_before
    print(f"  handed over by the sweeps: {dict(handed) or 'nothing'}")
    return result.done() and not result.doubled() and statuses == [202] * len(statuses)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--orders", type=int, default=30)
    parser.add_argument("--during", type=int, default=10, help="orders posted in the outage")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds")
    parser.add_argument(
        "--drain", type=float, default=0.0, help="seconds between the orders and the loss"
    )
    parser.add_argument("--scenario", choices=SCENARIOS, action="append")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="a setting for the system's processes (default: the embedded defaults)",
    )  # fmt: skip
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    ok = True
    # The default leases and sweeps (not the tests' quick ones), unless --set says otherwise.
    with (
        tempfile.TemporaryDirectory(prefix="redis-loss-") as directory,
        broken_system(Path(directory), extra_env=settings) as broken,
    ):
        print(f"settings: {settings or 'the defaults'}")
        print("| scenario | orders | owed at the loss | POST during the outage p50 / max "
              "| recovered after | outcome |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- |")
        for scenario in args.scenario or SCENARIOS:
            ok = run(broken, scenario, args.orders, args.during, args.outage, args.drain) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
