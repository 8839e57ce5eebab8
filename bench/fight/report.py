"""The boss fight's report: one self-contained HTML file and a Markdown summary beside it.

The HTML needs nothing but itself to open: styles inline, charts inlined as SVG, no script, no
font, no link to load. The Markdown carries the same verdicts and tables and links the charts,
written as ``<chart name>.svg`` files in the same directory.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.fight.outcome import RoundResult, Table

_CODE = re.compile(r"`([^`]+)`")
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #1a202c; }
h1, h2, h3 { line-height: 1.2; }
table { border-collapse: collapse; margin: 0.5rem 0 0.25rem; font-size: 0.9rem; }
th, td { border: 1px solid #cbd5e0; padding: 0.25rem 0.5rem; text-align: left; }
td { vertical-align: top; }
th { background: #edf2f7; }
.held { color: #276749; font-weight: 600; }
.failed { color: #c53030; font-weight: 600; }
.verdict { font-family: ui-monospace, monospace; white-space: pre-wrap; }
.note { color: #4a5568; font-size: 0.85rem; }
figure { margin: 1.5rem 0; }
figure svg { max-width: 100%; height: auto; }
code { background: #edf2f7; padding: 0 0.2rem; }
"""


@dataclass(frozen=True)
class Run:
    """What the report says about the run itself."""

    command: str
    commit: str
    started: str  # ISO time, UTC
    seconds: float


def _text(value: str) -> str:
    """Escaped HTML, with `code` spans kept as code."""
    return _CODE.sub(r"<code>\1</code>", html.escape(value))


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{_text(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_text(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    note = f'<p class="note">{_text(table.note)}</p>' if table.note else ""
    return (
        f"<h3>{_text(table.title)}</h3><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>{note}"
    )


def _html_round(result: RoundResult) -> str:
    state = "held" if result.held else "failed"
    defenses = "".join(
        f'<li><span class="{"held" if d.held else "failed"}">{"held" if d.held else "FAILED"}'
        f"</span> {_text(d.name)}: {_text(d.detail)}</li>"
        for d in result.defenses
    )
    findings = "".join(f"<li>{_text(f)}</li>" for f in result.findings)
    charts = "".join(
        f"<figure>{chart.svg}<figcaption>{_text(chart.title)}</figcaption></figure>"
        for chart in result.charts
    )
    return (
        f'<section id="{result.name}"><h2>{_text(result.title)}</h2>'
        f'<p class="verdict {state}">{_text(result.verdict)}</p>'
        f"<h3>Defenses</h3><ul>{defenses}</ul>"
        + (f"<h3>What the numbers also show</h3><ul>{findings}</ul>" if findings else "")
        + "".join(_html_table(table) for table in result.tables)
        + charts
        + "</section>"
    )


def _summary_rows(results: Sequence[RoundResult]) -> Table:
    return Table.of(
        "Verdicts",
        ("round", "verdict", "numbers"),
        [(r.name, "held" if r.held else "FAILED", r.summary) for r in results],
    )


def render_html(results: Sequence[RoundResult], run: Run) -> str:
    held = all(r.held for r in results)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>The boss fight</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>The boss fight</h1>"
        f"<p>{_text(f'`{run.command}`')} on {run.commit[:12]}, {run.started}, "
        f"{run.seconds:.1f} s: "
        f'<span class="{"held" if held else "failed"}">'
        f"{'every defense held' if held else 'a defense failed'}</span>.</p>"
        + _html_table(_summary_rows(results))
        + "".join(_html_round(r) for r in results)
        + "</body></html>\n"
    )


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table, heading: str = "###") -> str:
    lines = [
        f"{heading} {table.title}",
        "",
        "| " + " | ".join(_cell(c) for c in table.columns) + " |",
        "| " + " | ".join("---" for _ in table.columns) + " |",
        *("| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows),
    ]
    if table.note:
        lines += ["", table.note]
    return "\n".join(lines)


def render_markdown(results: Sequence[RoundResult], run: Run) -> str:
    parts = [
        "# The boss fight",
        "",
        f"`{run.command}` on {run.commit[:12]}, {run.started}, {run.seconds:.1f} s.",
        "",
        "```",
        *(r.verdict for r in results),
        "```",
    ]
    for result in results:
        parts += ["", f"## {result.title}", ""]
        parts += [
            f"- **{'held' if d.held else 'FAILED'}** {d.name}: {d.detail}" for d in result.defenses
        ]
        if result.findings:
            parts += ["", "What the numbers also show:", ""]
            parts += [f"- {finding}" for finding in result.findings]
        for table in result.tables:
            parts += ["", markdown_table(table)]
        for chart in result.charts:
            parts += ["", f"![{chart.title}]({chart.name}.svg)"]
    return "\n".join(parts) + "\n"


def write_report(results: Sequence[RoundResult], run: Run, directory: Path) -> list[Path]:
    """The HTML report, the Markdown summary and each chart's SVG file, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "report.html", directory / "report.md"]
    written[0].write_text(render_html(results, run))
    written[1].write_text(render_markdown(results, run))
    for result in results:
        for chart in result.charts:
            path = directory / f"{chart.name}.svg"
            path.write_text(chart.svg + "\n")
            written.append(path)
    return written
