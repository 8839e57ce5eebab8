"""Reads of the strangler's state: the snapshot processes route by, and what the panel shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import router
from django.db.models import Count
from django.utils import timezone

from strangler import registry
from strangler.models import ModeChange, RouteMode, ShadowMismatch, StranglerState
from strangler.modes import Mode, RouteState, Snapshot, describe, format_percent

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
        StranglerState.objects.using(alias).filter(pk=STATE_PK).values("version", "killed").first()
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
    return Snapshot(version=state["version"], killed=state["killed"], routes=routes)


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
        "changes": [change_json(change) for change in ModeChange.objects.all()[:changes]],
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
    }


def recent_mismatches(route: str, *, limit: int = 20) -> list[ShadowMismatch]:
    return list(ShadowMismatch.objects.filter(route=route)[:limit])
