"""Charts for the report: matplotlib on the Agg backend, written as self-contained SVG.

Text is drawn as paths (matplotlib's default ``svg.fonttype``), so a chart needs no font and no
file beside it; the hash salt is fixed so that the same numbers draw the same file. Every chart
has a title, axis labels and the unit of its numbers.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.fight.complexity import FunctionSize
from bench.fight.outcome import Chart

BEFORE, AFTER = "#9a9a9a", "#2b6cb0"
COMPLEXITY_AXIS = "cyclomatic complexity (radon: decision points + 1)"

plt.rcParams.update({"svg.hashsalt": "bossfight", "font.size": 9})


def svg(figure: Figure) -> str:
    """The figure as one ``<svg>`` element (no XML prolog: it is inlined in HTML)."""
    buffer = io.StringIO()
    figure.savefig(
        buffer,
        format="svg",
        bbox_inches="tight",
        metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
    )
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def methods_before_after(
    name: str, title: str, before: Sequence[FunctionSize], after: Sequence[FunctionSize]
) -> Chart:
    """One class's methods, each with its complexity in both trees (absent: no bar)."""
    by_name_before = {m.name.split(".", 1)[1]: m.complexity for m in before}
    by_name_after = {m.name.split(".", 1)[1]: m.complexity for m in after}
    methods = sorted(
        set(by_name_before) | set(by_name_after),
        key=lambda m: (by_name_before.get(m, 0), by_name_after.get(m, 0)),
    )
    figure, axes = plt.subplots(figsize=(7.5, 0.32 * len(methods) + 1.4))
    positions = range(len(methods))
    height = 0.4
    axes.barh(
        [p + height / 2 for p in positions],
        [by_name_before.get(m, 0) for m in methods],
        height,
        color=BEFORE,
        label=f"inherited (total {sum(by_name_before.values())})",
    )
    axes.barh(
        [p - height / 2 for p in positions],
        [by_name_after.get(m, 0) for m in methods],
        height,
        color=AFTER,
        label=f"now (total {sum(by_name_after.values())})",
    )
    axes.set_yticks(list(positions), methods)
    axes.set_xlabel(COMPLEXITY_AXIS)
    axes.set_ylabel("method")
    axes.set_title(title)
    axes.legend(loc="lower right")
    axes.grid(axis="x", alpha=0.3)
    return Chart(name, title, svg(figure))


def top_functions(
    name: str,
    title: str,
    before: Sequence[FunctionSize],
    after: Sequence[FunctionSize],
    count: int = 10,
) -> Chart:
    """The ``count`` most complex functions of each tree, side by side on one scale."""
    figure, (upper, lower) = plt.subplots(
        2, 1, figsize=(10, 0.5 * count + 2), sharex=True, layout="constrained"
    )
    for axes, functions, colour, label in (
        (upper, before[:count], BEFORE, "inherited"),
        (lower, after[:count], AFTER, "now"),
    ):
        shown = list(reversed(functions))
        bars = axes.barh(
            range(len(shown)), [f.complexity for f in shown], color=colour, height=0.6, label=label
        )
        axes.bar_label(bars, padding=3)
        axes.set_yticks(
            list(range(len(shown))), [f"{f.path.removesuffix('.py')}: {f.name}" for f in shown]
        )
        axes.set_title(f"{label}: the {len(shown)} most complex")
        axes.set_ylabel("function (module: name)")
        axes.grid(axis="x", alpha=0.3)
    lower.set_xlabel(COMPLEXITY_AXIS)
    figure.suptitle(title)
    return Chart(name, title, svg(figure))
