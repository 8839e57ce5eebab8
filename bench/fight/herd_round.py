"""The herd round: orders at once on the placement route, legacy mode against new, one run.

The attack was the herd: a thousand orders at the same instant on a path that dispatched,
rendered and mailed inside each request. The defense is the heavy work on workers
(docs/adr/0010, 0011): the new side records the order and answers, the workers drain the rest.
On the running system (``arena``), with the supplier well-behaved (the flake round is the
supplier's), the harness's herd client (bench/harness/client.py) fires the orders at
``POST /api/orders/`` with every connection open first and every request written at one
instant, once with the route in ``legacy`` mode and once in ``new`` mode; then the round
watches each kind of work done (placed, dispatched at the supplier, invoiced, mailed) until
every accepted order has all four. The
round holds when the new side accepted every order, lost none and did none twice; the legacy
side's numbers stand beside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.fight import traffic_charts as charts
from bench.fight.arena import Arena, trace_id
from bench.fight.outcome import Defense, RoundResult, Table
from bench.fight.progress import Progress
from bench.fight.traffic import Latency
from bench.fight.work import KINDS, Work, observe, order_numbers
from bench.harness import client

NAME = "herd"
TITLE = "The herd: the heavy work on workers"
STEPS = 5
PLACEMENT = "/api/orders/"
SIDES = ("legacy", "new")


@dataclass
class Side:
    name: str
    herd: client.Herd | None = None
    numbers: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    drain: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    drained_s: float | None = None
    work: Work | None = None

    @property
    def accepted(self) -> int:
        return len(self.numbers)

    @property
    def latency(self) -> Latency:
        return Latency.of([o.latency_s for o in self.herd.outcomes] if self.herd else [])

    @property
    def throughput(self) -> float:
        return self.herd.throughput(201) if self.herd else 0.0


def fire(arena: Arena, side: Side, orders: int, timeout: float) -> None:
    requests = []
    for index in range(orders):
        email = arena.customer(f"herd-{side.name}")
        body = client.order_body(index, arena.run.run_id)
        body["customer_email"] = email
        side.emails.append(email)
        requests.append(
            client.http_request(arena.web_port, PLACEMENT, body, {"X-Request-ID": trace_id()})
        )
    side.herd = client.fire(arena.web_port, requests, timeout)
    for outcome in side.herd.accepted(201):
        number = herd_json(outcome.body).get("number")
        if number:
            side.numbers.append(str(number))


def herd_json(body: bytes) -> dict[str, object]:
    import json

    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def watch_drain(arena: Arena, side: Side, fired: threading.Event, timeout: float) -> None:
    """Each kind of work done for the side's orders, from before the herd until all is done.

    Polled while the herd is still being answered, so that the legacy side's work, done inside
    the requests, shows as it happens; times are from the poller's start (the herd's instant
    comes a moment later and ``run`` shifts them onto it).
    """
    started = time.perf_counter()
    while True:
        answered = fired.is_set()  # before the poll: the numbers it counts are all known
        numbers = order_numbers(side.emails)
        work = observe(numbers, side.emails, ledger=arena.ledger(), mail_dir=arena.run.mail_dir)
        # Stamped when the poll ends: what it counted was done by then (a poll takes a while
        # on a loaded machine; its start would date the work too early).
        now = time.perf_counter() - started
        side.drain.append((now, {kind: work.done(kind) for kind in KINDS}))
        if answered:
            side.work = observe(
                side.numbers, side.emails, ledger=arena.ledger(), mail_dir=arena.run.mail_dir
            )
            if side.work.drained:
                side.drained_s = time.perf_counter() - started
                return
        if now > timeout:
            return
        time.sleep(0.5)


def herd_and_drain(arena: Arena, side: Side, orders: int, timeout: float) -> None:
    fired = threading.Event()
    watcher = threading.Thread(target=watch_drain, args=(arena, side, fired, timeout))
    launched = time.perf_counter()
    watcher.start()
    try:
        fire(arena, side, orders, timeout)
    finally:
        fired.set()
    while watcher.is_alive():
        arena.processes.check()
        watcher.join(1.0)
    assert side.herd is not None
    shift = side.herd.started - launched  # the poller started this long before the herd
    side.drain = [(t - shift, done) for t, done in side.drain]
    if side.drained_s is not None:
        side.drained_s -= shift


def run(*, quick: bool, arena: Callable[[], Arena]) -> RoundResult:
    orders = 30 if quick else 1000
    timeout = 120.0 if quick else 900.0
    progress = Progress(NAME, STEPS)
    progress.step("starting the system")
    system = arena()
    system.chaos(failure_rate=0, hang_rate=0)
    sides = {name: Side(name) for name in SIDES}
    for side in sides.values():
        progress.step(f"{orders} orders at once on the {side.name} side")
        system.set_modes(side.name)
        progress.step(f"the {side.name} side's drain")
        herd_and_drain(system, side, orders, timeout)
    result = judge(sides, orders)
    progress.finish()
    return result


def judge(sides: dict[str, Side], orders: int) -> RoundResult:
    legacy, new = sides["legacy"], sides["new"]

    def lost(side: Side) -> int:
        return (orders - side.accepted) + (side.work.lost if side.work else side.accepted)

    def twice(side: Side) -> int:
        return side.work.duplicated if side.work else 0

    defenses = (
        Defense(
            "the new side accepted every order of the herd",
            new.accepted == orders,
            f"{new.accepted} of {orders} answered 201"
            + "".join(
                f"; {k}: {v}" for k, v in (new.herd.problems(201) if new.herd else {}).items()
            ),
        ),
        Defense(
            "the new side lost no work",
            lost(new) == 0 and new.drained_s is not None,
            f"{lost(new)} orders not placed, dispatched, invoiced and mailed by the end "
            f"(legacy: {lost(legacy)})",
        ),
        Defense(
            "the new side did no work twice",
            twice(new) == 0,
            f"{twice(new)} dispatched, mailed or placed twice (legacy: {twice(legacy)})",
        ),
    )
    rows = [
        (
            side.name,
            orders,
            side.accepted,
            f"{side.throughput:,.1f}",
            side.latency.cells()[0],
            side.latency.cells()[1],
            "never" if side.drained_s is None else f"{side.drained_s:,.1f}",
            lost(side),
            twice(side),
        )
        for side in (legacy, new)
    ]
    table = Table.of(
        "The herd: all orders at one instant on POST /api/orders/",
        (
            "side",
            "orders fired",
            "accepted (201)",
            "intake throughput (orders/s)",
            "p50 (ms)",
            "p99 (ms)",
            "drained after (s)",
            "lost",
            "duplicated",
        ),
        rows,
        "Latency from the common instant the requests were written to each answer's last byte. "
        "Drained: every accepted order placed, dispatched (the supplier's ledger), its invoice "
        "rendered and its confirmation mailed, counted from the instant the requests were "
        "written. Supplier well-behaved.",
    )
    speedup = (
        f"{new.throughput / legacy.throughput:.1f}x"
        if legacy.throughput and new.throughput
        else "-"
    )
    return RoundResult(
        name=NAME,
        title=TITLE,
        summary=(
            f"{orders} orders | throughput {legacy.throughput:,.0f} -> {new.throughput:,.0f}/s "
            f"({speedup}) | p99 {legacy.latency.p99_ms:,.0f} -> {new.latency.p99_ms:,.0f} ms | "
            f"drained {_s(legacy.drained_s)} -> {_s(new.drained_s)} | lost {lost(new)}, "
            f"duplicated {twice(new)}"
        ),
        defenses=defenses,
        tables=(table,),
        charts=(
            charts.latency_distributions(
                "herd-latency",
                f"Intake latency of {orders} orders at once, legacy against new",
                {
                    s.name: [o.latency_s for o in s.herd.outcomes] if s.herd else []
                    for s in (legacy, new)
                },
            ),
            charts.drains(
                "herd-drain",
                "The herd's drain: orders placed, shipped, invoiced, mailed over time",
                {s.name: s.drain for s in (legacy, new)},
                {s.name: s.accepted for s in (legacy, new)},
            ),
        ),
    )


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:,.1f} s"
