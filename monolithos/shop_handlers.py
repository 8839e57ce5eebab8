"""The new handlers of the web shop's four JSON routes: the legacy contract, on new code.

Same URLs, methods, status codes, bodies and error messages as ``monolithos.views``' JSON
endpoints (the characterization suite runs against both), except where work moved to the
workers, declared per route in the strangler's comparators and in the runbook's deprecation
table:

- ``place_order`` records the order with its hand-offs (``monolithos.deferred_placement``) and
  answers 201 at once: the shipment is not dispatched yet (``status`` placed,
  ``shipping_status`` pending, no tracking number or supplier reference).
- ``track_order`` reads the shipment through the logistics facade (``logistics.public``), not
  the order's columns; an order from before the backfill has only its columns to go by, in the
  data phases that still read them (``monolithos.shipping_data``).
- ``ship_order`` hands the dispatch to the logistics worker through the outbox and answers 202
  with the order as it is; a cancelled or already shipped order is refused with the legacy 400.
  The supplier's answer reaches the order's columns when the worker has it.
- ``invoice_pdf`` never renders in the request: the worker's file, or 202 with Retry-After
  while a render is owed (one is enqueued when the file was lost).

None of them imports ``monolithos.order_manager`` (an import-linter contract).
"""

from __future__ import annotations

import json

from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from logistics.public import (
    CREATE_SHIPMENT_TASK,
    LogisticsService,
    ShipmentNotFound,
    ShipmentStatus,
    ShipmentView,
    build_logistics_service,
)
from monolithos import deferred_placement, placement, shipping_columns, shipping_data
from monolithos.invoicing import invoice_pdf_exists
from monolithos.models import Invoice, Order
from monolithos.placement import RENDER_INVOICE_TASK, OrderError
from monolithos.shop_bodies import error_body, order_body, tracking_body
from outbox.messages import Message, publish

RETRY_AFTER_SECONDS = 5
SHIPPED = (ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED)


def _logistics() -> LogisticsService:
    return build_logistics_service()


def _order(order_id: int) -> Order | None:
    return Order.objects.select_related("customer").filter(pk=order_id).first()


def _not_found() -> JsonResponse:
    return JsonResponse(error_body("order not found"), status=404)


@csrf_exempt
@require_POST
def place_order(request: HttpRequest) -> HttpResponse:
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):
        return JsonResponse(error_body("malformed JSON"), status=400)
    try:
        order = deferred_placement.place(data)
    except OrderError as error:
        return JsonResponse(error_body(str(error)), status=400)
    return JsonResponse(order_body(order), status=201)


@require_GET
def track_order(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(order_id)
    if order is None:
        return _not_found()
    logistics = _logistics()
    try:
        shipment = logistics.get_for_order(str(order.number))
    except ShipmentNotFound:
        # An order from before the backfill: its columns are all there is, where the data phase
        # still reads them; else its shipment is not created yet.
        shipping = shipping_data.read(
            order, reader="shop_handlers.track_order", logistics=logistics
        )
        reference = shipping.supplier_reference or None
        return JsonResponse(
            tracking_body(
                order=order,
                status=order.status,
                shipping_status=shipping.shipping_status,
                tracking_number=shipping.tracking_number,
                supplier_reference=reference,
                dispatched_at=shipping.dispatched_at,
                supplier_status=logistics.supplier_status(reference) if reference else None,
            )
        )
    reference = shipment.supplier_reference
    return JsonResponse(
        tracking_body(
            order=order,
            status=_order_status(order, shipment),
            shipping_status=shipping_columns.legacy_shipping_status(shipment),
            tracking_number=shipment.tracking_number,
            supplier_reference=reference,
            dispatched_at=shipment.dispatched_at,
            supplier_status=logistics.supplier_status(reference) if reference else None,
        )
    )


def _order_status(order: Order, shipment: ShipmentView) -> str:
    """The legacy order status the shipment implies: a dispatch ships a placed order."""
    if order.status != "cancelled" and shipment.status in SHIPPED:
        return "shipped"
    return str(order.status)


@csrf_exempt
@require_POST
def ship_order(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(order_id)
    if order is None:
        return _not_found()
    logistics = _logistics()
    try:
        shipment: ShipmentView | None = logistics.get_for_order(str(order.number))
    except ShipmentNotFound:
        shipment = None  # created by the worker from the command below
    cancelled = shipment is not None and shipment.status is ShipmentStatus.CANCELLED
    if order.status == "cancelled" or cancelled:
        return JsonResponse(error_body(f"order {order.number} is cancelled"), status=400)
    shipping = shipping_data.read(order, reader="shop_handlers.ship_order", logistics=logistics)
    if shipping.shipping_status == "dispatched" or (
        shipment is not None and shipment.status in SHIPPED
    ):
        return JsonResponse(error_body(f"order {order.number} is already shipped"), status=400)
    with transaction.atomic():
        # One hand-off per version of the order's shipping state: pressing "ship" twice before
        # the worker ran sends one; pressing it after a failed attempt sends another.
        publish(
            Message(
                task=CREATE_SHIPMENT_TASK,
                key=f"shipment:{order.number}:ship:v{shipping.version}",
                kwargs={"shipment": placement.shipment_command(order).model_dump(mode="json")},
            )
        )
    return JsonResponse(order_body(order), status=202)


@require_GET
def invoice_pdf(request: HttpRequest, order_id: int) -> HttpResponseBase:
    order = _order(order_id)
    if order is None:
        return _not_found()
    invoice = Invoice.objects.filter(order=order).first()
    if invoice is None:
        return JsonResponse(error_body("invoice not found"), status=404)
    if invoice.render_pending:
        return _come_back_later()
    if not invoice_pdf_exists(invoice):
        # The file of a rendered version was lost: the worker renders it again. One hand-off a
        # minute at most, however often the client asks meanwhile.
        minute = timezone.now().strftime("%Y%m%d%H%M")
        with transaction.atomic():
            publish(
                Message(
                    task=RENDER_INVOICE_TASK,
                    key=f"invoice:{invoice.number}:v{invoice.version}:lost:{minute}",
                    kwargs={"invoice_id": invoice.pk},
                )
            )
        return _come_back_later()
    return FileResponse(
        invoice.pdf.open("rb"), content_type="application/pdf", filename=f"{invoice.number}.pdf"
    )


def _come_back_later() -> JsonResponse:
    response = JsonResponse({"status": "pending", "retry_after": RETRY_AFTER_SECONDS}, status=202)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
