"""POST /api/v1/orders/: accepted as one row, placed by the intake worker, followed by GET."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from structlog.testing import capture_logs

from monolithos import announcements
from monolithos.models import Invoice, Order, OrderRequest, Product
from monolithos.tasks import place_order_request, purge_order_requests, sweep_order_requests
from notifications.models import Notification
from observability import trace
from outbox import broker
from outbox.models import OutboxMessage
from tests.factories import ProductFactory, ShopAccountFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

URL = "/api/v1/orders/"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(autouse=True)
def _fresh_throttle_history() -> None:
    cache.clear()


def shop_account(username: str) -> User:
    """A web shop's service account: it places orders for any customer."""
    user: User = ShopAccountFactory(username=username)
    return user


@pytest.fixture
def shop() -> User:
    return shop_account("webshop")


@pytest.fixture
def api(shop: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(shop)
    return client


@pytest.fixture
def box() -> Product:
    product: Product = ProductFactory(sku="BOX-S", price="12.50", stock=10)
    return product


@pytest.fixture
def handed_over(monkeypatch) -> list[dict[str, Any]]:
    """What the intake hands to the broker, with the trace id bound at that moment."""
    sent: list[dict[str, Any]] = []

    def send(task: str, *, args: list[Any], **options: Any) -> None:
        sent.append({"task": task, "args": args, "trace_id": trace.current_trace_id()})

    monkeypatch.setattr(broker, "send", send)
    return sent


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "shipping_address": "12 Analytical Row\nLondon",
        "lines": [{"sku": "BOX-S", "quantity": 2}],
    }
    return {**body, **overrides}


def place(response: Any) -> Any:
    """The intake worker's half, run here: place the request the response accepted."""
    place_order_request.apply(args=(response.json()["id"],))
    return OrderRequest.objects.get(pk=response.json()["id"])


def test_an_order_is_accepted_as_one_row_and_handed_to_the_intake_worker(
    api, box, mailoutbox, supplier, handed_over, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        CaptureQueriesContext(connection) as queries,
    ):
        response = api.post(
            URL, order_body(), format="json", HTTP_TRACEPARENT=f"00-{TRACE_ID}-00f067aa0ba902b7-01"
        )

    assert response.status_code == 202
    body = response.json()
    request = OrderRequest.objects.get()
    assert body == {
        "id": request.pk,
        "status": "received",
        "customer_email": "ada@example.com",
        "lines": [{"sku": "BOX-S", "quantity": 2}],
        "order": None,
        "rejection": None,
        "links": {"self": f"/api/v1/orders/requests/{request.pk}/"},
    }
    assert response["Location"] == body["links"]["self"]
    assert response["Retry-After"] == "1"
    assert request.trace_id == TRACE_ID
    assert handed_over == [
        {"task": "monolithos.tasks.place_order_request", "args": [request.pk], "trace_id": TRACE_ID}
    ]
    # The catalogue read and one INSERT: nothing else is written in the request.
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(writes) == 1 and "monolithos_orderrequest" in writes[0]
    assert not Order.objects.exists()
    assert not OutboxMessage.objects.exists()
    box.refresh_from_db()
    assert box.stock == 10
    assert mailoutbox == []
    assert supplier.received() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("hand_over", ["broker", "claimed"])
def test_accepting_an_order_opens_no_transaction_of_its_own(
    api, box, handed_over, settings, monkeypatch, hand_over
):
    """Its INSERT commits by itself, then the hand-over: no BEGIN and COMMIT (docs/adr/0025)."""
    settings.ORDER_INTAKE_HAND_OVER = hand_over
    switched: list[bool] = []
    set_autocommit = connection.set_autocommit

    def spy(autocommit: bool, **options: Any) -> None:
        switched.append(autocommit)
        set_autocommit(autocommit, **options)

    monkeypatch.setattr(connection, "set_autocommit", spy)
    response = api.post(URL, order_body(), format="json")

    assert response.status_code == 202
    assert switched == []  # autocommit all along: no atomic block was entered
    request = OrderRequest.objects.get()
    assert request.status == OrderRequest.RECEIVED
    expected = [{"task": "monolithos.tasks.place_order_request", "args": [request.pk]}]
    assert [{"task": s["task"], "args": s["args"]} for s in handed_over] == (
        expected if hand_over == "broker" else []
    )


