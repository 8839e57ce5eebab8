"""Report helpers: a herd's intake line, a target's verdict line, and what the processes
logged (warnings and errors by event) and measured (their Prometheus histograms).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.harness.client import Herd, percentile


def intake_line(label: str, herd: Herd, status: int, n: int) -> str:
    latencies = herd.latencies_ms()
    return (
        f"  {label:<26}{len(herd.accepted(status)):>5}/{n:<5}{herd.wall_s:>8.2f} s"
        f"{herd.throughput(status):>9.1f}/s{percentile(latencies, 50):>9.0f}"
        f"{percentile(latencies, 95):>8.0f}{percentile(latencies, 99):>8.0f}"
        f"{(latencies[-1] if latencies else 0):>8.0f}"
    )


def target_line(label: str, ratio: float, limit: float, at_least: bool) -> str:
    met = ratio >= limit if at_least else ratio <= limit
    sign = ">=" if at_least else "<="
    return f"  {label:<44}{ratio:>7.2f}  ({sign} {limit})  {'PASS' if met else 'MISS'}"


def read_log_events(directory: Path, names: Sequence[str]) -> dict[str, int]:
    """Warnings and errors the system's processes logged, by event, most frequent first."""
    # structlog's console lines ("[warning  ] event"), gunicorn's ("[ERROR]"), Celery's ("ERROR/").
    pattern = re.compile(
        r"\[(warning|error|critical)\s*\]\s+(\S+)|\[(WARNING|ERROR|CRITICAL)\]|(WARNING|ERROR)/"
    )
    counts: Counter[str] = Counter()
    for name in names:
        path = directory / f"{name}.log"
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            found = pattern.search(line)
            if found is None:
                continue
            counts[found.group(2) or f"({name}) {found.group(3) or found.group(4)}"] += 1
    return dict(counts.most_common(8))


def read_metrics(directory: Path) -> dict[str, tuple[float, float]]:
    """Counts and sums of the workers' histograms (Prometheus multiprocess files)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    totals: dict[str, list[float]] = {}
    for family in registry.collect():
        for sample in family.samples:
            if family.name == "monolithos_invoice_render_seconds":
                if sample.labels.get("where") != "worker":
                    continue
                name = "renders"
            elif family.name == "monolithos_task_seconds":
                task = sample.labels.get("task", "?").rsplit(".", 1)[-1]
                name = f"task {task} {sample.labels.get('state', '?')}"
            elif family.name == "monolithos_order_placement_seconds":
                if sample.labels.get("side") != "new":
                    continue
                name = f"placement {sample.labels.get('outcome', '?')}"
            elif family.name == "monolithos_order_request_wait_seconds":
                name = "request wait"
            else:
                continue
            if sample.name.endswith("_count"):
                totals.setdefault(name, [0.0, 0.0])[0] += sample.value
            elif sample.name.endswith("_sum"):
                totals.setdefault(name, [0.0, 0.0])[1] += sample.value
    return {name: (count, total) for name, (count, total) in sorted(totals.items())}
