"""POST /api/v1/orders/: the asynchronous order intake (202 Accepted, Idempotency-Key).

The legacy JSON endpoint (/api/orders/) keeps its synchronous contract for existing clients;
this one accepts an order in milliseconds and leaves the shipment, the invoice PDF and the mails
to the workers (``OrderManager.accept_order``). Invalid input answers 400 with field errors and
writes nothing. Errors use the project's API error body ``{"message", "extra"}``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolithos import idempotency
from monolithos.mailer import NotificationService
from monolithos.models import IdempotencyKey, Order
from monolithos.order_manager import OrderError, OrderManager
from notifications.public import NotificationService as QueuedNotifications

IDEMPOTENCY_HEADER = "Idempotency-Key"


class OrderLineInput(serializers.Serializer[Any]):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)


class OrderLinksSerializer(serializers.Serializer[Any]):
    tracking = serializers.CharField(help_text="The order's tracking (GET).")
    invoice = serializers.CharField(help_text="The invoice PDF: 202 with Retry-After until ready.")
    shipment = serializers.CharField(help_text="The shipment's tracking in the logistics API.")


class IntakeErrorSerializer(serializers.Serializer[Any]):
    message = serializers.CharField()
    extra = serializers.DictField()


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(IntakeErrorSerializer, description)


class OrderAcceptApi(APIView):
    class InputSerializer(serializers.Serializer[Any]):
        customer_name = serializers.CharField(max_length=200)
        customer_email = serializers.EmailField(max_length=254)
        shipping_address = serializers.CharField(max_length=2000)
        discount_code = serializers.CharField(
            max_length=32, required=False, allow_blank=True, default=""
        )
        lines = serializers.ListField(child=OrderLineInput(), allow_empty=False, max_length=100)

    class OutputSerializer(serializers.Serializer[Any]):
        id = serializers.IntegerField()
        number = serializers.CharField()
        status = serializers.CharField()
        customer_email = serializers.EmailField(source="customer.email")
        total = serializers.DecimalField(max_digits=12, decimal_places=2)
        lines = OrderLineInput(many=True)
        links = serializers.SerializerMethodField()

        def get_links(self, order: Order) -> dict[str, str]:
            return {
                "tracking": reverse("monolithos:api_track_order", args=[order.pk]),
                "invoice": reverse("monolithos:api_invoice_pdf", args=[order.pk]),
                "shipment": reverse("logistics_api:tracking", args=[order.number]),
            }

    @extend_schema(
        operation_id="order_accept",
        summary="Accept an order; its shipment, invoice and mails follow asynchronously",
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Makes a retried POST return the first order (kept 24 h).",
            )
        ],
        responses={
            202: OpenApiResponse(OutputSerializer, "Accepted: the order, and where to follow it."),
            400: error("Invalid input; `extra.fields` says which and why. Nothing was written."),
            401: error("No valid credentials (send `Authorization: Token ...`)."),
            409: error("A request with this Idempotency-Key is still in flight: retry later."),
            422: error("This Idempotency-Key was used with a different body."),
            429: error("Too many requests: try again after `Retry-After` s."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data["lines"] = [dict(line) for line in data["lines"]]
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return self._accept(data, claimed=None)
        if not key.strip() or len(key) > idempotency.MAX_KEY_LENGTH:
            raise ValidationError(
                {IDEMPOTENCY_HEADER: [f"must be 1 to {idempotency.MAX_KEY_LENGTH} characters"]}
            )
        assert request.user.pk is not None  # the API admits authenticated users only
        claimed = idempotency.claim(
            owner_id=request.user.pk,
            key=key,
            fingerprint=idempotency.fingerprint("POST", request.path, data),
        )
        if isinstance(claimed, idempotency.Replay):
            return Response(
                claimed.body, status=claimed.status, headers={"Idempotent-Replayed": "true"}
            )
        return self._accept(data, claimed=claimed)

    def _accept(self, data: dict[str, Any], *, claimed: IdempotencyKey | None) -> Response:
        # The mails are recorded with the order and sent by a worker, not inside the request.
        manager = OrderManager(notifications=NotificationService(QueuedNotifications()))
        try:
            with transaction.atomic():
                order = manager.accept_order(data)
                body = self.OutputSerializer(order).data
                if claimed is not None:
                    idempotency.complete(claimed, status=202, body=body)
        except BaseException as error:
            # Nothing was written: the key is free for a retry (a corrected one, after a 400).
            if claimed is not None:
                idempotency.release(claimed)
            if isinstance(error, OrderError):
                raise ValidationError({error.field: [str(error)]}) from error
            raise
        return Response(body, status=202, headers={"Location": body["links"]["tracking"]})
