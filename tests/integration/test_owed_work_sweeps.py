"""Every hand-off is covered: the sweeps' queries find each kind of owed work (docs/adr/0015).

Each test leaves work owed the way a lost broker or a dead process leaves it, then checks that
the sweep's query finds exactly that work, hands it to the outbox, and leaves it to the outbox
afterwards. Time passes by moving ``created_at`` into the past.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery import current_app
from django.contrib.auth.models import User
from django.utils import timezone

import logistics.tasks
from logistics.models import ShipmentRecord
from logistics.public import CreateShipment, ItemIn, build_logistics_service
from monolithos import intake, placement
from monolithos.mailer import NotificationService
from monolithos.models import Order, OrderRequest
from monolithos.repository import DatabaseRepo
from monolithos.tasks import sweep_order_requests, sweep_orders_without_shipment
from notifications.models import Notification
from notifications.public import NotificationService as QueuedNotifications
from notifications.tasks import sweep_queued_notifications
from outbox import broker
from outbox.broker import QueueHead
from outbox.models import OutboxMessage
from tests.factories import ProductFactory, ShopAccountFactory

pytestmark = pytest.mark.django_db

ORDER = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "shipping_address": "12 Analytical Row",
    "lines": [{"sku": "BOX-S", "quantity": 1}],
}


@pytest.fixture(autouse=True)
def _settings(settings) -> None:
    settings.OWED_WORK_LEASE_SECONDS = 60
    settings.OWED_WORK_LOOKBACK_HOURS = 24


@pytest.fixture
def sent(monkeypatch) -> list[dict[str, Any]]:
    """What is handed to the broker (which runs nothing by itself here)."""
    handed: list[dict[str, Any]] = []
    monkeypatch.setattr(broker, "send", lambda task, **options: handed.append(options))
    monkeypatch.setattr(logistics.tasks.dispatch_shipment, "delay", lambda shipment_id: None)
    return handed


@pytest.fixture
def shop() -> User:
    ProductFactory(sku="BOX-S", price="12.50", stock=100)
    shop: User = ShopAccountFactory(email="shop@example.com")
    return shop


def accepted(shop: User, **overrides: Any) -> Order:
    """An order placed by the new path: its four messages recorded, none run."""
    return placement.accept(
        {**ORDER, **overrides},
        owner_id=shop.pk,
        repo=DatabaseRepo(),
        mails=NotificationService(QueuedNotifications()),
    )


def age(order: Order, **delta: float) -> None:
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(**delta))


def shipments(order: Order) -> int:
    return ShipmentRecord.objects.using("logistics").filter(order_ref=order.number).count()


@pytest.mark.django_db(transaction=True)  # each step commits, as in the processes it stands for
def test_an_order_whose_shipment_message_was_counted_delivered_is_handed_over_again(shop, sent):
    order = accepted(shop)
    age(order, minutes=2)
    # Published under ADR 0009's meaning: counted delivered, lost with the broker's data.
    OutboxMessage.objects.filter(key=f"shipment:{order.number}").update(
        published_at=timezone.now(), done_at=timezone.now()
    )

    assert sweep_orders_without_shipment.apply().result == 1  # relays after its commit

    message = OutboxMessage.objects.get(key=f"shipment:{order.number}")
    assert message.done_at is None and message.published_at is not None  # relayed again
    [handed] = [m for m in sent if str(m.get("task_id")).startswith("outbox:shipment:")]
    assert handed["task_id"] == f"outbox:shipment:{order.number}"
    current_app.tasks[logistics.tasks.create_shipment.name].apply(
        kwargs=handed["kwargs"], task_id=handed["task_id"]
    )
    assert shipments(order) == 1
    assert OutboxMessage.objects.get(key=f"shipment:{order.number}").done_at is not None
    assert sweep_orders_without_shipment.apply().result == 0


def test_only_orders_owed_a_shipment_that_nothing_hands_over_are_found(shop, sent):
    # The legacy path committed the order, then its process died before creating the shipment:
    # no message at all.
    legacy = accepted(shop, customer_email="legacy@example.com")
    OutboxMessage.objects.filter(key=f"shipment:{legacy.number}").delete()
    shipped = accepted(shop, customer_email="shipped@example.com")
    build_logistics_service().create_shipment(placement.shipment_command(shipped))
    owed = accepted(shop, customer_email="owed@example.com")  # its message still owed
    cancelled = accepted(shop, customer_email="cancelled@example.com")
    Order.objects.filter(pk=cancelled.pk).update(status="cancelled")
    recent = accepted(shop, customer_email="recent@example.com")
    ancient = accepted(shop, customer_email="ancient@example.com")
    for order in (legacy, shipped, owed, cancelled):
        age(order, minutes=2)
    age(ancient, hours=25)  # beyond the lookback
    for order in (shipped, cancelled, ancient, recent):
        OutboxMessage.objects.filter(key=f"shipment:{order.number}").update(done_at=timezone.now())

    from monolithos import handoffs

    found = handoffs.orders_without_shipment(limit=100)

    # Not the one still owed by its message, nor the one within its lease: the outbox and the
    # lease cover those.
    assert [order.number for order in found] == [legacy.number]


def test_the_finder_reads_every_batch_of_candidates(shop, sent, monkeypatch):
    from monolithos import handoffs

    monkeypatch.setattr(handoffs, "BATCH", 2)
    orders = [accepted(shop, customer_email=f"c{n}@example.com") for n in range(5)]
    for order in orders:
        age(order, minutes=2)
    OutboxMessage.objects.filter(task=logistics.tasks.create_shipment.name).update(
        done_at=timezone.now()
    )
    for order in orders[:4]:
        build_logistics_service().create_shipment(placement.shipment_command(order))

    assert [order.number for order in handoffs.orders_without_shipment(limit=10)] == [
        orders[4].number
    ]


def received_request(shop: User, seconds_ago: float) -> OrderRequest:
    return OrderRequest.objects.create(
        owner=shop,
        payload=ORDER,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        created_at=timezone.now() - timedelta(seconds=seconds_ago),
    )


def test_a_request_its_queue_may_still_hold_is_left_waiting_behind_the_backlog(
    shop, sent, monkeypatch
):
    request = received_request(shop, seconds_ago=600)  # a herd: ten minutes in the queue
    head = QueueHead(known=True, sent_at=(request.created_at - timedelta(seconds=30)).timestamp())
    monkeypatch.setattr(broker, "queue_head", lambda queue: head)

    assert intake.waiting_too_long(100) == []
    assert sweep_order_requests.apply().result == 0

    # The queue moved past it: its message is not in there any more.
    head = QueueHead(known=True, sent_at=(request.created_at + timedelta(seconds=30)).timestamp())
    assert intake.waiting_too_long(100) == [(request.pk, request.trace_id)]


def test_requests_are_handed_over_after_their_lease_when_the_queue_is_empty_or_unknown(
    shop, sent, monkeypatch
):
    lost = received_request(shop, seconds_ago=61)
    received_request(shop, seconds_ago=59)  # within its lease
    placed = received_request(shop, seconds_ago=300)
    OrderRequest.objects.filter(pk=placed.pk).update(status="placed")

    for head in (QueueHead(known=True), broker.UNKNOWN):
        monkeypatch.setattr(broker, "queue_head", lambda queue, head=head: head)
        assert intake.waiting_too_long(100) == [(lost.pk, lost.trace_id)]

    def broker_down(queue: str) -> QueueHead:
        raise broker.BrokerUnavailable("down")

    monkeypatch.setattr(broker, "queue_head", broker_down)
    assert sweep_order_requests.apply().result == 1  # recorded now, relayed when it is back
    message = OutboxMessage.objects.get(key=f"order-request:{lost.pk}")
    assert message.trace_id == lost.trace_id


def test_an_inline_mail_whose_process_died_before_sending_is_found(sent, settings):

    # Recorded for inline delivery (the legacy pages), no outbox message; the send never came.

    from notifications.services import record_notification

    record_notification(
        kind="order_cancelled",
        recipient="ada@example.com",
        context={"order_number": "ORD-000001", "shipping_name": "Ada"},
        idempotency_key="order-cancelled:ORD-000001",
        hand_to_worker=False,
    )
    Notification.objects.update(created_at=timezone.now() - timedelta(minutes=2))

    assert sweep_queued_notifications.apply().result == 1
    assert OutboxMessage.objects.get().key == "notification:order-cancelled:ORD-000001"
    assert sweep_queued_notifications.apply().result == 0


def lost_and_held_dispatches() -> None:
    """Two shipments due three minutes ago: one whose task was lost (no lease left), one whose
    retry still holds its lease."""
    logistics = build_logistics_service()
    now = timezone.now()
    for number, claimed_until in (("ORD-900001", None), ("ORD-900002", now + timedelta(minutes=1))):
        shipment = logistics.create_shipment(
            CreateShipment(
                order_ref=number, destination="1 Dock Road", items=[ItemIn(sku="BOX-S", quantity=1)]
            )
        )
        ShipmentRecord.objects.using("logistics").filter(pk=shipment.id).update(
            attempt_count=1,
            next_attempt_at=now - timedelta(minutes=3),
            claimed_until=claimed_until,
        )


@pytest.mark.django_db(databases=["default", "logistics"])
def test_the_owed_work_gauges_count_each_kind_past_its_lease_and_the_oldest(shop, settings):
    from outbox.metrics import BacklogCollector

    settings.OUTBOX_RELAY_GRACE_SECONDS = 30
    order = accepted(shop)  # four messages, unpublished
    OutboxMessage.objects.filter(task="logistics.tasks.create_shipment").update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    received_request(shop, seconds_ago=120)
    received_request(shop, seconds_ago=10)
    # Its relay died after the broker took it, and its task ran: done, never recorded published.
    OutboxMessage.objects.create(key="done:1", task="x.y", done_at=timezone.now())
    lost_and_held_dispatches()
    assert order.number

    families = {family.name: family for family in BacklogCollector().collect()}
    [backlog] = families["monolithos_outbox_backlog"].samples
    # The order's four messages on default, and the two shipments' "created" events on
    # logistics: owed, not yet published.
    assert backlog.value == 6

    def samples(name: str) -> dict[str, float]:
        return {sample.labels["kind"]: sample.value for sample in families[name].samples}

    assert samples("monolithos_owed_work_past_lease") == {
        "create_shipment": 1,
        "render_invoice": 0,
        "send_notification": 0,
        "order_request": 1,
        "dispatch_shipment": 1,
        "apply_shipment_event": 0,
    }
    ages = samples("monolithos_owed_work_oldest_age_seconds")
    assert 179 <= ages["dispatch_shipment"] <= 210
    assert 299 <= ages["create_shipment"] <= 330
    assert 119 <= ages["order_request"] <= 150
    assert ages["render_invoice"] < 30
