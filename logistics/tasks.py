"""Celery tasks of the logistics context: thin entry points that load an id and call the service.

``create_shipment`` receives an order's hand-off from the legacy app's outbox: idempotent on the
order reference, so a message delivered twice creates one shipment; it enqueues the dispatch.

``dispatch_shipment`` is idempotent: a shipment already dispatched or cancelled is left alone,
and the supplier deduplicates on the shipment's idempotency key, so a redelivered message never
ships twice. A failed dispatch leaves the shipment pending with its next attempt (the service's
backoff); the task retries then, with jitter, never further ahead than the broker's visibility
timeout allows. Every dispatch task holds a lease on its shipment; when its retries run out, or
the task is lost with the broker or a killed worker, ``sweep_due_shipments`` (celery beat)
enqueues the shipment again once it is due and no lease holds it (docs/adr/0019).
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import structlog
from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from logistics.contracts import CREATE_SHIPMENT_TASK, CreateShipment
from logistics.domain import (
    IllegalTransition,
    ShipmentChanged,
    ShipmentNotFound,
    ShipmentStatus,
)
from logistics.wiring import build_logistics_service
from outbox import broker

logger = structlog.get_logger(__name__)


@shared_task(name=CREATE_SHIPMENT_TASK)
def create_shipment(shipment: dict[str, Any]) -> str:
    view = build_logistics_service(background=True).create_shipment(
        CreateShipment.model_validate(shipment)
    )
    if view.status == ShipmentStatus.PENDING:
        # Its creation holds it for one lease: if this publish is lost, the shipment is never
        # tried, and the sweep hands it over once that lease has passed.
        dispatch_shipment.delay(str(view.id))
    return str(view.id)


DISPATCH_TASK = "logistics.tasks.dispatch_shipment"


def _claim_lease() -> timedelta:
    return timedelta(seconds=settings.DISPATCH_CLAIM_SECONDS)


class DispatchDeferred(Exception):
    """Why a dispatch was put off (the supplier failed, the breaker refused): the retry's cause.

    Expected and handled, so the task's ``task_retrying`` line says it in one line, no traceback.
    """


@shared_task(bind=True, name=DISPATCH_TASK, max_retries=6)
def dispatch_shipment(self: Task[[str], bool], shipment_id: str) -> bool:
    structlog.contextvars.bind_contextvars(shipment_id=shipment_id)
    service = build_logistics_service(background=True)
    shipment = uuid.UUID(shipment_id)
    # Running: no sweep hands it over again before the hard time limit has killed this run.
    service.lease_dispatch(shipment, timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT))
    try:
        outcome = service.dispatch(shipment)
    except (IllegalTransition, ShipmentNotFound):
        return False  # dispatched, cancelled or gone meanwhile: nothing left to do
    except ShipmentChanged:
        # Still being changed by others after every re-read: still pending, the sweep
        # comes back to it; the supplier dedupes a second request on the idempotency key.
        logger.warning("dispatch_lost_every_write")
        service.lease_dispatch(shipment, None)
        return False
    next_attempt_at = outcome.shipment.next_attempt_at
    if outcome.dispatched or next_attempt_at is None:
        return outcome.dispatched  # dispatched, or rejected: a person decides
    reason = outcome.shipment.last_error or outcome.failure_kind or "not dispatched"
    # One schedule: the shipment's own next attempt (the service's backoff), plus jitter so
    # that shipments deferred together (an open breaker) do not come back together; at most
    # the delay itself, so a backoff of a second is not stretched to ten (docs/adr/0026).
    until_due = (next_attempt_at - timezone.now()).total_seconds()
    spread = min(settings.DISPATCH_RETRY_INITIAL_SECONDS, max(until_due, 1.0))
    jitter = random.uniform(0, spread)  # noqa: S311
    countdown = max(0.0, until_due) + jitter
    if self.request.retries >= (self.max_retries or 0) or (
        countdown > settings.CELERY_MAX_COUNTDOWN_SECONDS
    ):
        logger.warning("dispatch_left_to_the_sweep", reason=reason)
        service.lease_dispatch(shipment, None)
        return False
    # The retry is held for its countdown and one lease: lost with its worker or the broker, a
    # sweep hands it over again that long after it was due.
    service.lease_dispatch(
        shipment, timedelta(seconds=countdown) + _claim_lease(), handed_over=True
    )
    raise self.retry(countdown=countdown, exc=DispatchDeferred(reason))


@shared_task(name="logistics.tasks.sweep_due_shipments")
def sweep_due_shipments(limit: int | None = None) -> int:
    """Enqueue the shipments whose dispatch task was lost (docs/adr/0019).

    Every dispatch task holds a lease on its shipment: its creation's (DISPATCH_CLAIM_SECONDS),
    a sweep's (the same), a retry's (its countdown plus that), a running task's (the hard time
    limit). A pending shipment due with no lease left has no task: lost with the broker's data
    or a killed worker, its retries spent, or a deferral made outside any task. One handed over
    after the oldest task still waiting in the ``logistics`` queue was sent may be waiting behind
    it (a herd) and is left alone. Each is claimed before it is enqueued: however many sweeps
    run at once, one enqueues it. At most ``limit`` (DISPATCH_SWEEP_BATCH) per run, so a
    backlog (a backfill of history) reaches the workers and the supplier at a bounded rate.
    """
    try:
        queued_since = broker.left_behind(broker.queue_head(broker.queue_of(DISPATCH_TASK)))
    except broker.BrokerUnavailable:
        return 0  # nothing can be handed over now; the leases keep until it answers again
    shipment_ids = build_logistics_service().claim_due_shipments(
        limit or settings.DISPATCH_SWEEP_BATCH, lease=_claim_lease(), queued_since=queued_since
    )
    # Published after the claim committed: a publish that fails leaves a claim that expires,
    # and a later sweep enqueues the shipment then.
    for shipment_id in shipment_ids:
        dispatch_shipment.delay(str(shipment_id))
    if shipment_ids:
        logger.info("due_shipments_enqueued", count=len(shipment_ids))
    return len(shipment_ids)
