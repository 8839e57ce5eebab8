"""Celery tasks of the logistics context: thin entry points that load an id and call the service.

``create_shipment`` receives an order's hand-off from the legacy app's outbox: idempotent on the
order reference, so a message delivered twice creates one shipment; it enqueues the dispatch.

``dispatch_shipment`` is idempotent: a shipment already dispatched or cancelled is left alone,
and the supplier deduplicates on the shipment's idempotency key, so a redelivered message never
ships twice. Its retries back off with jitter and stay far below the broker's visibility
timeout; when they run out the shipment is still pending with its next attempt, and
``sweep_due_shipments`` (celery beat) enqueues it again, as it does for any shipment whose
task was lost.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from celery import Task, shared_task

from logistics.contracts import CREATE_SHIPMENT_TASK, CreateShipment
from logistics.domain import IllegalTransition, ShipmentNotFound, ShipmentStatus
from logistics.wiring import build_logistics_service
from outbox.reliability import backoff

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
    if outcome.dispatched or outcome.failure_kind == "rejected":
        return outcome.dispatched
    if self.request.retries >= (self.max_retries or 0):
        logger.warning("dispatch_left_to_the_sweep", shipment_id=shipment_id)
        return False
    raise self.retry(countdown=backoff(self.request.retries, base=5))


@shared_task(name="logistics.tasks.sweep_due_shipments")
def sweep_due_shipments(limit: int = 500) -> int:
    shipment_ids = build_logistics_service().due_shipment_ids(limit)
    for shipment_id in shipment_ids:
        dispatch_shipment.delay(str(shipment_id))
    if shipment_ids:
        logger.info("due_shipments_enqueued", count=len(shipment_ids))
    return len(shipment_ids)