@pytest.mark.django_db(transaction=True)
def test_a_notify_that_fails_after_the_commit_leaves_the_request_to_the_workers_next_look(
    api, box, settings, monkeypatch
):
    settings.ORDER_INTAKE_HAND_OVER = "claimed"

    def lost(*args: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(announcements, "announce", lost)
    with capture_logs() as logs:
        response = api.post(URL, order_body(), format="json")

    assert response.status_code == 202
    request = OrderRequest.objects.get()  # committed: the intake worker claims it on its poll
    assert (request.pk, request.status) == (response.json()["id"], OrderRequest.RECEIVED)
    assert [
        (line["event"], line["request"]) for line in logs if line["log_level"] == "warning"
    ] == [("order_request_not_announced", request.pk)]


def test_the_worker_places_the_order_and_hands_its_slow_work_off(api, box, mailoutbox, supplier):
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    response = api.post(URL, order_body(), format="json", HTTP_TRACEPARENT=traceparent)

    request = place(response)  # delivered without the message's headers, as by the sweep

    assert request.status == OrderRequest.PLACED
    order = request.order
    assert order.number == f"ORD-{order.pk:06d}"
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
    # Placed under the trace id of the request that accepted it.
    assert set(OutboxMessage.objects.values_list("trace_id", flat=True)) == {TRACE_ID}
    assert mailoutbox == []
    assert supplier.received() == []


def test_the_client_follows_its_request_to_the_order_and_its_links(api, box):
    response = api.post(URL, order_body(), format="json")
    follow = response.json()["links"]["self"]
    waiting = api.get(follow)
    order = place(response).order

    placed = api.get(follow)

    assert (waiting.status_code, waiting.json()["status"]) == (200, "received")
    assert waiting["Retry-After"] == "1"
    assert placed.status_code == 200
    assert "Retry-After" not in placed
    assert placed.json()["status"] == "placed"
    assert placed.json()["order"] == {
        "id": order.pk,
        "number": order.number,
        "status": order.status,
        "total": str(order.total),
        "links": {
            "order": f"/api/v1/orders/{order.pk}/",
            "tracking": f"/api/v1/orders/{order.pk}/tracking/",
            "invoice": f"/api/v1/orders/{order.pk}/invoice.pdf",
            "shipment": f"/api/v1/tracking/{order.number}/",
        },
    }


def test_a_request_is_visible_to_its_client_only(api, box):
    response = api.post(URL, order_body(), format="json")
    other = APIClient()
    other.force_authenticate(shop_account("other-shop"))

    assert other.get(response.json()["links"]["self"]).status_code == 404
    assert api.get("/api/v1/orders/requests/999999/").status_code == 404
    assert APIClient().get(response.json()["links"]["self"]).status_code == 401


def test_the_shipment_hand_off_is_a_create_shipment_command_owned_by_the_caller(api, shop, box):
    number = place(api.post(URL, order_body(), format="json")).order.number

    message = OutboxMessage.objects.get(task="logistics.tasks.create_shipment")
    assert message.key == f"shipment:{number}"
    assert message.kwargs == {
        "shipment": {
            "order_ref": number,
            "destination": "12 Analytical Row\nLondon",
            "items": [{"sku": "BOX-S", "quantity": 2}],
            "owner_id": shop.pk,
            "contact_email": "ada@example.com",
        }
    }


def test_placing_is_idempotent(api, box):
    response = api.post(URL, order_body(), format="json")
    first = place(response)

    again = place(response)

    assert again.order == first.order
    assert Order.objects.count() == 1
    assert OutboxMessage.objects.filter(task="logistics.tasks.create_shipment").count() == 1
    box.refresh_from_db()
    assert box.stock == 8


def six_boxes_twice(api: APIClient) -> tuple[Any, Any]:
    """Two requests for 6 of the 10 boxes: both accepted, only the first can be placed."""
    first = api.post(URL, order_body(lines=[{"sku": "BOX-S", "quantity": 6}]), format="json")
    second = api.post(
        URL,
        order_body(customer_email="grace@example.com", lines=[{"sku": "BOX-S", "quantity": 6}]),
        format="json",
    )
    return first, second


def test_a_request_the_stock_no_longer_covers_is_rejected_with_field_errors(api, box):
    first, second = six_boxes_twice(api)
    place(first)

    rejected = place(second)

    assert (first.status_code, second.status_code) == (202, 202)  # both fitted when they came
    assert rejected.status == OrderRequest.REJECTED
    assert rejected.order is None
    assert rejected.errors == {"lines": ["insufficient stock for BOX-S (requested 6, available 4)"]}
    assert api.get(second.json()["links"]["self"]).json()["rejection"] == rejected.errors
    assert Order.objects.count() == 1
    box.refresh_from_db()
    assert box.stock == 4


def test_a_rejected_request_mails_its_customer_why_once(api, box):
    from notifications.rendering import render_mail

    first, second = six_boxes_twice(api)
    place(first)
    rejected = place(second)

    place(second)  # a redelivered message finds the request processed: no second mail

    mail = Notification.objects.get(kind="order_request_rejected")
    assert (mail.recipient, mail.idempotency_key, mail.status) == (
        "grace@example.com",
        f"order-request-rejected:{rejected.pk}",
        "queued",
    )
    text = render_mail(mail.kind, mail.context).text
    assert f"request {rejected.pk}" in text
    assert "insufficient stock for BOX-S (requested 6, available 4)" in text


def test_a_placement_that_fails_is_retried(api, box, monkeypatch):
    from django.db import OperationalError

    from monolithos import intake

    request_id = api.post(URL, order_body(), format="json").json()["id"]
    place_for_real = intake.place
    calls: list[int] = []

    def database_away_once(pk: int) -> Any:
        calls.append(pk)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return place_for_real(pk)

    monkeypatch.setattr(intake, "place", database_away_once)

    result = place_order_request.apply(args=(request_id,))

    assert result.result == "placed"
    assert calls == [request_id, request_id]
    assert OrderRequest.objects.get(pk=request_id).status == OrderRequest.PLACED


def test_a_request_whose_message_was_lost_is_handed_to_the_outbox_by_the_sweep(
    api, box, settings, monkeypatch
):
    settings.OWED_WORK_LEASE_SECONDS = 60
    monkeypatch.setattr(broker, "send", lambda task, **options: None)  # taken, then lost
    # The intake queue as the sweep peeks at it: empty, whatever the run's broker holds.
    monkeypatch.setattr(broker, "queue_head", lambda queue: broker.QueueHead(known=True))
    recent = api.post(URL, order_body(), format="json").json()["id"]
    lost = api.post(URL, order_body(customer_email="grace@example.com"), format="json").json()
    OrderRequest.objects.filter(pk=lost["id"]).update(
        created_at=timezone.now() - timedelta(seconds=61)
    )

    assert sweep_order_requests.apply().result == 1
    [message] = OutboxMessage.objects.all()
    assert (message.key, message.task, message.kwargs) == (
        f"order-request:{lost['id']}",
        "monolithos.tasks.place_order_request",
        {"request_id": lost["id"]},
    )
    assert recent != lost["id"]
    # From now on the outbox follows it to its placement: the sweep leaves it alone.
    assert sweep_order_requests.apply().result == 0


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
    assert not OrderRequest.objects.exists()


def test_a_body_that_is_not_json_answers_400(api, box):
    response = api.post(URL, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert not OrderRequest.objects.exists()


def test_anonymous_callers_are_refused(box):
    response = APIClient().post(URL, order_body(), format="json")

    assert response.status_code == 401
    assert not OrderRequest.objects.exists()


# ---------------------------------------------------------------------- Idempotency-Key


def post(api: APIClient, key: str, **overrides: Any) -> Any:
    return api.post(URL, order_body(**overrides), format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retried_post_with_the_same_key_returns_the_first_request(api, box):
    first = post(api, "order-attempt-1")
    again = post(api, "order-attempt-1")

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert OrderRequest.objects.count() == 1


def test_a_retry_after_the_order_was_placed_shows_the_order(api, box):
    first = post(api, "order-attempt-1")
    order = place(first).order

    again = post(api, "order-attempt-1")

    assert again.status_code == 202
    assert again.json()["order"]["number"] == order.number
    assert Order.objects.count() == 1
    box.refresh_from_db()
    assert box.stock == 8


def test_a_retry_replays_even_when_the_stock_is_gone_since(api, box):
    first = post(api, "order-attempt-1", lines=[{"sku": "BOX-S", "quantity": 10}])
    place(first)

    again = post(api, "order-attempt-1", lines=[{"sku": "BOX-S", "quantity": 10}])

    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]


def test_the_same_key_with_a_different_body_answers_422(api, box):
    post(api, "order-attempt-1")
    response = post(api, "order-attempt-1", lines=[{"sku": "BOX-S", "quantity": 3}])

    assert response.status_code == 422
    assert "different request body" in response.json()["message"]
    assert OrderRequest.objects.count() == 1


def test_a_rejected_request_stores_no_key_so_a_corrected_one_may_use_it(api, box):
    rejected = post(api, "order-attempt-1", lines=[{"sku": "BOX-S", "quantity": 50}])
    corrected = post(api, "order-attempt-1")

    assert (rejected.status_code, corrected.status_code) == (400, 202)
    assert OrderRequest.objects.count() == 1


def test_keys_belong_to_their_client(api, box):
    other = APIClient()
    other.force_authenticate(shop_account("other-shop"))

    first = post(api, "shared-key")
    second = post(other, "shared-key")

    assert second.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("key", ["", " ", "k" * 256])
def test_a_malformed_key_answers_400(api, box, key):
    response = post(api, key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["extra"]["fields"]
    assert not OrderRequest.objects.exists()


def test_the_hourly_purge_deletes_processed_requests_past_the_keys_retention(api, box, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    old = place(post(api, "old-key"))
    recent = place(post(api, "recent-key", customer_email="grace@example.com"))
    waiting = post(api, "waiting-key", customer_email="alan@example.com").json()["id"]
    long_ago = timezone.now() - timedelta(hours=25)
    OrderRequest.objects.filter(pk__in=[old.pk, waiting]).update(
        created_at=long_ago, processed_at=None
    )
    OrderRequest.objects.filter(pk=old.pk).update(processed_at=long_ago)

    assert purge_order_requests.apply().result == 1
    # A request never placed is kept whatever its age; the purged request's order stays.
    assert sorted(OrderRequest.objects.values_list("pk", flat=True)) == [recent.pk, waiting]
    assert Order.objects.filter(pk=old.order_id).exists()
    assert post(api, "old-key").json()["id"] not in (old.pk, recent.pk)
