"""The rounds the boss fight can run: each name, what it measures, and its module's ``run``.

Only rounds that exist are listed; ``bench/bossfight.py --help`` prints this list. A round that
runs traffic asks ``arena`` for the running system (``bench.fight.arena``), started on first use
and shared by the rounds after it; the tangle round reads code only and never asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bench.fight import blackbox, flake, herd_round, tangle
from bench.fight.arena import Arena
from bench.fight.outcome import RoundResult


class RunRound(Protocol):
    def __call__(self, *, quick: bool, arena: Callable[[], Arena]) -> RoundResult: ...


@dataclass(frozen=True)
class Round:
    name: str
    what: str
    run: RunRound
    runs_traffic: bool = True


ROUNDS = {
    round_.name: round_
    for round_ in (
        Round(
            tangle.NAME,
            "import cycles, import-linter contracts, coupling past logistics.public, size and "
            "complexity (radon), OrderManager on fakes; the first commit against the working tree",
            tangle.run,
            runs_traffic=False,
        ),
        Round(
            flake.NAME,
            "the supplier at 50 % failures and 5 s hangs: orders placed, tracked, shipped on the "
            "legacy side then the new; latency, hangs waited on, lost and doubled dispatches, "
            "the breaker through an outage",
            flake.run,
        ),
        Round(
            blackbox.NAME,
            "requests that raise, hang up, outlive the timeout, a worker killed mid-task: "
            "final lines and task trace ids counted from the JSON logs",
            blackbox.run,
        ),
        Round(
            herd_round.NAME,
            "orders at once on the placement route, legacy mode against new: intake "
            "throughput and latency, the drain, lost and duplicated work",
            herd_round.run,
        ),
    )
}
