"""POST /api/v1/orders/: the asynchronous order intake (202 Accepted, Idempotency-Key).

Accept first, place later (docs/adr/0011): a valid order is accepted as one committed row, an
order request, and answered 202 with where to follow it; the intake worker places the order
(``monolithos.placement.accept``) and the shipment, the invoice PDF and the mails follow from the
other workers. ``GET /api/v1/orders/requests/<id>/`` says what became of a request: received,
placed (with the order and its links) or rejected (with field errors, like a 400's). Invalid
input answers 400 with field errors and writes nothing. The legacy JSON endpoint
(/api/orders/) keeps its synchronous contract for existing clients. Errors use the project's
API error body ``{"message", "extra"}``.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from httpapi import schema
from httpapi.fields import StrictCharField, StrictEmailField, StrictIntegerField
from monolithos import intake, new_order
from monolithos.models import Order, OrderRequest
from monolithos.order_api import OrderLinksSerializer, order_links
from monolithos.placement import LIMITS, OrderError, check_customer

# Who may place orders for any customer; anyone else orders for its own account's email.
PLACE_FOR_ANY_CUSTOMER = "monolithos.place_order_for_any_customer"

IDEMPOTENCY_HEADER = "Idempotency-Key"
# How long a client should wait before asking again about a request still received.
RETRY_AFTER_SECONDS = 1


class OrderLineInput(serializers.Serializer[Any]):
    sku = StrictCharField(max_length=LIMITS.max_sku_length)
    quantity = StrictIntegerField(min_value=1, max_value=LIMITS.max_quantity)


class PlacedOrderSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.CharField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    links = serializers.SerializerMethodField()

    @extend_schema_field(OrderLinksSerializer)
    def get_links(self, order: Order) -> dict[str, str]:
        # The v1 order resources, which check who asks; never the legacy shop endpoints.
        return order_links(order)


class OrderRequestSerializer(serializers.Serializer[Any]):
    """An order request as the client follows it: the same body from POST and GET."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=OrderRequest.STATUSES)
    customer_email = serializers.EmailField(source="payload.customer_email")
    lines = OrderLineInput(many=True, source="payload.lines")
    order = PlacedOrderSerializer(allow_null=True, help_text="Once placed: the order, its links.")
    rejection = serializers.DictField(
        source="errors",
        allow_null=True,
        help_text="Once rejected: why, by field, as a 400's `extra.fields` would say.",
    )
    links = serializers.SerializerMethodField()

    def get_links(self, request: OrderRequest) -> dict[str, str]:
        return {"self": reverse("orders_api:order_request", args=[request.pk])}


def received_body(request: OrderRequest) -> dict[str, Any]:
    """``OrderRequestSerializer``'s body of a request still received, written out.

    The accepting 202 is the intake's hot path and a received request has no order yet, so its
    answer is built as plain data (docs/adr/0025); a test holds it equal to the serializer's,
    which stays the schema's and every other state's answer.
    """
    payload = request.payload
    return {
        "id": request.pk,
        "status": request.status,
        "customer_email": str(payload["customer_email"]),
        "lines": [
            {"sku": str(line["sku"]), "quantity": int(line["quantity"])}
            for line in payload["lines"]
        ],
        "order": None,
        "rejection": None if request.errors is None else dict(request.errors),
        "links": {"self": reverse("orders_api:order_request", args=[request.pk])},
    }


def follow(request: OrderRequest, *, status: int, headers: dict[str, str]) -> Response:
    if request.status == OrderRequest.RECEIVED:
        body = received_body(request)
    else:
        body = OrderRequestSerializer(request).data
    headers = dict(headers)
    if request.status == OrderRequest.RECEIVED:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return Response(body, status=status, headers=headers)


def _is_key(key: str) -> bool:
    """An Idempotency-Key is a token: printable ASCII without spaces, as the schema says."""
    return 0 < len(key) <= intake.MAX_KEY_LENGTH and all("!" <= char <= "~" for char in key)


class OrderAcceptApi(APIView):
    @extend_schema_serializer(component_name="NewOrder")
    class InputSerializer(serializers.Serializer[Any]):
        # The limits are the placement contract's (monolithos.placement.LIMITS), which the
        # shipment's contract also accepts; JSON types are taken as typed (httpapi.fields).
        customer_name = StrictCharField(max_length=LIMITS.max_name_length)
        customer_email = StrictEmailField(
            max_length=LIMITS.max_email_length,
            help_text="Your account's email, unless you may place orders for any customer.",
        )
        shipping_address = StrictCharField(max_length=LIMITS.max_address_length, multi_line=True)
        discount_code = StrictCharField(
            max_length=LIMITS.max_discount_code_length,
            required=False,
            allow_blank=True,
            default="",
        )
        lines = serializers.ListField(
            child=OrderLineInput(), min_length=1, max_length=LIMITS.max_lines
        )

    @extend_schema(
        operation_id="order_accept",
        summary="Accept an order; it is placed, shipped, invoiced and mailed asynchronously",
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": intake.MAX_KEY_LENGTH,
                    "pattern": r"^[\u0021-\u007e]+$",
                },
                OpenApiParameter.HEADER,
                description="Makes a retried POST return the first request (kept 24 h).",
            )
        ],
        responses={
            202: OpenApiResponse(
                OrderRequestSerializer, "Accepted: the order request, and where to follow it."
            ),
            422: schema.error("This Idempotency-Key was used with a different body."),
            **schema.WITH_BODY,
            **schema.ANY_REQUEST,
        },
    )
    def post(self, request: Request) -> Response:
        # A body certainly valid skips the serializer (docs/adr/0025); any other is its to
        # answer, with the field errors the schema's clients know.
        payload = new_order.read(request.data)
        if payload is None:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            payload = dict(serializer.validated_data)
            payload["lines"] = [dict(line) for line in payload["lines"]]
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not _is_key(key):
            raise ValidationError(
                {
                    IDEMPOTENCY_HEADER: [
                        f"must be 1 to {intake.MAX_KEY_LENGTH} printable ASCII characters"
                    ]
                }
            )
        user = request.user
        assert user.pk is not None  # the API admits authenticated users only
        try:
            check_customer(
                customer_email=payload["customer_email"],
                caller_email=getattr(user, "email", ""),
                for_anyone=user.is_staff or user.has_perm(PLACE_FOR_ANY_CUSTOMER),
            )
            received = intake.receive(owner_id=user.pk, key=key, payload=payload)
        except OrderError as error:
            raise ValidationError({error.field: [str(error)]}) from error
        headers = {"Location": reverse("orders_api:order_request", args=[received.request.pk])}
        if received.replayed:
            headers["Idempotent-Replayed"] = "true"
        return follow(received.request, status=202, headers=headers)


class OrderRequestApi(APIView):
    @extend_schema(
        operation_id="order_request",
        summary="What became of an accepted order: received, placed or rejected",
        responses={
            200: OpenApiResponse(
                OrderRequestSerializer, "The request; `Retry-After` while still received."
            ),
            404: schema.error("No such request among this client's."),
            **schema.ANY_REQUEST,
        },
    )
    def get(self, request: Request, request_id: int) -> Response:
        found = (
            OrderRequest.objects.select_related("order")
            .filter(pk=request_id, owner_id=request.user.pk)
            .first()
        )
        if found is None:
            raise NotFound("No such order request.")
        return follow(found, status=200, headers={})
