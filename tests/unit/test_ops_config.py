"""The observability config under ops/ agrees with itself, with the app's metrics and with compose.

Prometheus and Grafana read these files only under `docker compose --profile observability`, so a
renamed metric or a mistyped rule name would otherwise surface as an empty panel or an alert that
can never fire.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.metrics import (
    BROKER_PUBLISHES,
    CACHE_UNAVAILABLE,
    INVOICE_RENDER_SECONDS,
    LATENCY_BUCKETS,
    ORDER_PLACEMENT_SECONDS,
    ORDER_REQUEST_WAIT_SECONDS,
    ORDERS_FAILED,
    ORDERS_PLACED,
    OUTBOX_REPUBLISHED,
    OWED_WORK_HANDED_OVER,
    SUPPLIER_CALL_SECONDS,
    TASK_SECONDS,
)
from strangler import metrics as strangler_metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "ops" / "prometheus"
GRAFANA = ROOT / "ops" / "grafana"
SLO_RULES = PROMETHEUS / "rules" / "slo.yml"
ASYNC_RULES = PROMETHEUS / "rules" / "async.yml"
CACHE_RULES = PROMETHEUS / "rules" / "cache.yml"
LOGISTICS_RULES = PROMETHEUS / "rules" / "logistics.yml"
STRANGLER_RULES = PROMETHEUS / "rules" / "strangler.yml"
OWED_WORK_RULES = PROMETHEUS / "rules" / "owed_work.yml"
OWNERSHIP_RULES = PROMETHEUS / "rules" / "ownership.yml"
DASHBOARD = GRAFANA / "dashboards" / "monolithos.json"
RUNBOOK = ROOT / "docs" / "runbook.md"

# What every alert of a rules file must carry besides `severity`: the label that says what is
# wrong, and the runbook section to read. prometheus.yml loads every file in rules/, so every file
# needs an entry here, and a promtool unit test named after it under tests/.
ALERT_CONTRACT = {
    SLO_RULES: ("slo", "docs/runbook.md#phase-3-observability"),
    ASYNC_RULES: ("component", "docs/runbook.md#queue-backlog"),
    CACHE_RULES: ("component", "docs/runbook.md#cache-unavailable"),
    LOGISTICS_RULES: ("component", "docs/runbook.md#guarded-shipment-writes-and-claimed-sweeps"),
    STRANGLER_RULES: ("component", "docs/runbook.md#phase-5-traffic-shift"),
    OWED_WORK_RULES: ("component", "docs/runbook.md#redis-lost-its-data"),
    OWNERSHIP_RULES: ("component", "docs/runbook.md#phase-6-contract"),
}
RULE_FILES = sorted(ALERT_CONTRACT)

# Gauges that the scrape-time collectors (outbox.metrics.BacklogCollector,
# logistics.adapters.metrics.ShipmentAttentionCollector) compute. They are not prometheus_client
# metric objects, and the collectors need a database and a broker to yield them, so they are
# listed here by hand (a test checks that the collectors' modules still name them).
SCRAPE_TIME_COLLECTORS = (ROOT / "outbox" / "metrics.py", ROOT / "logistics/adapters/metrics.py")
SCRAPE_TIME_GAUGES = {
    "monolithos_outbox_backlog",
    "monolithos_outbox_oldest_age_seconds",
    "monolithos_failed_tasks",
    "monolithos_queue_depth",
    "monolithos_shipments_needing_attention",
    "monolithos_owed_work_past_lease",
    "monolithos_owed_work_oldest_age_seconds",
}

# The names Prometheus sees: histograms as _bucket/_sum/_count, counters as _total (the client
# keeps a counter's name without _total in ._name).
EXPOSED_NAMES = (
    {
        metric._name + suffix
        for metric in (
            ORDER_PLACEMENT_SECONDS,
            SUPPLIER_CALL_SECONDS,
            TASK_SECONDS,
            INVOICE_RENDER_SECONDS,
            ORDER_REQUEST_WAIT_SECONDS,
        )
        for suffix in ("_bucket", "_sum", "_count")
    }
    | {
        metric._name + "_total"
        for metric in (
            ORDERS_PLACED,
            ORDERS_FAILED,
            CACHE_UNAVAILABLE,
            BROKER_PUBLISHES,
            OUTBOX_REPUBLISHED,
            OWED_WORK_HANDED_OVER,
        )
    }
    | SCRAPE_TIME_GAUGES
    | {strangler_metrics.CANDIDATE_SECONDS._name + s for s in ("_bucket", "_sum", "_count")}
    | {
        metric._name + "_total"
        for metric in (
            strangler_metrics.REQUESTS,
            strangler_metrics.SHADOW_RESULTS,
            strangler_metrics.NEW_HANDLER_ERRORS,
            strangler_metrics.VERIFY_RESULTS,
        )
    }
    | {
        strangler_metrics.ROUTE_MODE,
        strangler_metrics.ROUTE_PERCENT,
        strangler_metrics.ROUTE_SAMPLE,
        strangler_metrics.KILL_SWITCH,
        strangler_metrics.STATE_VERSION,
        strangler_metrics.DATA_PHASE,
        *strangler_metrics.PARITY_GAUGES,
    }
)

APP_METRIC = re.compile(r"(?<![\w:])monolithos_\w+")
# Only recording rules have colons in their names (Prometheus naming convention level:metric:ops).
RECORDED_METRIC = re.compile(r"(?<![\w:])[a-zA-Z_]\w*:[\w:]+")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules(*paths: Path) -> list[dict[str, Any]]:
    """The rules of the given files, or of every rules file."""
    return [
        rule
        for path in paths or RULE_FILES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
    ]


def alerts(*paths: Path) -> list[dict[str, Any]]:
    return [rule for rule in rules(*paths) if "alert" in rule]


def dashboard() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return result


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]


def names_in(pattern: re.Pattern[str], exprs: list[str]) -> set[str]:
    # Label values may hold colons (view="monolithos:api_place_order"): drop strings first.
    return {name for expr in exprs for name in pattern.findall(re.sub(r'"[^"]*"', '""', expr))}


def compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = load_yaml(ROOT / "docker-compose.yml")["services"][name]
    return service


def github_anchor(heading: str) -> str:
    """GitHub's slug of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_every_rules_file_prometheus_loads_has_an_alert_contract():
    assert "rules/*.yml" in load_yaml(PROMETHEUS / "prometheus.yml")["rule_files"]
    assert sorted((PROMETHEUS / "rules").glob("*.yml")) == RULE_FILES


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda path: path.name)
def test_every_alert_has_a_severity_its_label_and_a_runbook_link_that_resolves(path):
    label, runbook_url = ALERT_CONTRACT[path]
    file_alerts = alerts(path)

    severities = {alert["labels"]["severity"] for alert in file_alerts}
    assert severities and severities <= {"page", "ticket"}
    for alert in file_alerts:
        assert alert["labels"][label], alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]
        assert alert["annotations"]["description"], alert["alert"]
        assert alert["annotations"]["runbook_url"] == runbook_url, alert["alert"]
        # The promtool tests compare annotations verbatim; a templated value ({{ $value }}) made
        # them flaky before.
        for name, value in alert["annotations"].items():
            assert "{{" not in value, (alert["alert"], name)
    # The anchor is GitHub's slug of the runbook heading; renaming the heading breaks the link.
    headings = [line for line in RUNBOOK.read_text().splitlines() if line.startswith("#")]
    assert runbook_url.partition("#")[2] in {github_anchor(heading) for heading in headings}


