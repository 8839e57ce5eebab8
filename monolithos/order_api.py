"""The v1 order resources the intake's answers link to: the order, its tracking, its invoice PDF.

``GET /api/v1/orders/<id>/``, ``.../tracking/`` and ``.../invoice.pdf``, one API class each. Each
view finds the order among those the caller may see (``monolithos.selectors``: someone else's
order is not found, 404) and answers; nothing here writes. Token or session auth and the API
error body ``{"message", "extra"}`` come from the project's DRF settings. ``order_links`` is the
one place that says where a v1 answer sends a client for an order: these resources and the
shipment's tracking in the logistics API, never the unauthenticated legacy shop endpoints.

Must not import ``monolithos.order_manager`` (an import-linter contract): nothing here goes
through the god object.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.status import HTTP_202_ACCEPTED
from rest_framework.views import APIView

from httpapi import schema
from httpapi.schema import error
from logistics.public import ShipmentStatus
from monolithos import invoicing, selectors, shipping_data
from monolithos.models import Order
from monolithos.shipping_data import OrderShipping

# How long a client should wait before asking again for an invoice still being rendered (as the
# legacy download says).
INVOICE_RETRY_AFTER_SECONDS = 5
SHIPMENT_STATUSES = [shipment_status.value for shipment_status in ShipmentStatus]


class OrderLinksSerializer(serializers.Serializer[Any]):
    order = serializers.CharField(help_text="The order (GET).")
    tracking = serializers.CharField(help_text="Where its shipment is (GET).")
    invoice = serializers.CharField(
        help_text="The invoice PDF (GET): 202 with Retry-After until it is rendered."
    )
    shipment = serializers.CharField(help_text="The shipment's tracking in the logistics API.")


def order_links(order: Order) -> dict[str, str]:
    return {
        "order": reverse("orders_api:order_detail", args=[order.pk]),
        "tracking": reverse("orders_api:order_tracking", args=[order.pk]),
        "invoice": reverse("orders_api:order_invoice", args=[order.pk]),
        "shipment": reverse("logistics_api:tracking", args=[order.number]),
    }


ERRORS_OF_ANY_REQUEST = {
    404: error("No such order, or not one of yours."),
    **schema.ANY_REQUEST,
}


def visible_order(request: Request, order_id: int) -> Order:
    order = selectors.order_get(user=request.user, order_id=order_id)
    if order is None:
        raise NotFound("No such order.")
    return order


class OrderDetailApi(APIView):
    # Nested serializers are named for the schema: each API's would otherwise be "Output".
    @extend_schema_serializer(component_name="Order")
    class OutputSerializer(serializers.Serializer[Any]):
        @extend_schema_serializer(component_name="OrderLine")
        class LineSerializer(serializers.Serializer[Any]):
            sku = serializers.CharField()
            quantity = serializers.IntegerField()
            unit_price = serializers.DecimalField(max_digits=10, decimal_places=2)
            line_total = serializers.DecimalField(max_digits=12, decimal_places=2)

        id = serializers.IntegerField()
        number = serializers.CharField()
        status = serializers.ChoiceField(choices=Order.STATUS_CHOICES)
        customer_email = serializers.EmailField(source="customer.email")
        shipping_name = serializers.CharField()
        shipping_address = serializers.CharField()
        discount_code = serializers.CharField(allow_blank=True)
        subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
        discount = serializers.DecimalField(max_digits=12, decimal_places=2)
        shipping_cost = serializers.DecimalField(max_digits=12, decimal_places=2)
        tax = serializers.DecimalField(max_digits=12, decimal_places=2)
        total = serializers.DecimalField(max_digits=12, decimal_places=2)
        lines = LineSerializer(many=True, source="lines.all")
        shipping_status = serializers.SerializerMethodField(
            help_text="In the legacy order's words; `links.tracking` asks the shipment itself."
        )
        tracking_number = serializers.SerializerMethodField(
            help_text="Null until the order is dispatched."
        )
        created_at = serializers.DateTimeField()
        cancelled_at = serializers.DateTimeField(allow_null=True)
        links = serializers.SerializerMethodField()

        def shipping(self) -> OrderShipping:
            """The order's shipping data, read by the view where the data phase says."""
            shipping: OrderShipping = self.context["shipping"]
            return shipping

        @extend_schema_field(serializers.ChoiceField(choices=Order.SHIPPING_STATUS_CHOICES))
        def get_shipping_status(self, order: Order) -> str:
            return self.shipping().shipping_status

        @extend_schema_field(serializers.CharField(allow_null=True))
        def get_tracking_number(self, order: Order) -> str | None:
            return self.shipping().tracking_number or None

        @extend_schema_field(OrderLinksSerializer)
        def get_links(self, order: Order) -> dict[str, str]:
            return order_links(order)

    @extend_schema(
        operation_id="order_retrieve",
        summary="An order: its customer, lines, money, shipping state and links",
        responses={
            200: OpenApiResponse(OutputSerializer, "The order, with its links."),
            **ERRORS_OF_ANY_REQUEST,
        },
    )
    def get(self, request: Request, order_id: int) -> Response:
        order = visible_order(request, order_id)
        shipping = shipping_data.read(order, reader="order_api.order_detail")
        return Response(self.OutputSerializer(order, context={"shipping": shipping}).data)


