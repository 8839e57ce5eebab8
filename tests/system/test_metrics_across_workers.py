"""Two gunicorn workers, one /metrics: the counts sum over workers, not one worker's share."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.multiprocess import MultiProcessCollector

from tests.system.conftest import http, start_system

VIEW = "healthz"
RESPONSES = "django_http_responses_total_by_status_view_method_total"


def healthz_count(samples_source) -> float:
    return sum(  # type: ignore[no-any-return]
        sample.value
        for metric in samples_source
        for sample in metric.samples
        if sample.name == RESPONSES and sample.labels.get("view") == VIEW
    )


def per_worker_counts(metrics_dir: Path) -> dict[int, float]:
    """Each worker writes its own counter_<pid>.db: read them one by one."""
    counts: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        served = healthz_count(MultiProcessCollector.merge([str(path)]))
        if served:
            counts[pid] = counts.get(pid, 0) + served
    return counts


def test_metrics_add_up_over_two_worker_processes(tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()

    with start_system(
        tmp_path, workers=2, extra_env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    ) as system:
        # The start-up probe's requests: one, or more when the first was slower than its timeout.
        probes = sum(per_worker_counts(metrics_dir).values())
        assert probes >= 1
        sent = 0
        # Send bursts until both workers have served some (bounded: 10 bursts of 40).
        for _ in range(10):
            with ThreadPoolExecutor(max_workers=20) as pool:
                statuses = list(pool.map(lambda _: http(f"{system.web}/healthz")[0], range(40)))
            assert statuses == [200] * 40
            sent += 40
            if len(per_worker_counts(metrics_dir)) >= 2:
                break
        status, body = http(f"{system.web}/metrics")

    expected = sent + probes
    assert status == 200
    workers = per_worker_counts(metrics_dir)
    assert len(workers) == 2, f"only one worker served: {workers}"
    assert sum(workers.values()) == expected
    scraped = sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith(RESPONSES + "{") and f'view="{VIEW}"' in line
    )
    assert scraped == expected
