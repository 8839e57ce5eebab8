"""Celery tasks of the legacy app: order requests placed by the intake worker, invoice PDFs
rendered by a worker, off the request path, and the beat's sweeps and purge.

``place_order_request`` places what ``POST /api/v1/orders/`` accepted (``monolithos.intake``),
once: the request's row is locked and its outcome recorded with the order, so a redelivered
message finds it processed. ``purge_order_requests`` deletes processed requests past the keys'
retention.

The sweeps find, by a query on the database, the work whose hand-over was lost and that no
outbox message asks for any more, and give it to the outbox, which follows it to its end
(docs/adr/0015): ``sweep_order_requests`` (requests not placed within their lease),
``sweep_orders_without_shipment`` and ``sweep_pending_invoices`` (``monolithos.handoffs``).

``apply_shipment_event`` receives what happened to a shipment (``logistics.public``'s
``ShipmentEvent``, recorded in the outbox on ``logistics`` with the change itself) and applies it
to the order's shipping columns through their one writer (``monolithos.shipping_columns``):
idempotent and order-proof by the shipment's version (docs/adr/0021).

``render_invoice`` is a thin entry point: it loads an id and calls
``monolithos.invoicing.render_invoice``. It is idempotent, one PDF per invoice version: a run
for an invoice whose version is already recorded (and whose file exists) does nothing. The
version is recorded only after the file is stored, so a message delivered again after its worker
was killed (SIGKILL, the out-of-memory killer: late acknowledgement redelivers it) renders again
only if the first run did not get as far as recording its version; ``outbox.reliability`` caps
such redeliveries. Errors are retried with jittered backoff; once the retries are spent the task
fails and is recorded as a failed task. The settings route it to the ``invoices`` queue, so a
flood of renders never delays a dispatch or a mail.

It imports the services (intake, invoicing, handoffs) and the models only. The layers below
it never import it: the new intake enqueues it by name through the outbox, the legacy download
view imports it.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery import Task, shared_task

from logistics.public import ShipmentEvent
from monolithos import handoffs, intake, invoicing, shipping_columns
from monolithos.models import Invoice
from monolithos.shipping_columns import Applied
from observability.metrics import OWED_WORK_HANDED_OVER, SHIPMENT_EVENTS
from outbox.reliability import backoff

logger = structlog.get_logger(__name__)

# About 4 minutes on average (8.5 at most) of retries, doubling, for an order to appear.
ORDER_WAIT_RETRIES = 8


class OrderMissing(LookupError):
    """A shipment's event names an order that is not on ``default``."""


@shared_task(
    bind=True, name="monolithos.tasks.apply_shipment_event", max_retries=ORDER_WAIT_RETRIES
)
def apply_shipment_event(self: Task[[dict[str, Any]], str], event: dict[str, Any]) -> str:
    """Apply a shipment's event to its order's columns; what it did (``Applied``).

    A late or repeated event changes nothing (its version is not newer than the columns'). One
    whose order is not there is not dropped: it is retried with backoff for a while (whatever
    committed the shipment before its order), and then fails for good, with the order's number,
    into the failed-task table, where it waits for a person (run it again once the order
    exists).
    """
    shipment_event = ShipmentEvent.model_validate(event)
    shipment = shipment_event.shipment
    applied = shipping_columns.apply(shipment)
    SHIPMENT_EVENTS.labels(kind=shipment_event.kind, outcome=applied).inc()
    if applied is Applied.NO_ORDER:
        logger.warning(
            "shipment_event_without_order",
            order=shipment.order_ref,
            version=shipment.version,
            retries=self.request.retries,
        )
        missing = OrderMissing(
            f"no order {shipment.order_ref} for the shipment's {shipment_event.kind} event "
            f"(version {shipment.version})"
        )
        raise self.retry(exc=missing, countdown=backoff(self.request.retries, base=2))
    return applied.value


@shared_task(bind=True, name="monolithos.tasks.render_invoice", max_retries=5)
def render_invoice(self: Task[[int], bool], invoice_id: int) -> bool:
    """Render the PDF an invoice owes; False when nothing was owed or the invoice is gone."""
    number = Invoice.objects.filter(pk=invoice_id).values_list("number", flat=True).first()
    if number is None:
        logger.warning("invoice_render_skipped", invoice_id=invoice_id, reason="not_found")
        return False
    started = time.perf_counter()
    try:
        rendered = invoicing.render_invoice(invoice_id, where="worker")
    except Invoice.DoesNotExist:
        logger.warning("invoice_render_skipped", invoice_id=invoice_id, reason="not_found")
        return False
    except Exception as exc:
        logger.warning(
            "invoice_render_failed", invoice=number, retries=self.request.retries, exc_info=True
        )
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, base=10)) from exc
    if rendered:
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        logger.info("invoice_rendered", invoice=number, duration_ms=duration_ms)
    return rendered


@shared_task(bind=True, name=intake.PLACE_TASK, max_retries=5)
def place_order_request(self: Task[[int], str | None], request_id: int) -> str | None:
    """Place an accepted order request; its status afterwards, None when it is gone.

    A rejection is an outcome, not an error; an error (the database away) is retried with
    jittered backoff, and recorded as a failed task once the retries are spent.
    """
    try:
        request = intake.place(request_id)
    except Exception as exc:
        logger.warning(
            "order_request_placement_failed", request=request_id, retries=self.request.retries
        )
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, base=2)) from exc
    if request is None:
        logger.warning("order_request_skipped", request=request_id, reason="not_found")
        return None
    return request.status


@shared_task(name="monolithos.tasks.sweep_order_requests")
def sweep_order_requests(limit: int = 500) -> int:
    """Hand to the outbox the requests whose hand-over was lost (beat, intake.waiting_too_long).

    Each under the trace id of the request that accepted it. One handed over twice is placed
    once.
    """
    waiting = intake.waiting_too_long(limit)
    if waiting:
        intake.hand_over_again(waiting)
        OWED_WORK_HANDED_OVER.labels(kind="order_request").inc(len(waiting))
        logger.warning("order_requests_handed_over_again", count=len(waiting))
    return len(waiting)


@shared_task(name="monolithos.tasks.sweep_orders_without_shipment")
def sweep_orders_without_shipment(limit: int = 500) -> int:
    """Hand over again the shipment of each order that has none and no message asking for it."""
    orders = handoffs.orders_without_shipment(limit)
    if orders:
        handoffs.hand_shipments_over_again(orders)
        logger.warning(
            "orders_without_shipment_handed_over_again",
            count=len(orders),
            orders=[order.number for order in orders[:20]],
        )
    return len(orders)


@shared_task(name="monolithos.tasks.purge_order_requests")
def purge_order_requests() -> int:
    """Delete requests processed longer than IDEMPOTENCY_KEY_TTL_HOURS ago (beat, hourly)."""
    purged = intake.purge_expired()
    if purged:
        logger.info("order_requests_purged", count=purged)
    return purged


@shared_task(name="monolithos.tasks.sweep_pending_invoices")
def sweep_pending_invoices(limit: int = 500) -> int:
    """Hand over again the renders owed with no message asking for them (beat).

    The outbox follows each render it handed over to its end; this covers an invoice whose
    message is done or was never recorded (the legacy path renders in its request). A render
    handed over twice is done once.
    """
    invoices = handoffs.invoices_not_rendered(limit)
    if invoices:
        handoffs.hand_renders_over_again(invoices)
        logger.warning("pending_invoices_handed_over_again", count=len(invoices))
    return len(invoices)
