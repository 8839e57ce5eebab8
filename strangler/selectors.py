"""Reads of the strangler's state: the snapshot processes route by, and what the panel shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import router
from django.db.models import Count
from django.utils import timezone

from strangler import preconditions, registry
from strangler.models import (
    ModeChange,
    ParityRun,
    RouteMode,
    ShadowMismatch,
    StranglerState,
    TrafficMinute,
)
from strangler.modes import Mode, RouteState, Snapshot, describe, format_percent
from strangler.moved_data import moved_data
from strangler.phases import PHASES, Phase, next_phase, previous_phase

STATE_PK = 1


def state_row() -> StranglerState:
    """The switch's row; an unsaved one with the defaults before the first change (a read
    writes nothing)."""
    return StranglerState.objects.filter(pk=STATE_PK).first() or StranglerState(pk=STATE_PK)


def load_snapshot() -> Snapshot:
    """The state as stored: two small queries (the switch row, the route rows).

    Read where it is written: a replica's lag would delay a change, or the kill switch.
    """
    alias = router.db_for_write(StranglerState)
    state = (
        StranglerState.objects.using(alias)
        .filter(pk=STATE_PK)
        .values("version", "killed", "phase")
        .first()
    )
    rows = RouteMode.objects.using(alias).values(
        "route", "mode", "basis_points", "salt", "sample_points"
    )
    routes = {
        row["route"]: RouteState(
            Mode(row["mode"]), row["basis_points"], row["salt"], row["sample_points"]
        )
        for row in rows
    }
    if state is None:
        return Snapshot(version=0, killed=False, routes=routes)
    return Snapshot(
        version=state["version"],
        killed=state["killed"],
        routes=routes,
        phase=Phase(state["phase"]),
    )


def mismatch_counts(since: datetime) -> dict[str, int]:
    rows = (
        ShadowMismatch.objects.filter(created_at__gte=since)
        .values("route")
        .annotate(count=Count("id"))
        .values_list("route", "count")
    )
    return dict(rows)


def status(*, changes: int = 20) -> dict[str, Any]:
    """The whole picture as the ops panel and ``manage.py strangler status`` show it."""
    snapshot = load_snapshot()
    state = state_row()
    now = timezone.now()
    day_ago = now - timedelta(days=1)
    mismatches = mismatch_counts(day_ago)
    routes = []
    for name, route in registry.routes().items():
        configured = snapshot.configured(name)
        effective = snapshot.effective(name)
        routes.append(
            {
                "route": name,
                "kind": route.kind.value,
                "mode": configured.mode.value,
                "described": describe(
                    configured.mode, configured.basis_points, configured.sample_points
                ),
                "percent": format_percent(configured.basis_points),
                "sample_percent": format_percent(configured.sample_points),
                "effective_mode": effective.mode.value,
                "modes": sorted(mode.value for mode in route.modes),
                "mismatches_24h": mismatches.get(name, 0),
            }
        )
    return {
        "version": snapshot.version,
        "traffic": traffic(now=now),
        "kill_switch": {
            "engaged": state.killed,
            "changed_at": state.changed_at.isoformat() if state.changed_at else None,
            "changed_by": state.changed_by,
            "reason": state.reason,
        },
        "routes": routes,
        "phase": phase_status(snapshot=snapshot),
        "changes": [change_json(change) for change in ModeChange.objects.all()[:changes]],
    }


def phase_status(*, snapshot: Snapshot | None = None) -> dict[str, Any]:
    """The data ownership phase as the panel and ``manage.py strangler phase status`` show it:
    the phase, its last change, the last parity run's figures, the verify reads that disagreed
    in the last day, and the preconditions of the next phase (each: holds, found, risk)."""
    snapshot = snapshot or load_snapshot()
    now = timezone.now()
    phase = snapshot.phase
    following, preceding = next_phase(phase), previous_phase(phase)
    last_change = ModeChange.objects.filter(route=ModeChange.DATA_PHASE).first()
    run = preconditions.latest_run()
    checks = preconditions.for_step(following, snapshot=snapshot, now=now) if following else []
    day_ago = now - timedelta(days=1)
    return {
        "phase": phase.value,
        "phases": [p.value for p in PHASES],
        "next": following.value if following else None,
        "previous": preceding.value if preceding else None,
        "changed": change_json(last_change) if last_change else None,
        "parity": parity_json(run, now=now) if run else None,
        "verify_mismatches_24h": ShadowMismatch.objects.filter(
            route=ModeChange.DATA_PHASE, created_at__gte=day_ago
        ).count(),
        "next_preconditions": [check.as_json() for check in checks],
        "next_allowed": all(check.holds for check in checks),
        "restore_needed": moved_data().restore_needed(),
    }


def parity_json(run: ParityRun, *, now: datetime) -> dict[str, Any]:
    return {
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "age_seconds": round((now - run.finished_at).total_seconds(), 1),
        "phase": run.phase,
        "checked": run.checked,
        "mismatched": run.mismatched,
        "missing": run.missing,
        "clean": run.is_clean,
        "examples": list(run.examples),
    }


def change_json(change: ModeChange) -> dict[str, Any]:
    return {
        "at": change.at.isoformat(),
        "actor": change.actor,
        "via": change.via,
        "route": change.route,
        "from": change.from_mode,
        "from_percent": format_percent(change.from_basis_points),
        "to": change.to_mode,
        "to_percent": format_percent(change.to_basis_points),
        "from_sample_percent": format_percent(change.from_sample_points),
        "to_sample_percent": format_percent(change.to_sample_points),
        "change": change.change(),
        "reason": change.reason,
        "version": change.version,
        "forced": change.forced,
        "overridden": list(change.overridden),
    }


def recent_mismatches(route: str, *, limit: int = 20) -> list[ShadowMismatch]:
    return list(ShadowMismatch.objects.filter(route=route)[:limit])


# ---------------------------------------------------------------------- traffic

HOUR_MINUTES = 60
RECENT_MINUTES = 5


def traffic(*, now: datetime) -> dict[str, dict[str, Any]]:
    """Per route, from the stored counts (``strangler.traffic``, up to one flush behind):
    requests served by each side over the last 5 and 60 minutes (and the new side's share of
    the 60), the shadow comparisons and their mismatch rate over the last 60, and the hour
    minute by minute (oldest first, the current minute last): ``new_share`` and
    ``mismatch_rate`` in percent, None in a minute without requests (or without comparisons).
    One query."""
    current = now.replace(second=0, microsecond=0)
    minutes = [current - timedelta(minutes=back) for back in range(HOUR_MINUTES - 1, -1, -1)]
    rows = TrafficMinute.objects.filter(minute__gte=minutes[0]).values(
        "route", "minute", "legacy", "new", "compared", "mismatched"
    )
    by_route: dict[str, dict[datetime, dict[str, Any]]] = {}
    for row in rows:
        by_route.setdefault(row["route"], {})[row["minute"]] = dict(row)
    figures = {}
    for name in registry.routes():
        seen = by_route.get(name, {})
        hour = [seen.get(minute) for minute in minutes]
        recent = hour[-RECENT_MINUTES:]
        compared = _total(hour, "compared")
        mismatched = _total(hour, "mismatched")
        served = _total(hour, "legacy") + _total(hour, "new")
        figures[name] = {
            "served_5m": {"legacy": _total(recent, "legacy"), "new": _total(recent, "new")},
            "served_60m": {"legacy": _total(hour, "legacy"), "new": _total(hour, "new")},
            "new_share_60m": _rate(_total(hour, "new"), served),
            "compared_60m": compared,
            "mismatched_60m": mismatched,
            "mismatch_rate_60m": _rate(mismatched, compared),
            "minutes": [
                {
                    "minute": minute.isoformat(),
                    "new_share": _rate(row["new"], row["legacy"] + row["new"]) if row else None,
                    "mismatch_rate": _rate(row["mismatched"], row["compared"]) if row else None,
                }
                for minute, row in zip(minutes, hour, strict=True)
            ],
        }
    return figures


def _total(rows: list[dict[str, Any] | None], field: str) -> int:
    return sum(row[field] for row in rows if row)


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None
