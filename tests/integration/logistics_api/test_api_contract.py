"""Schemathesis against the running Django app: every answer is one the schema documents.

Driven programmatically rather than through ``schema.parametrize()``, so that it is one test
that shares one database set-up with pytest-django: every operation of the OpenAPI document,
in positive and negative generation modes, each case sent through the WSGI application with a
staff token and checked with schemathesis's conformance checks (``CHECKS``). Path parameters are
drawn from the shipments, orders and order requests created here as well as generated, so
dispatch, cancel and tracking reach the service and the supplier simulator, and the order
resources answer their 200s and 202s, not only their 404s; the intake also gets orders it
accepts (202).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from monolithos import invoicing
from monolithos.models import Invoice, OrderRequest
from tests.conftest import SupplierSimulator
from tests.factories import ProductFactory
from tests.integration.logistics_api.factories import ShipmentFactory, token_for
from tests.integration.orders_api.factories import OrderFactory

EXAMPLES_PER_OPERATION_AND_MODE = 25
# Every answer is one the schema documents (status, media type, headers, body), and no request
# the schema calls invalid is accepted. Positive data may still be refused (an unknown SKU, a
# shipment that is not pending): the schema cannot say which SKUs exist.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def accepted_orders(email: str) -> list[dict[str, Any]]:
    """Bodies the intake accepts: the generated ones name SKUs that do not exist."""
    ProductFactory(sku="BOX-S", stock=1000)
    line = {"sku": "BOX-S", "quantity": 1}
    order = {"customer_name": "Ada", "customer_email": email, "shipping_address": "1 Row"}
    return [
        {**order, "lines": [line]},
        {**order, "discount_code": "", "lines": [line] * 100, "shipping_address": "x" * 2000},
    ]


def known_values(*, owner: User) -> dict[str, list[str]]:
    shipments = [
        *ShipmentFactory.create_batch(3, owner_id=owner.pk),
        ShipmentFactory(cancelled=True),
        ShipmentFactory(dispatched=True),
    ]
    payload = {"customer_email": "ada@example.com", "lines": [{"sku": "BOX-S", "quantity": 1}]}
    # An invoice owed its render (202), one rendered (the PDF), one whose file was lost.
    orders = OrderFactory.create_batch(3, owner=owner)
    requests = [
        OrderRequest.objects.create(
            owner=owner, payload=payload, created_at=timezone.now(), **outcome
        )
        for outcome in (
            {},
            {"status": OrderRequest.REJECTED, "errors": {"lines": ["unknown sku: BOX-S"]}},
            {"status": OrderRequest.PLACED, "order": orders[0]},
        )
    ]
    for order in orders[1:]:
        invoicing.render_invoice(order.invoice.pk, where="worker")
    lost = Invoice.objects.get(order=orders[2])
    lost.pdf.storage.delete(str(lost.pdf.name))
    return {
        "shipment_id": [str(shipment.id) for shipment in shipments],
        "order_ref": [shipment.order_ref for shipment in shipments],
        "request_id": [str(request.pk) for request in requests],
        "order_id": [str(order.pk) for order in orders],
    }


# Django's handler closes connections around each request (close_old_connections), which would
# end a test's wrapping transaction: the data must be committed, hence transaction=True.
@pytest.mark.django_db(databases=["default", "logistics"], transaction=True)
@pytest.mark.simulator
def test_every_answer_of_the_api_is_one_its_schema_documents(
    supplier: SupplierSimulator, staff: User, settings: Any
) -> None:
    # Hundreds of requests in a few seconds: the throttle is not what this test is about.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "user": "100000/minute",
            "anon": "100000/minute",
            "token_failures": "100000/minute",
        },
    }
    # Some dispatches fail, so the 202 (still pending) answer is exercised too.
    supplier.set_chaos(failure_rate=0.5)
    headers = {"Authorization": f"Token {token_for(staff)}"}

    # Imported here: building the handler loads every middleware, and only this test needs it.
    from config.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]
    assert len(operations) == 10, "an operation of the schema could not be loaded"

    for operation in operations:
        # Fresh shipments for each operation: cancel must not leave dispatch nothing to dispatch.
        known = known_values(owner=staff)
        path_names = [p.name for p in operation.path_parameters]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies = [operation.as_strategy(generation_mode=mode)]
            # Negative mode cannot break a fixed parameter, and these operations have no other.
            for name in path_names if mode is GenerationMode.POSITIVE else ():
                strategies += [
                    operation.as_strategy(generation_mode=mode, path_parameters={name: value})
                    for value in known[name]
                ]

            @given(case=st.one_of(strategies))
            @hypothesis_settings(
                max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def conforms(case: Case) -> None:
                response = case.call(headers=headers)
                case.validate_response(response, checks=CHECKS)

            conforms()
        if operation.label == "POST /api/v1/orders/":
            for body in accepted_orders(staff.email):
                case = operation.Case(body=body, media_type="application/json")
                response = case.call(headers=headers)
                assert response.status_code == 202
                case.validate_response(response, checks=CHECKS)
