"""What a round hands back: its defenses with their verdicts, its tables, its charts.

Plain data, so the report (HTML, Markdown) and the command's exit status are derived from it
the same way for every round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Defense:
    """One claim the round checks: ``held`` or not, with the numbers that decided it."""

    name: str
    held: bool
    detail: str


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    @classmethod
    def of(
        cls, title: str, columns: Sequence[str], rows: Sequence[Sequence[object]], note: str = ""
    ) -> Table:
        return cls(title, tuple(columns), tuple(tuple(str(c) for c in row) for row in rows), note)


@dataclass(frozen=True)
class Chart:
    name: str  # file stem: ``<round>-<what>``
    title: str
    svg: str  # a complete ``<svg>`` element, fonts as paths: it needs nothing to be drawn


@dataclass(frozen=True)
class RoundResult:
    name: str
    title: str
    summary: str  # the verdict line's numbers
    defenses: tuple[Defense, ...]
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    findings: tuple[str, ...] = field(default=())  # what the numbers show that no defense decides

    @property
    def held(self) -> bool:
        return all(defense.held for defense in self.defenses)

    @property
    def verdict(self) -> str:
        return f"{self.name.upper():<8} {'held' if self.held else 'FAILED':<6}  {self.summary}"
