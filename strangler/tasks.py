"""Celery tasks of the strangler: the retention of mismatches and traffic counts, the parity
job of the moved data, and what a worker routes by."""

from __future__ import annotations

from typing import Any

import structlog
from celery import shared_task
from django.conf import settings

from strangler import services, wiring

logger = structlog.get_logger(__name__)


@shared_task(name="strangler.tasks.purge_mismatches")
def purge_mismatches() -> int:
    """Delete shadow mismatches older than STRANGLER_MISMATCH_RETENTION_DAYS (beat, hourly)."""
    purged = services.purge_mismatches(older_than_days=settings.STRANGLER_MISMATCH_RETENTION_DAYS)
    if purged:
        logger.info("strangler_mismatches_purged", count=purged)
    return purged


@shared_task(name="strangler.tasks.purge_traffic")
def purge_traffic() -> int:
    """Delete traffic minutes older than STRANGLER_TRAFFIC_RETENTION_HOURS (beat, hourly)."""
    purged = services.purge_traffic(older_than_hours=settings.STRANGLER_TRAFFIC_RETENTION_HOURS)
    if purged:
        logger.info("strangler_traffic_purged", count=purged)
    return purged


@shared_task(name="strangler.tasks.check_parity")
def check_parity() -> dict[str, Any] | None:
    """Compare every row of the moved data, legacy copy against new owner, and record the
    figures (beat, every STRANGLER_PARITY_SECONDS); nothing in ``contract``."""
    run = services.run_parity()
    if run is None:
        return None
    return {"checked": run.checked, "mismatched": run.mismatched, "missing": run.missing}


@shared_task(name="strangler.tasks.routing_state")
def routing_state() -> dict[str, Any]:
    """The state this worker process routes by: its version and each route's effective mode."""
    snapshot = wiring.store().snapshot()
    state = {
        "version": snapshot.version,
        "killed": snapshot.killed,
        "routes": {name: state.mode.value for name, state in snapshot.routes.items()},
        "phase": snapshot.phase.value,
    }
    logger.info("strangler_routing_state", **state)
    return state
