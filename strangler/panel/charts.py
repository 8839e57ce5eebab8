"""The hour's traffic of a route as small inline SVG charts, drawn on the server (no script
needed; ``panel.js`` redraws the same lines from ``state.json`` with the same geometry, read
from the chart's ``data-`` attributes).

Both series are percentages, so the y axis is fixed at 0 to 100 %; the x axis is the last 60
minutes, the current minute at the right. A minute without requests (or without comparisons)
breaks the line rather than drawing a zero it did not measure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 320, 120
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 8, 30
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Chart:
    title: str
    field: str  # the series' key in each minute of ``state.json``'s traffic
    route: str
    lines: tuple[str, ...]  # SVG ``points`` of each unbroken run of minutes
    latest: float | None  # the last minute's value that was measured, marked and labelled

    width = WIDTH
    height = HEIGHT
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    middle = TOP + PLOT_HEIGHT / 2
    center = LEFT + PLOT_WIDTH / 2

    @property
    def marker(self) -> tuple[str, str] | None:
        """Where the latest value is drawn: the last point of the last line."""
        if not self.lines:
            return None
        x, y = self.lines[-1].split()[-1].split(",")
        return x, y


def lines(values: Sequence[float | None]) -> tuple[str, ...]:
    step = PLOT_WIDTH / max(len(values) - 1, 1)
    runs: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        x = LEFT + index * step
        y = TOP + (100 - value) / 100 * PLOT_HEIGHT
        runs[-1].append(f"{x:.1f},{y:.1f}")
    # A single minute draws as a dot: a line from the point to itself.
    return tuple(" ".join(run if len(run) > 1 else run * 2) for run in runs if run)


def route_charts(route: str, minutes: Sequence[dict[str, float | None]]) -> list[Chart]:
    charts = []
    for field, title in (
        ("new_share", "Share of requests served by new"),
        ("mismatch_rate", "Shadow mismatch rate"),
    ):
        values = [minute[field] for minute in minutes]
        known = [value for value in values if value is not None]
        charts.append(
            Chart(
                title=title,
                field=field,
                route=route,
                lines=lines(values),
                latest=known[-1] if known else None,
            )
        )
    return charts
