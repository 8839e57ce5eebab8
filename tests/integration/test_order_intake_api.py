"""POST /api/v1/orders/: accepted in one transaction, the slow work handed to the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from monolithos.idempotency import fingerprint
from monolithos.models import IdempotencyKey, Invoice, Order, Product
from notifications.models import Notification
from outbox.models import OutboxMessage
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

URL = "/api/v1/orders/"


@pytest.fixture(autouse=True)
def _fresh_throttle_history() -> None:
    cache.clear()


@pytest.fixture
def shop() -> User:
    return User.objects.create_user("webshop", password="not-used-here")


@pytest.fixture
def api(shop: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(shop)
    return client


@pytest.fixture
def box() -> Product:
    product: Product = ProductFactory(sku="BOX-S", price="12.50", stock=10)
    return product


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "shipping_address": "12 Analytical Row\nLondon",
        "lines": [{"sku": "BOX-S", "quantity": 2}],
    }
    return {**body, **overrides}


def test_an_order_is_accepted_with_links_and_its_slow_work_handed_off(
    api, box, mailoutbox, supplier
):
    response = api.post(URL, order_body(), format="json")

    assert response.status_code == 202
    body = response.json()
    order = Order.objects.get(pk=body["id"])
    assert body["number"] == order.number == f"ORD-{order.pk:06d}"
    assert body["links"] == {
        "tracking": f"/api/orders/{order.pk}/track/",
        "invoice": f"/api/orders/{order.pk}/invoice.pdf",
        "shipment": f"/api/v1/tracking/{order.number}/",
    }
    assert response["Location"] == body["links"]["tracking"]
    assert body["lines"] == [{"sku": "BOX-S", "quantity": 2}]
    box.refresh_from_db()
    assert box.stock == 8
    invoice = Invoice.objects.get(order=order)
    assert invoice.render_pending and not invoice.pdf
    # Handed off, not done: a shipment and an invoice task, two mails, all waiting for workers.
    assert sorted(OutboxMessage.objects.values_list("task", flat=True)) == [
        "logistics.tasks.create_shipment",
        "monolithos.tasks.render_invoice",
        "notifications.tasks.send_notification",
        "notifications.tasks.send_notification",
    ]
    assert sorted(Notification.objects.values_list("kind", "status")) == [
        ("order_confirmation", "queued"),
        ("sales_new_order", "queued"),
    ]
    assert mailoutbox == []
    assert supplier.received() == []


def test_the_shipment_hand_off_is_a_create_shipment_command(api, box):
    response = api.post(URL, order_body(), format="json")

    message = OutboxMessage.objects.get(task="logistics.tasks.create_shipment")
    number = response.json()["number"]
    assert message.key == f"shipment:{number}"
    assert message.kwargs == {
        "shipment": {
            "order_ref": number,
            "destination": "12 Analytical Row\nLondon",
            "items": [{"sku": "BOX-S", "quantity": 2}],
            "owner_id": None,
            "contact_email": "ada@example.com",
        }
    }


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"customer_email": "not-an-email"}, {"customer_email"}),
        ({"lines": []}, {"lines"}),
        ({"lines": [{"sku": "BOX-S", "quantity": 0}]}, {"lines"}),
        ({"customer_name": ""}, {"customer_name"}),
        ({"lines": [{"sku": "NOPE", "quantity": 1}]}, {"lines"}),
        ({"lines": [{"sku": "BOX-S", "quantity": 11}]}, {"lines"}),
        ({"discount_code": "FREE"}, {"discount_code"}),
    ],
)
def test_invalid_input_answers_400_with_field_errors_and_writes_nothing(api, box, body, fields):
    response = api.post(URL, order_body(**body), format="json")

    assert response.status_code == 400
    error = response.json()
    assert error["message"] == "Invalid input."
    assert set(error["extra"]["fields"]) == fields
    assert not Order.objects.exists()
    assert not OutboxMessage.objects.exists()
    box.refresh_from_db()
    assert box.stock == 10


def test_a_body_that_is_not_json_answers_400(api, box):
    response = api.post(URL, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert not Order.objects.exists()


def test_anonymous_callers_are_refused(box):
    response = APIClient().post(URL, order_body(), format="json")

    assert response.status_code == 401
    assert not Order.objects.exists()


# ---------------------------------------------------------------------- Idempotency-Key


def post(api: APIClient, key: str, **overrides: Any) -> Any:
    return api.post(URL, order_body(**overrides), format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retried_post_with_the_same_key_returns_the_first_order(api, box):
    first = post(api, "order-attempt-1")
    again = post(api, "order-attempt-1")

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    box.refresh_from_db()
    assert box.stock == 8


def test_the_same_key_with_a_different_body_answers_422(api, box):
    post(api, "order-attempt-1")
    response = post(api, "order-attempt-1", lines=[{"sku": "BOX-S", "quantity": 3}])

    assert response.status_code == 422
    assert "different request body" in response.json()["message"]
    assert Order.objects.count() == 1


def key_held_by_another_request(shop: User, *, since: Any) -> None:
    """The key as a request that is still running (or died) left it: claimed, no answer yet."""
    IdempotencyKey.objects.create(
        owner=shop,
        key="order-attempt-1",
        fingerprint=fingerprint("POST", URL, {**order_body(), "discount_code": ""}),
        status=IdempotencyKey.IN_FLIGHT,
        created_at=since,
        locked_at=since,
    )


def test_a_key_still_in_flight_answers_409(api, box, shop):
    key_held_by_another_request(shop, since=timezone.now())

    response = post(api, "order-attempt-1")

    assert response.status_code == 409
    assert not Order.objects.exists()


def test_a_key_abandoned_by_a_dead_request_is_taken_over(api, box, shop, settings):
    settings.IDEMPOTENCY_LOCK_SECONDS = 60
    key_held_by_another_request(shop, since=timezone.now() - timedelta(minutes=5))

    response = post(api, "order-attempt-1")

    assert response.status_code == 202
    assert IdempotencyKey.objects.get().status == IdempotencyKey.COMPLETED


def test_keys_are_kept_for_24_hours_then_start_afresh(api, box, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    first = post(api, "order-attempt-1")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23))
    assert post(api, "order-attempt-1").json()["id"] == first.json()["id"]

    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    later = post(api, "order-attempt-1")

    assert later.status_code == 202
    assert later.json()["id"] != first.json()["id"]


def test_a_rejected_request_stores_no_key_so_a_corrected_one_may_use_it(api, box):
    rejected = post(api, "order-attempt-1", lines=[{"sku": "BOX-S", "quantity": 50}])
    corrected = post(api, "order-attempt-1")

    assert (rejected.status_code, corrected.status_code) == (400, 202)
    assert Order.objects.count() == 1


def test_keys_belong_to_their_client(api, box):
    other = APIClient()
    other.force_authenticate(User.objects.create_user("other-shop"))

    first = post(api, "shared-key")
    second = post(other, "shared-key")

    assert second.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("key", ["", " ", "k" * 256])
def test_a_malformed_key_answers_400(api, box, key):
    response = post(api, key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["extra"]["fields"]
    assert not Order.objects.exists()


def test_the_hourly_purge_deletes_only_keys_past_their_retention(api, box, settings):
    from monolithos.tasks import purge_idempotency_keys

    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    post(api, "old-key")
    post(api, "recent-key", customer_email="grace@example.com")
    IdempotencyKey.objects.filter(key="old-key").update(
        created_at=timezone.now() - timedelta(hours=25)
    )

    assert purge_idempotency_keys.apply().result == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent-key"]
