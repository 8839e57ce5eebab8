"""The strangler's metrics: part of the operations contract (ops/prometheus, ops/grafana).

Requests by route, side and status; shadow comparisons by route and result; the candidates'
latency; new handlers that raised; verify reads of the moved data by reader and result. The
current mode and percentage of each route, the kill switch and the data phase are read at
scrape time from the serving process's copy of the state (every process holds the same one
within a second), so they bypass the multiprocess files; the last parity run's figures are read
from the database at scrape time, the same in every process.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from observability.metrics import LATENCY_BUCKETS, register_scrape_collector
from strangler.modes import Mode
from strangler.phases import Phase

logger = structlog.get_logger(__name__)

REQUESTS = Counter(
    "monolithos_strangler_requests",
    "Requests to strangled routes, by route, the side that answered (legacy, new) and status.",
    ["route", "side", "status"],
)
SHADOW_RESULTS = Counter(
    "monolithos_strangler_shadow_results",
    "Shadow comparisons by route and result (match, mismatch, error, timeout, skipped: no room "
    "in the pool), and requests outside the route's sample (unsampled: no candidate ran).",
    ["route", "result"],
)
CANDIDATE_SECONDS = Histogram(
    "monolithos_strangler_candidate_seconds",
    "Run time of shadow candidates (the new handler beside the legacy one), by route.",
    ["route"],
    buckets=(0.001, 0.0025, *LATENCY_BUCKETS),
)
NEW_HANDLER_ERRORS = Counter(
    "monolithos_strangler_new_handler_errors",
    "New handlers that raised while serving a request (canary or new), by route and whether "
    "legacy answered instead (fallback: true) or the route's error did.",
    ["route", "fallback"],
)

VERIFY_RESULTS = Counter(
    "monolithos_strangler_verify_results",
    "Reads of the moved data in the verify phase, answered from the legacy copy and compared "
    "with the new owner's answer, by reader and result (match, mismatch, error: the new owner "
    "could not answer).",
    ["reader", "result"],
)

ROUTE_MODE = "monolithos_strangler_route_mode"
ROUTE_PERCENT = "monolithos_strangler_route_percent"
ROUTE_SAMPLE = "monolithos_strangler_route_sample_percent"
KILL_SWITCH = "monolithos_strangler_kill_switch"
STATE_VERSION = "monolithos_strangler_state_version"
DATA_PHASE = "monolithos_strangler_data_phase"
PARITY_CHECKED = "monolithos_strangler_parity_checked"
PARITY_MISMATCHED = "monolithos_strangler_parity_mismatched"
PARITY_MISSING = "monolithos_strangler_parity_missing"
PARITY_AGE = "monolithos_strangler_parity_age_seconds"
PARITY_GAUGES = (PARITY_CHECKED, PARITY_MISMATCHED, PARITY_MISSING, PARITY_AGE)


class StateCollector(Collector):
    """Each route's configured mode (1 for its mode, 0 for the others), canary percentage and
    shadow sample, the kill switch and the state's version, as this process routes by them."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from strangler import registry, wiring

        snapshot = wiring.store().snapshot()
        modes = GaugeMetricFamily(
            ROUTE_MODE, "The route's configured mode (1) among all modes.", labels=["route", "mode"]
        )
        percent = GaugeMetricFamily(
            ROUTE_PERCENT,
            "The share of routing keys the route sends to new, in percent.",
            labels=["route"],
        )
        sample = GaugeMetricFamily(
            ROUTE_SAMPLE,
            "The share of routing keys whose requests run the shadow candidate, in percent "
            "(0 outside shadow mode).",
            labels=["route"],
        )
        for name in registry.routes():
            state = snapshot.configured(name)
            for mode in Mode:
                modes.add_metric([name, mode.value], 1.0 if state.mode is mode else 0.0)
            share = {Mode.CANARY: state.basis_points / 100, Mode.NEW: 100.0}.get(state.mode, 0.0)
            percent.add_metric([name], share)
            shadowed = state.sample_points / 100 if state.mode is Mode.SHADOW else 0.0
            sample.add_metric([name], shadowed)
        yield modes
        yield percent
        yield sample
        yield GaugeMetricFamily(
            KILL_SWITCH,
            "1 while the kill switch sends every route to legacy.",
            value=snapshot.killed,
        )
        yield GaugeMetricFamily(
            STATE_VERSION,
            "The version of the state this process routes by.",
            value=snapshot.version,
        )
        phases = GaugeMetricFamily(
            DATA_PHASE,
            "The data ownership phase (1) among all phases, as this process reads it.",
            labels=["phase"],
        )
        for phase in Phase:
            phases.add_metric([phase.value], 1.0 if snapshot.phase is phase else 0.0)
        yield phases


class ParityCollector(Collector):
    """The last parity run's figures and age (one query); nothing before the first run."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from strangler.models import ParityRun

        try:
            run = ParityRun.objects.first()
        except Exception:
            logger.warning("strangler_parity_metrics_unavailable", exc_info=True)
            return
        if run is None:
            return
        yield GaugeMetricFamily(
            PARITY_CHECKED, "Rows the last parity run compared.", value=run.checked
        )
        yield GaugeMetricFamily(
            PARITY_MISMATCHED,
            "Rows whose legacy copy and new owner disagreed in the last parity run.",
            value=run.mismatched,
        )
        yield GaugeMetricFamily(
            PARITY_MISSING,
            "Rows missing at the new owner in the last parity run (the backfill is incomplete).",
            value=run.missing,
        )
        yield GaugeMetricFamily(
            PARITY_AGE,
            "Seconds since the last parity run finished.",
            value=(timezone.now() - run.finished_at).total_seconds(),
        )


def register_state_collector() -> None:
    register_scrape_collector(StateCollector())
    register_scrape_collector(ParityCollector())
