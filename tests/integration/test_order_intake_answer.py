"""The accepting 202's body, written out for speed, is the serializer's body to the byte."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from monolithos.api import OrderRequestSerializer, received_body
from monolithos.models import OrderRequest
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


@pytest.mark.parametrize(
    "payload",
    [
        {"customer_email": "ada@example.com", "lines": [{"sku": "BOX-S", "quantity": 2}]},
        {
            "customer_name": "Grace Hopper",
            "customer_email": "grace@example.com",
            "shipping_address": "1 Compiler Way\\nArlington",
            "discount_code": "",
            "lines": [{"sku": "BOX-S", "quantity": 1}, {"sku": "MUG-1", "quantity": 40}],
        },
    ],
)
def test_a_received_request_answers_as_its_serializer_would(payload: dict[str, object]) -> None:
    request = OrderRequest.objects.create(
        owner_id=StaffUserFactory().pk,
        idempotency_key="key-1",
        payload=payload,
        created_at=timezone.now(),
    )
    request.refresh_from_db()  # the payload as stored, as a replay reads it

    written_out = JSONRenderer().render(received_body(request))
    serialized = JSONRenderer().render(OrderRequestSerializer(request).data)

    assert written_out == serialized
    assert json.loads(written_out)["status"] == "received"
