"""Celery tasks of the logistics context: thin entry points that load an id and call the service.

``dispatch_shipment`` is idempotent: a shipment already dispatched or cancelled is left alone,
and the supplier deduplicates on the shipment's idempotency key, so a redelivered message never
ships twice. Its retries back off with jitter and stay far below the broker's visibility
timeout; when they run out the shipment is still pending with its next attempt, and
``sweep_due_shipments`` (celery beat) enqueues it again, as it does for any shipment whose
task was lost.
"""

from __future__ import annotations

import random
import uuid

import structlog
from celery import Task, shared_task

from logistics.domain import IllegalTransition, ShipmentNotFound
from logistics.wiring import build_logistics_service

logger = structlog.get_logger(__name__)

MAX_COUNTDOWN_SECONDS = 600  # far below the Redis visibility timeout (3600 s)


@shared_task(bind=True, name="logistics.tasks.dispatch_shipment", max_retries=6)
def dispatch_shipment(self: Task[[str], bool], shipment_id: str) -> bool:
    try:
        outcome = build_logistics_service(background=True).dispatch(uuid.UUID(shipment_id))
    except (IllegalTransition, ShipmentNotFound):
        return False  # dispatched, cancelled or gone meanwhile: nothing left to do
    if outcome.dispatched or outcome.failure_kind == "rejected":
        return outcome.dispatched
    if self.request.retries >= (self.max_retries or 0):
        logger.warning("dispatch_left_to_the_sweep", shipment_id=shipment_id)
        return False
    backoff = min(MAX_COUNTDOWN_SECONDS, 5 * 2**self.request.retries)
    raise self.retry(countdown=random.uniform(0, backoff))  # noqa: S311  (jitter)


@shared_task(name="logistics.tasks.sweep_due_shipments")
def sweep_due_shipments(limit: int = 500) -> int:
    shipment_ids = build_logistics_service().due_shipment_ids(limit)
    for shipment_id in shipment_ids:
        dispatch_shipment.delay(str(shipment_id))
    if shipment_ids:
        logger.info("due_shipments_enqueued", count=len(shipment_ids))
    return len(shipment_ids)
