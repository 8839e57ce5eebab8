"""The metrics table of ``docs/assessment.md``, filled in by the tangle round's own numbers.

The table sits between two markers; ``write_metrics`` replaces what is between them, so the
assessment's before-and-after figures are always the ones the round measured, never typed in.
"""

from __future__ import annotations

from pathlib import Path

from bench.fight.outcome import RoundResult
from bench.fight.report import Run, markdown_table
from bench.fight.source_tree import ROOT
from bench.fight.tangle_tables import FITNESS_TITLE, INVENTORY_TITLE

ASSESSMENT = ROOT / "docs" / "assessment.md"
START = "<!-- bossfight:tangle-metrics -->"
END = "<!-- /bossfight:tangle-metrics -->"


class NoMarkers(Exception):
    """The document has no (or a broken) pair of markers to write between."""


def metrics_block(result: RoundResult, run: Run) -> str:
    tables = [t for t in result.tables if t.title in (FITNESS_TITLE, INVENTORY_TITLE)]
    return "\n\n".join(
        [
            f"Measured by `{run.command}` on {run.commit[:12]}, {run.started}.",
            *(markdown_table(table, heading="####") for table in tables),
        ]
    )


def write_metrics(result: RoundResult, run: Run, path: Path = ASSESSMENT) -> None:
    text = path.read_text()
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise NoMarkers(f"{path} has no {START!r} ... {END!r} block")
    head, tail = text[: start + len(START)], text[end:]
    path.write_text(f"{head}\n{metrics_block(result, run)}\n{tail}")
