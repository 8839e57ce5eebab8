"""Celery tasks of the logistics context: thin entry points that load an id and call the service.

``create_shipment`` receives an order's hand-off from the legacy app's outbox: idempotent on the
order reference, so a message delivered twice creates one shipment; it enqueues the dispatch.

``dispatch_shipment`` is idempotent: a shipment already dispatched or cancelled is left alone,
and the supplier deduplicates on the shipment's idempotency key, so a redelivered message never
ships twice. A failed dispatch leaves the shipment pending with its next attempt (the service's
backoff); the task retries then, with jitter, never further ahead than the broker's visibility
timeout allows. When its retries run out, ``sweep_due_shipments`` (celery beat) enqueues the
shipment again once it is overdue, as it does for any shipment whose task was lost.
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

logger = structlog.get_logger(__name__)


@shared_task(name=CREATE_SHIPMENT_TASK)
def create_shipment(shipment: dict[str, Any]) -> str:
    view = build_logistics_service(background=True).create_shipment(
        CreateShipment.model_validate(shipment)
    )
    if view.status == ShipmentStatus.PENDING:
        # If this publish is lost, the shipment is never-tried and the sweep picks it up.
        dispatch_shipment.delay(str(view.id))
    return str(view.id)


@shared_task(bind=True, name="logistics.tasks.dispatch_shipment", max_retries=6)
def dispatch_shipment(self: Task[[str], bool], shipment_id: str) -> bool:
    try:
        outcome = build_logistics_service(background=True).dispatch(uuid.UUID(shipment_id))
    except (IllegalTransition, ShipmentNotFound):
        return False  # dispatched, cancelled or gone meanwhile: nothing left to do
    except ShipmentChanged:
        # Still being changed by others after every re-read: still pending, the sweep
        # comes back to it; the supplier dedupes a second request on the idempotency key.
        logger.warning("dispatch_lost_every_write", shipment_id=shipment_id)
        return False
    next_attempt_at = outcome.shipment.next_attempt_at
    if outcome.dispatched or next_attempt_at is None:
        return outcome.dispatched  # dispatched, or rejected: a person decides
    # One schedule: the shipment's own next attempt (the service's backoff), plus jitter so
    # that shipments deferred together (an open breaker) do not come back together.
    until_due = (next_attempt_at - timezone.now()).total_seconds()
    jitter = random.uniform(0, settings.DISPATCH_RETRY_INITIAL_SECONDS)  # noqa: S311
    countdown = max(0.0, until_due) + jitter
    if self.request.retries >= (self.max_retries or 0) or (
        countdown > settings.CELERY_MAX_COUNTDOWN_SECONDS
    ):
        logger.warning("dispatch_left_to_the_sweep", shipment_id=shipment_id)
        return False
    raise self.retry(countdown=countdown)


@shared_task(name="logistics.tasks.sweep_due_shipments")
def sweep_due_shipments(limit: int | None = None) -> int:
    """Enqueue the shipments whose task was lost: due for longer than DISPATCH_LOST_AFTER_SECONDS.

    A shipment whose task is queued or waiting for its retry is due at most a few seconds
    before that task runs; one overdue for minutes has no task left (a lost message, retries
    spent, a deferral made outside any task). Each is claimed before it is enqueued, for
    DISPATCH_CLAIM_SECONDS: however many sweeps run at once, one enqueues it, and none again
    while its task may still wait in the queue. At most ``limit`` (DISPATCH_SWEEP_BATCH) per
    run, so a backlog (a backfill of history) reaches the workers and the supplier at a bounded
    rate instead of all at once.
    """
    shipment_ids = build_logistics_service().claim_due_shipments(
        limit or settings.DISPATCH_SWEEP_BATCH,
        overdue_by=timedelta(seconds=settings.DISPATCH_LOST_AFTER_SECONDS),
        lease=timedelta(seconds=settings.DISPATCH_CLAIM_SECONDS),
    )
    # Published after the claim committed: a publish that fails leaves a claim that expires,
    # and a later sweep enqueues the shipment then.
    for shipment_id in shipment_ids:
        dispatch_shipment.delay(str(shipment_id))
    if shipment_ids:
        logger.info("due_shipments_enqueued", count=len(shipment_ids))
    return len(shipment_ids)