def test_github_anchor_slugs_a_heading_as_github_does():
    assert github_anchor("## Phase 3: Observability") == "phase-3-observability"
    assert github_anchor("### Queue backlog") == "queue-backlog"


def test_alerts_and_dashboard_use_only_recorded_series():
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    from_alerts = names_in(RECORDED_METRIC, [alert["expr"] for alert in alerts()])
    from_dashboard = names_in(RECORDED_METRIC, dashboard_exprs())

    assert from_alerts, "the alerts should build on the recording rules"
    assert from_alerts - recorded == set()
    assert from_dashboard - recorded == set()


def test_the_latency_slo_threshold_is_a_bucket_boundary_of_the_histogram():
    assert 0.5 in LATENCY_BUCKETS
    # An `le` that is not a boundary matches no series, and the latency SLI reads as 100% bad.
    thresholds = {
        float(value)
        for rule in rules(SLO_RULES)
        for value in re.findall(r'le="([^"]+)"', rule["expr"])
    }
    assert thresholds == {0.5}
    assert thresholds <= set(ORDER_PLACEMENT_SECONDS._upper_bounds)


@pytest.mark.parametrize("source", [*(path.name for path in RULE_FILES), "dashboard"])
def test_app_metric_names_are_the_ones_the_app_exposes(source):
    if source == "dashboard":
        exprs = dashboard_exprs()
    else:
        exprs = [rule["expr"] for rule in rules(PROMETHEUS / "rules" / source)]

    used = names_in(APP_METRIC, exprs)

    assert used
    assert used - EXPOSED_NAMES == set()


def test_the_scrape_time_gauges_are_the_ones_the_collectors_yield():
    # The collectors need a database and a broker, so read their source instead of running them.
    source = "".join(path.read_text() for path in SCRAPE_TIME_COLLECTORS)
    assert set(re.findall(r'"(monolithos_\w+)"', source)) == SCRAPE_TIME_GAUGES


