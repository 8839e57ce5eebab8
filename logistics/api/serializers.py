"""The shapes the logistics API answers with, shared by several operations.

Each documents (for the OpenAPI schema) and filters (at run time) a boundary view dumped with
``model_dump(mode="json")``: a field that is not declared here never leaves the API, whatever
the view grows. They hold no logic.
"""

from __future__ import annotations

from typing import Any, get_args

from rest_framework import serializers

from logistics.domain import ShipmentStatus
from logistics.ports import FailureKind

STATUS_CHOICES = [status.value for status in ShipmentStatus]


class ShipmentItemSerializer(serializers.Serializer[Any]):
    sku = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)


class ShipmentSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    order_ref = serializers.CharField()
    destination = serializers.CharField()
    items = ShipmentItemSerializer(many=True)
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    owner_id = serializers.IntegerField(allow_null=True)
    supplier_reference = serializers.CharField(allow_null=True)
    tracking_number = serializers.CharField(allow_null=True)
    attempt_count = serializers.IntegerField(min_value=0)
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="When a pending shipment's dispatch will be tried again."
    )
    last_error = serializers.CharField(
        allow_null=True, help_text="Why the last dispatch attempt failed, if it did."
    )
    dispatched_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DispatchFailureSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=list(get_args(FailureKind)))
    status = serializers.IntegerField(
        allow_null=True, help_text="The supplier's HTTP status, when it answered."
    )
    detail = serializers.CharField()


class PendingDispatchSerializer(serializers.Serializer[Any]):
    shipment = ShipmentSerializer()
    dispatched = serializers.BooleanField(help_text="Always false: the shipment stays pending.")
    failure = DispatchFailureSerializer()
    retry_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the dispatch will be tried again; null when retrying cannot help.",
    )


class TrackingSerializer(serializers.Serializer[Any]):
    order_ref = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    supplier_reference = serializers.CharField(allow_null=True)
    tracking_number = serializers.CharField(allow_null=True)
    dispatched_at = serializers.DateTimeField(allow_null=True)
    supplier_status = serializers.CharField(
        allow_null=True,
        help_text="The supplier's own status; 'unknown' when it could not be asked, "
        "null before dispatch.",
    )
