"""One API class per operation on shipments: parse, call the service (or a selector), answer.

The service comes from ``logistics.wiring`` on each request, so settings (the supplier's URL)
are read when the request runs. Domain errors are left to ``logistics.api.errors``.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from httpapi import schema
from httpapi.errors import ErrorSerializer
from httpapi.fields import PRINTABLE, StrictCharField
from logistics.api import selectors
from logistics.api.pagination import ShipmentCursorPagination
from logistics.api.permissions import CanManageShipments
from logistics.api.serializers import (
    STATUS_CHOICES,
    PendingDispatchSerializer,
    ShipmentSerializer,
    TrackingSerializer,
)
from logistics.domain import ShipmentNotFound, ShipmentStatus
from logistics.wiring import build_logistics_service

ERRORS_OF_ANY_REQUEST = {
    **schema.ANY_REQUEST,
    403: OpenApiResponse(ErrorSerializer, "Authenticated, but not allowed to do this."),
}
INVALID = OpenApiResponse(ErrorSerializer, "Invalid input; `extra.fields` says which and why.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, "No such shipment, or not one of yours.")
NOT_PENDING = OpenApiResponse(
    ErrorSerializer,
    "Not pending (`extra` holds `current_status` and `target_status`), or changed by other "
    "writers on every try.",
)


class ShipmentListApi(APIView):
    permission_classes = (IsAuthenticated,)
    pagination_class = ShipmentCursorPagination

    class InputSerializer(serializers.Serializer[Any]):
        status = serializers.ChoiceField(choices=STATUS_CHOICES, required=False)
        order_ref = StrictCharField(required=False, max_length=64)

    OutputSerializer = ShipmentSerializer

    @extend_schema(
        operation_id="shipments_list",
        tags=["shipments"],
        summary="List shipments, newest first",
        parameters=[InputSerializer],
        responses={
            200: OutputSerializer(many=True),
            400: INVALID,
            404: OpenApiResponse(ErrorSerializer, "The cursor is not one this API gave out."),
            **ERRORS_OF_ANY_REQUEST,
        },
    )
    def get(self, request: Request) -> Response:
        # A plain dict, so that ``?status=`` is refused as the schema says (from a QueryDict
        # DRF would take an empty optional parameter for an absent one).
        filters = self.InputSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        status_filter = filters.validated_data.get("status")
        records = selectors.shipment_list(
            user=request.user,
            status=ShipmentStatus(status_filter) if status_filter else None,
            order_ref=filters.validated_data.get("order_ref"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(records, request, view=self) or []
        data = [view.model_dump(mode="json") for view in selectors.shipment_views(page)]
        return paginator.get_paginated_response(self.OutputSerializer(data, many=True).data)


class ShipmentDetailApi(APIView):
    permission_classes = (IsAuthenticated,)
    OutputSerializer = ShipmentSerializer

    @extend_schema(
        operation_id="shipments_retrieve",
        tags=["shipments"],
        summary="One shipment",
        responses={200: OutputSerializer, 404: NOT_FOUND, **ERRORS_OF_ANY_REQUEST},
    )
    def get(self, request: Request, shipment_id: uuid.UUID) -> Response:
        view = selectors.shipment_get(user=request.user, shipment_id=shipment_id)
        return Response(self.OutputSerializer(view.model_dump(mode="json")).data)


class ShipmentDispatchApi(APIView):
    permission_classes = (IsAuthenticated, CanManageShipments)
    OutputSerializer = ShipmentSerializer
    PendingSerializer = PendingDispatchSerializer

    @extend_schema(
        operation_id="shipments_dispatch",
        tags=["shipments"],
        summary="Hand a pending shipment to the supplier",
        description=(
            "200 with the dispatched shipment. When the supplier does not take it, 202: the "
            "shipment stays pending, with the failure and the time of the next attempt. "
            "409 when the shipment is not pending."
        ),
        request=None,
        responses={
            200: OutputSerializer,
            202: PendingSerializer,
            404: NOT_FOUND,
            409: NOT_PENDING,
            **ERRORS_OF_ANY_REQUEST,
        },
    )
    def post(self, request: Request, shipment_id: uuid.UUID) -> Response:
        outcome = build_logistics_service().dispatch(shipment_id)
        shipment = outcome.shipment.model_dump(mode="json")
        if outcome.dispatched:
            return Response(self.OutputSerializer(shipment).data)
        pending = {
            "shipment": shipment,
            "dispatched": False,
            "failure": {
                "kind": outcome.failure_kind,
                "status": outcome.failure_status,
                "detail": outcome.failure_detail,
            },
            "retry_at": shipment["next_attempt_at"],
        }
        return Response(self.PendingSerializer(pending).data, status=status.HTTP_202_ACCEPTED)


class ShipmentCancelApi(APIView):
    permission_classes = (IsAuthenticated, CanManageShipments)
    OutputSerializer = ShipmentSerializer

    @extend_schema(
        operation_id="shipments_cancel",
        tags=["shipments"],
        summary="Cancel a pending shipment",
        description=(
            "200 with the cancelled shipment, also when it was cancelled already (a cancel may "
            "be retried). 409 when it is dispatched or delivered."
        ),
        request=None,
        responses={
            200: OutputSerializer,
            404: NOT_FOUND,
            409: NOT_PENDING,
            **ERRORS_OF_ANY_REQUEST,
        },
    )
    def post(self, request: Request, shipment_id: uuid.UUID) -> Response:
        view = build_logistics_service().cancel(shipment_id)
        return Response(self.OutputSerializer(view.model_dump(mode="json")).data)


class TrackingApi(APIView):
    permission_classes = (IsAuthenticated,)

    class InputSerializer(serializers.Serializer[Any]):
        order_ref = StrictCharField(max_length=64)

    OutputSerializer = TrackingSerializer

    @extend_schema(
        operation_id="tracking_retrieve",
        tags=["tracking"],
        parameters=[
            OpenApiParameter(
                "order_ref",
                {"type": "string", "minLength": 1, "maxLength": 64, "pattern": PRINTABLE},
                OpenApiParameter.PATH,
                description="The order's reference, as the shop gave it.",
            )
        ],
        summary="Where an order's shipment is, with the supplier's own status",
        responses={
            200: OutputSerializer,
            400: INVALID,
            404: NOT_FOUND,
            **ERRORS_OF_ANY_REQUEST,
        },
    )
    def get(self, request: Request, order_ref: str) -> Response:
        path = self.InputSerializer(data={"order_ref": order_ref})
        path.is_valid(raise_exception=True)
        order_ref = path.validated_data["order_ref"]
        # Checked before the service runs, so nobody learns about (or makes us ask the supplier
        # about) an order that is not theirs: theirs or not, a stranger's order is not found.
        if not selectors.order_shipment_is_visible(user=request.user, order_ref=order_ref):
            raise ShipmentNotFound(order_ref)
        tracking = build_logistics_service().track(order_ref)
        return Response(self.OutputSerializer(tracking.model_dump(mode="json")).data)
