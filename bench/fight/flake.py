"""The flake round: the supplier fails half the calls and hangs on others, both sides exercised.

The attack was the flake: a supplier that answers 503 to half the requests and hangs 5 s on a
tenth of the rest, called inside the request with no timeout. The defense is the resilience
layer (docs/adr/0006, 0007, 0017): the new side answers before dispatching, workers dispatch
with timeouts, retries with backoff, an idempotency key per shipment and a circuit breaker
shared through Redis. On the running system (``arena``) the same orders are placed, tracked
and shipped through the strangled routes, first with the routes in ``legacy`` mode and then in
``new`` mode (the strangler's service switches them, as the ops panel would). Then the supplier
goes down (every call 503) while the new side keeps taking orders, and comes back: the time
until the breaker opens, and until it closes and the backlog is dispatched. The supplier's
ledger says what was dispatched, and how often. The round holds when the new side lost no
order, dispatched none twice, kept no caller waiting on a hang, and its breaker opened once the
supplier was down and closed once it was back. The legacy side's numbers are the attack's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench.fight import traffic_charts as charts
from bench.fight.arena import Arena
from bench.fight.outcome import Defense, RoundResult, Table
from bench.fight.progress import Progress
from bench.fight.traffic import Answer, Latency, call
from bench.fight.work import Work, observe
from bench.harness.client import order_body

NAME = "flake"
TITLE = "The flake: breaker, retries, fallback against a supplier that fails and hangs"
STEPS = 5
FAILURE_RATE, HANG_RATE, HANG_S = 0.5, 0.1, 5.0
CALLERS = 8  # shop clients at once
OUTAGE_ORDERS = 40  # at most, while waiting for the breaker to open
SIDES = ("legacy", "new")


@dataclass
class Side:
    name: str
    answers: list[Answer] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    work: Work | None = None

    @property
    def latency(self) -> Latency:
        return Latency.of([a.latency_s for a in self.answers])

    def waited_on_hang(self, at_least_s: float) -> int:
        """Answers that took ``at_least_s`` or longer: the caller waited on a hang.

        The threshold is the supplier gateway's read timeout: a hang is cut there, so a caller
        who waited that long waited on one, whether or not it was cut.
        """
        return sum(1 for a in self.answers if a.latency_s >= at_least_s)

    @property
    def server_errors(self) -> int:
        return sum(1 for a in self.answers if a.status is None or a.status >= 500)


@dataclass
class Breaker:
    """What the breaker did once the supplier went down and came back (seconds, or None)."""

    open_after_s: float | None = None
    closed_after_s: float | None = None
    drained_after_s: float | None = None
    samples: list[tuple[float, str]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)


class Sampler(threading.Thread):
    """The breaker's state, read from ``/readyz`` twice a second while the round runs."""

    def __init__(self, arena: Arena, started: float) -> None:
        super().__init__(daemon=True)
        self.arena, self.started = arena, started
        self.samples: list[tuple[float, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                state = self.arena.breaker_state()
            except ValueError:  # a body that is not the readiness JSON (a proxy's error page)
                state = "unknown"
            self.samples.append((time.monotonic() - self.started, state))
            self.stopping.wait(0.5)

    def latest(self) -> str:
        return self.samples[-1][1] if self.samples else "unknown"


def exercise(arena: Arena, side: Side, orders: int) -> None:
    """Each order placed, tracked and shipped, ``CALLERS`` orders at a time."""

    def one(index: int) -> list[Answer]:
        email = arena.customer(f"flake-{side.name}")
        body = order_body(index, arena.run.run_id)
        body["customer_email"] = email
        placed = call(
            arena.web_port, "POST", "/api/orders/", kind="place", side=side.name, body=body
        )
        answers = [placed]
        if placed.status == 201 and isinstance(placed.body, dict):
            order = placed.body["id"]
            side.numbers.append(str(placed.body["number"]))
            side.emails.append(email)
            for method, path, kind in (
                ("GET", f"/api/orders/{order}/track/", "track"),
                ("POST", f"/api/orders/{order}/ship/", "ship"),
            ):
                answers.append(call(arena.web_port, method, path, kind=kind, side=side.name))
        return answers

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        for answers in pool.map(one, range(orders)):
            side.answers.extend(answers)


def wait(done: Callable[[], bool], arena: Arena, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not done():
        arena.processes.check()
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def outage(
    arena: Arena, new: Side, down_side: Side, sampler: Sampler, started: float, quick: bool
) -> Breaker:
    """The supplier down while the new side takes orders (``down_side``), then back.

    The breaker is timed; the new side's work is then counted over both sets of orders.
    """
    breaker = Breaker()
    since = lambda: time.monotonic() - started  # noqa: E731
    arena.chaos(failure_rate=1.0, hang_rate=0.0)
    down = since()
    breaker.events.append((down, "supplier down"))
    deadline = time.monotonic() + (60 if quick else 120)
    # An order a step, its dispatch failing at the supplier, until the breaker opens; a bound
    # on both, so a breaker that never opens fails the round instead of flooding the system.
    for _ in range(OUTAGE_ORDERS):
        if sampler.latest() == "open" or time.monotonic() > deadline:
            break
        exercise(arena, down_side, 1)
        time.sleep(0.25)
    if sampler.latest() == "open":
        breaker.open_after_s = since() - down
    exercise(arena, down_side, 4)  # taken while the breaker is open: they wait in the backlog
    arena.chaos(failure_rate=0.0, hang_rate=0.0)
    back = since()
    breaker.events.append((back, "supplier back"))
    if wait(lambda: sampler.latest() == "closed", arena, 180):
        breaker.closed_after_s = since() - back

    def drained() -> bool:
        new.work = observe(
            new.numbers + down_side.numbers,
            new.emails + down_side.emails,
            ledger=arena.ledger(),
            mail_dir=arena.run.mail_dir,
        )
        return new.work.drained

    if wait(drained, arena, 300):
        breaker.drained_after_s = since() - back
    return breaker


def run(*, quick: bool, arena: Callable[[], Arena]) -> RoundResult:
    orders = 10 if quick else 200
    progress = Progress(NAME, STEPS)
    progress.step("starting the system")
    system = arena()
    started = time.monotonic()
    sampler = Sampler(system, started)
    sampler.start()
    sides = {name: Side(name) for name in SIDES}
    events: list[tuple[float, str]] = []
    for side in sides.values():
        progress.step(f"{orders} orders placed, tracked, shipped on the {side.name} side")
        system.chaos(failure_rate=FAILURE_RATE, hang_rate=HANG_RATE, hang_seconds=HANG_S)
        system.set_modes(side.name)
        events.append((time.monotonic() - started, f"{side.name} side"))
        exercise(system, side, orders)
    progress.step("the supplier down, the breaker timed; then back, the backlog drained")
    down_side = Side("new, supplier down")
    breaker = outage(system, sides["new"], down_side, sampler, started, quick)
    progress.step("counting orders in the supplier's ledger")
    legacy = sides["legacy"]
    legacy.work = observe(
        legacy.numbers, legacy.emails, ledger=system.ledger(), mail_dir=system.run.mail_dir
    )
    sampler.stopping.set()
    sampler.join()
    breaker.samples = sampler.samples
    breaker.events = sorted(events + breaker.events)
    from django.conf import settings

    result = judge(sides, down_side, breaker, hang_wait_s=float(settings.SUPPLIER_READ_TIMEOUT))
    progress.finish()
    return result


def judge(
    sides: dict[str, Side], down_side: Side, breaker: Breaker, *, hang_wait_s: float
) -> RoundResult:
    new, legacy = sides["new"], sides["legacy"]
    waited = {side.name: side.waited_on_hang(hang_wait_s) for side in (legacy, new)}
    placed = [a for a in new.answers + down_side.answers if a.kind == "place"]
    refused = sum(1 for a in placed if a.status != 201)
    work = new.work
    lost = work.lost if work else len(new.numbers) + len(down_side.numbers)
    twice = work.dispatched_twice if work else 0
    defenses = (
        Defense(
            "the new side lost no order",
            work is not None and lost == 0,
            f"{lost} of {len(new.numbers) + len(down_side.numbers)} accepted orders not placed, "
            f"dispatched, invoiced and mailed by the end (legacy: "
            f"{legacy.work.lost if legacy.work else '?'} of {len(legacy.numbers)})",
        ),
        Defense(
            "the new side took every order, the supplier failing, hanging or down",
            bool(placed) and refused == 0,
            f"{len(placed) - refused} of {len(placed)} placements answered 201, "
            f"{len(down_side.numbers)} of them while the supplier was down",
        ),
        Defense(
            "the new side dispatched no order twice (the supplier's ledger)",
            work is not None and work.duplicated == 0,
            f"dispatched twice {twice}, mailed twice {work.mailed_twice if work else '?'}"
            f" (legacy dispatched twice: {legacy.work.dispatched_twice if legacy.work else '?'})",
        ),
        Defense(
            "no caller of the new side waited on a hang",
            waited["new"] == 0,
            f"{waited['new']} of {len(new.answers)} answers took {hang_wait_s:.0f} s (the "
            f"supplier's read timeout) or more (legacy: {waited['legacy']} of "
            f"{len(legacy.answers)})",
        ),
        Defense(
            "the breaker opened once the supplier was down and closed once it was back",
            breaker.open_after_s is not None and breaker.closed_after_s is not None,
            f"open after {_s(breaker.open_after_s)}, closed after {_s(breaker.closed_after_s)}",
        ),
    )
    rows = []
    for side in (legacy, new):
        done = side.work
        rows.append(
            (
                side.name,
                len(side.numbers),
                len(side.answers),
                *side.latency.cells(),
                waited[side.name],
                side.server_errors,
                done.lost if done else "?",
                done.dispatched_twice if done else "?",
            )
        )
    callers = Table.of(
        "Callers under chaos: the same orders on both sides",
        (
            "side",
            "orders accepted under chaos",
            "answers (place, track, ship)",
            "p50 (ms)",
            "p99 (ms)",
            "max (ms)",
            f"answers that waited on a hang (>= {hang_wait_s:.0f} s)",
            "answers 5xx or none",
            "orders lost",
            "orders dispatched twice",
        ),
        rows,
        f"Supplier: {FAILURE_RATE:.0%} of calls answered 503, {HANG_RATE:.0%} of the rest hang "
        f"{HANG_S:.0f} s. Lost: accepted and not dispatched (ledger), invoiced and mailed at the "
        f"end; the new side's count includes the {len(down_side.numbers)} orders it took while "
        "the supplier was down.",
    )
    per_kind = Table.of(
        "Caller latency by request",
        ("side", "request", "answers", "p50 (ms)", "p99 (ms)", "max (ms)", "statuses"),
        [
            (
                side.name,
                kind,
                len(chosen),
                *Latency.of([a.latency_s for a in chosen]).cells(),
                ", ".join(f"{s}: {n}" for s, n in _statuses(chosen)),
            )
            for side in (legacy, new, down_side)
            for kind in ("place", "track", "ship")
            if (chosen := [a for a in side.answers if a.kind == kind])
        ],
        f"The last {len(down_side.answers)} answers of the new side came while the supplier "
        "was down (every call 503).",
    )
    outage_table = Table.of(
        "The supplier down, then back (new side)",
        ("measure", "seconds"),
        [
            ("supplier down -> breaker open (calls fail fast)", _s(breaker.open_after_s)),
            ("supplier back -> breaker closed", _s(breaker.closed_after_s)),
            (
                "supplier back -> every new-side order dispatched, invoiced, mailed",
                _s(breaker.drained_after_s),
            ),
        ],
        "The breaker's state as /readyz reports it, read every 0.5 s.",
    )
    return RoundResult(
        name=NAME,
        title=TITLE,
        summary=(
            f"p99 legacy {legacy.latency.p99_ms:,.0f} ms -> new {new.latency.p99_ms:,.0f} ms | "
            f"waited on a hang {waited['legacy']} -> {waited['new']} | "
            f"lost {legacy.work.lost if legacy.work else '?'} -> {lost} | dispatched twice "
            f"{legacy.work.dispatched_twice if legacy.work else '?'} -> {twice} | breaker open "
            f"after {_s(breaker.open_after_s)}, closed {_s(breaker.closed_after_s)} after recovery"
        ),
        defenses=defenses,
        tables=(callers, per_kind, outage_table),
        charts=(
            charts.latency_distributions(
                "flake-latency",
                "Caller latency under chaos, legacy against new (place, track, ship)",
                {side.name: [a.latency_s for a in side.answers] for side in (legacy, new)},
            ),
            charts.breaker_states(
                "flake-breaker",
                "The supplier breaker's state over the flake round",
                breaker.samples,
                breaker.events,
            ),
        ),
    )


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s"


def _statuses(answers: Sequence[Answer]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for answer in answers:
        key = str(answer.status) if answer.status is not None else answer.error or "none"
        counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items())