class OrderTrackingApi(APIView):
    @extend_schema_serializer(component_name="OrderTracking")
    class OutputSerializer(serializers.Serializer[Any]):
        order_id = serializers.IntegerField()
        order_number = serializers.CharField(allow_null=True)
        status = serializers.ChoiceField(choices=SHIPMENT_STATUSES)
        supplier_reference = serializers.CharField(allow_null=True)
        tracking_number = serializers.CharField(allow_null=True)
        dispatched_at = serializers.DateTimeField(allow_null=True)
        supplier_status = serializers.CharField(
            allow_null=True,
            help_text="The supplier's own status; 'unknown' when it could not be asked, "
            "null before dispatch.",
        )
        answered_from = serializers.ChoiceField(
            choices=["shipment", "order_columns", "no_shipment_yet"],
            help_text="`shipment`: the logistics context's shipment; `order_columns`: the "
            "order's own shipping columns, for an order from before the shipments' backfill "
            "(while the data phase still reads them); `no_shipment_yet`: an order whose "
            "shipment is not created yet, pending.",
        )

    @extend_schema(
        operation_id="order_tracking",
        summary="Where an order's shipment is, with the supplier's own status",
        responses={
            200: OpenApiResponse(
                OutputSerializer, "From the shipment, else (before the backfill) the order."
            ),
            **ERRORS_OF_ANY_REQUEST,
        },
    )
    def get(self, request: Request, order_id: int) -> Response:
        order = visible_order(request, order_id)
        return Response(self.OutputSerializer(selectors.order_tracking(order=order)).data)


class OrderInvoiceApi(APIView):
    @extend_schema_serializer(component_name="InvoicePending")
    class PendingSerializer(serializers.Serializer[Any]):
        status = serializers.ChoiceField(choices=["pending"])
        retry_after = serializers.IntegerField(help_text="Seconds to wait before asking again.")

    @extend_schema(
        operation_id="order_invoice",
        summary="The order's invoice PDF, once a worker has rendered it",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, "The invoice PDF."),
            202: OpenApiResponse(
                PendingSerializer, "Being rendered: ask again after `Retry-After` s."
            ),
            404: error("No such order, not one of yours, or an order without an invoice."),
            **schema.ANY_REQUEST,
        },
    )
    def get(self, request: Request, order_id: int) -> FileResponse | Response:
        order = visible_order(request, order_id)
        invoice = selectors.order_invoice(order=order)
        if invoice is None:
            raise NotFound("This order has no invoice.")
        if invoice.render_pending:
            # A worker owes this render; the sweep enqueues it again if its message was lost.
            return self.pending()
        if not invoicing.invoice_pdf_exists(invoice):
            # A rendered version whose file was lost: rendered by a worker, never in a request.
            invoicing.request_render(invoice)
            return self.pending()
        return FileResponse(
            invoice.pdf.open("rb"),
            content_type="application/pdf",
            filename=f"{invoice.number}.pdf",
        )

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        # The PDF is a file no renderer touches; every other answer (202, errors) is JSON
        # whatever Accept says, so a client asking for application/pdf gets them, not a 406.
        return super().perform_content_negotiation(request, force=True)

    def pending(self) -> Response:
        body = {"status": "pending", "retry_after": INVOICE_RETRY_AFTER_SECONDS}
        return Response(
            self.PendingSerializer(body).data,
            status=HTTP_202_ACCEPTED,
            headers={"Retry-After": str(INVOICE_RETRY_AFTER_SECONDS)},
        )