def test_the_scrape_time_gauges_are_aggregated_with_max_across_instances():
    # Every web process serves the same numbers: a sum would count a backlog once per process.
    # The recording rules take the max; everything else reads the recorded series.
    for gauge in SCRAPE_TIME_GAUGES:
        exprs = [rule["expr"] for rule in rules() if gauge in names_in(APP_METRIC, [rule["expr"]])]
        assert exprs, gauge
        for expr in exprs:
            assert re.fullmatch(rf"max(?: by \(\w+\))? ?\({gauge}\)", expr.strip()), expr
        assert gauge not in names_in(APP_METRIC, dashboard_exprs()), gauge


def test_the_dashboard_queries_the_provisioned_prometheus_datasource():
    provisioned = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    (datasource,) = provisioned["datasources"]
    assert (datasource["uid"], datasource["url"]) == ("prometheus", "http://prometheus:9090")

    board = dashboard()
    assert (board["uid"], board["title"], board["schemaVersion"]) == (
        "monolithos",
        "Monolithos",
        39,
    )
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["type"] == "timeseries"
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus", panel["title"]
    # No two panels share a cell of Grafana's 24-column grid.
    cells = [
        (panel["id"], x, y)
        for panel in panels
        for x in range(panel["gridPos"]["x"], panel["gridPos"]["x"] + panel["gridPos"]["w"])
        for y in range(panel["gridPos"]["y"], panel["gridPos"]["y"] + panel["gridPos"]["h"])
    ]
    assert all(0 <= x < 24 for _, x, _ in cells)
    assert len({(x, y) for _, x, y in cells}) == len(cells)


def test_compose_mounts_the_ops_config_where_prometheus_and_grafana_read_it():
    prometheus, grafana = compose_service("prometheus"), compose_service("grafana")
    assert "./ops/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "./ops/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]

    # The dashboard provider reads the directory that compose mounts the JSON files at.
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "dashboards.yml")
    (provider,) = providers["providers"]
    assert f"./ops/grafana/dashboards:{provider['options']['path']}:ro" in grafana["volumes"]
    assert prometheus["profiles"] == grafana["profiles"] == ["observability"]


def test_only_web_and_worker_share_the_multiprocess_metrics_directory():
    for name in ("web", "worker"):
        service = compose_service(name)
        directory = service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert f"metrics:{directory}" in service["volumes"], name
        # The merge with x-app-env must keep the shared settings.
        assert service["environment"]["DJANGO_ENV"] == "production", name
    for name in ("migrate", "supplier"):
        assert "PROMETHEUS_MULTIPROC_DIR" not in compose_service(name).get("environment", {})


@pytest.fixture
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        # CI must run the rule tests; a developer machine without Prometheus may skip them.
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (Debian package `prometheus`)")
        pytest.skip("promtool is not installed")
    return path


def run(promtool: str, *args: str | Path) -> None:
    result = subprocess.run(
        [promtool, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_config_and_rules(promtool):
    run(promtool, "check", "config", PROMETHEUS / "prometheus.yml")
    run(promtool, "check", "rules", *RULE_FILES)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda path: path.name)
def test_promtool_rule_unit_tests_pass(promtool, path):
    tests = PROMETHEUS / "tests" / f"{path.stem}_test.yml"
    assert load_yaml(tests)["rule_files"] == [f"../rules/{path.name}"]
    run(promtool, "test", "rules", tests)


def test_the_dashboard_queries_are_valid_promql(promtool, tmp_path):
    # Grafana only reports a bad query when someone looks at the panel; promtool parses them now.
    exprs = [expr.replace("$__rate_interval", "1m") for expr in dashboard_exprs()]
    records = [{"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    rules_file = tmp_path / "dashboard.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))

    run(promtool, "check", "rules", rules_file)


def test_the_strangler_state_gauges_are_taken_with_max_across_instances():
    # Every process routes by a copy of one state: a sum would count a route once per process;
    # every process reads the same last parity run.
    gauges = {
        strangler_metrics.ROUTE_MODE,
        strangler_metrics.ROUTE_PERCENT,
        strangler_metrics.ROUTE_SAMPLE,
        strangler_metrics.KILL_SWITCH,
        strangler_metrics.DATA_PHASE,
        *strangler_metrics.PARITY_GAUGES,
    }
    for gauge in gauges:
        exprs = [rule["expr"] for rule in rules() if gauge in names_in(APP_METRIC, [rule["expr"]])]
        assert exprs, gauge
        for expr in exprs:
            assert re.fullmatch(rf"max(?: by \([\w, ]+\))? ?\({gauge}\)", expr.strip()), expr
        assert gauge not in names_in(APP_METRIC, dashboard_exprs()), gauge
