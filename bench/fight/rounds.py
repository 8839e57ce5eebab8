"""The rounds the boss fight can run: each name, what it measures, and its module's ``run``.

Only rounds that exist are listed; ``bench/bossfight.py --help`` prints this list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bench.fight import tangle
from bench.fight.outcome import RoundResult


class RunRound(Protocol):
    def __call__(self, *, quick: bool) -> RoundResult: ...


@dataclass(frozen=True)
class Round:
    name: str
    what: str
    run: RunRound


ROUNDS = {
    round_.name: round_
    for round_ in (
        Round(
            tangle.NAME,
            "import cycles, import-linter contracts, coupling past logistics.public, size and "
            "complexity (radon), OrderManager on fakes; the first commit against the working tree",
            tangle.run,
        ),
    )
}
