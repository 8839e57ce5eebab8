"""Reads of the strangler's state: the snapshot processes route by, and what the panel shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import router
from django.db.models import Count
from django.utils import timezone

from strangler import preconditions, registry
from strangler.models import ModeChange, ParityRun, RouteMode, ShadowMismatch, StranglerState
from strangler.modes import Mode, RouteState, Snapshot, describe, format_percent
from strangler.moved_data import moved_data
from strangler.phases import PHASES, Phase, next_phase, previous_phase

STATE_PK = 1


def state_row() -> StranglerState:
    state, _ = StranglerState.objects.get_or_create(pk=STATE_PK)
    return state


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
    day_ago = timezone.now() - timedelta(days=1)
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
