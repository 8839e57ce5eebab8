"""The charts of the rounds that run traffic: latencies side by side, a drain, a breaker's state.

Drawn like the tangle round's (``charts``: matplotlib, self-contained SVG, a title, axis labels
and units on each), legacy in grey, the strangled side in blue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt

from bench.fight.charts import AFTER, BEFORE, svg
from bench.fight.outcome import Chart

SIDES = {"legacy": BEFORE, "new": AFTER}
BREAKER_LEVELS = {"closed": 0, "half_open": 1, "open": 2}
KIND_COLOURS = {
    "placed": "#2f855a",
    "shipped": "#2b6cb0",
    "invoiced": "#b7791f",
    "mailed": "#9b2c2c",
}


def latency_distributions(
    name: str, title: str, latencies_s: Mapping[str, Sequence[float]]
) -> Chart:
    """Each side's caller latencies as a cumulative distribution, on a log scale."""
    figure, axes = plt.subplots(figsize=(8, 4.2))
    for side, values in latencies_s.items():
        ordered = sorted(max(v * 1000, 0.1) for v in values)
        if not ordered:
            continue
        shares = [100 * (i + 1) / len(ordered) for i in range(len(ordered))]
        axes.step(
            ordered,
            shares,
            where="post",
            color=SIDES.get(side, "#555"),
            label=f"{side} ({len(ordered)} answers)",
        )
    axes.set_xscale("log")
    axes.set_xlabel("caller latency (ms, log scale)")
    axes.set_ylabel("answers at or below (%)")
    axes.set_ylim(0, 101)
    axes.set_title(title)
    axes.grid(alpha=0.3, which="both")
    axes.legend(loc="lower right")
    return Chart(name, title, svg(figure))


def breaker_states(
    name: str,
    title: str,
    samples: Sequence[tuple[float, str]],
    events: Sequence[tuple[float, str]],
) -> Chart:
    """The supplier breaker's state over the round, with what the round did marked on it."""
    figure, axes = plt.subplots(figsize=(9, 3.4))
    known = [(t, BREAKER_LEVELS[s]) for t, s in samples if s in BREAKER_LEVELS]
    if known:
        axes.step([t for t, _ in known], [level for _, level in known], where="post", color=AFTER)
    for index, (at, label) in enumerate(events):
        axes.axvline(at, color="#718096", linestyle="--", linewidth=0.8)
        # Events close together: their labels on alternating heights.
        axes.annotate(label, (at, 2.3 + 0.55 * (index % 2)), fontsize=7, ha="left", va="center")
    axes.set_yticks(list(BREAKER_LEVELS.values()), [s.replace("_", "-") for s in BREAKER_LEVELS])
    axes.set_ylim(-0.3, 3.4)
    axes.set_xlabel("time since the round started (s)")
    axes.set_ylabel("breaker state (/readyz)")
    axes.set_title(title)
    axes.grid(axis="x", alpha=0.3)
    return Chart(name, title, svg(figure))


def drains(
    name: str,
    title: str,
    series: Mapping[str, Sequence[tuple[float, Mapping[str, int]]]],
    orders: Mapping[str, int],
) -> Chart:
    """Per side, each kind of work done over time, from the instant the herd was fired."""
    figure, panes = plt.subplots(1, len(series), figsize=(10, 3.8), sharey=True, squeeze=False)
    for axes, (side, points) in zip(panes[0], series.items(), strict=True):
        for kind, colour in KIND_COLOURS.items():
            axes.step(
                [t for t, _ in points],
                [done[kind] for _, done in points],
                where="post",  # a count holds until the next poll saw it change
                color=colour,
                label=kind,
            )
        axes.axhline(orders[side], color="#a0aec0", linestyle=":", linewidth=0.8)
        axes.set_title(f"{side}: {orders[side]} orders accepted")
        axes.set_xlabel("time since the herd was fired (s)")
        axes.grid(alpha=0.3)
    panes[0][0].set_ylabel("orders (count)")
    panes[0][-1].legend(loc="lower right")
    figure.suptitle(title)
    return Chart(name, title, svg(figure))


def final_lines(name: str, title: str, rows: Sequence[tuple[str, int, int]]) -> Chart:
    """Per kind of request: how many were sent, how many have exactly one final line."""
    figure, axes = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
    positions = range(len(rows))
    axes.barh(
        [p + 0.2 for p in positions], [sent for _, sent, _ in rows], 0.4, color=BEFORE, label="sent"
    )
    axes.barh(
        [p - 0.2 for p in positions],
        [one for _, _, one in rows],
        0.4,
        color=AFTER,
        label="exactly one final line",
    )
    axes.set_yticks(list(positions), [kind for kind, _, _ in rows])
    axes.set_xlabel("requests (count)")
    axes.set_ylabel("how the request ended")
    axes.set_title(title)
    axes.legend(loc="lower right")
    axes.grid(axis="x", alpha=0.3)
    return Chart(name, title, svg(figure))
