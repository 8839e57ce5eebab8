"""Completion, not publication, ends an outbox message (docs/adr/0015).

The broker here takes every message and runs nothing until a test runs it: a message it "lost"
is one the test never runs. Time passes for the sweep by moving a message's lease into the past.
The receivers are the real ones (a mail, a shipment, an invoice PDF, an order request), so that
"handed over again" is checked against the effects, not against a counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from celery import current_app, shared_task
from celery.exceptions import Retry
from django.db import transaction
from django.utils import timezone
from prometheus_client import REGISTRY

import logistics.tasks
import notifications.tasks
from logistics.models import ShipmentRecord
from monolithos import intake
from monolithos.models import Invoice, OrderRequest
from monolithos.tasks import place_order_request
from notifications.models import Notification
from notifications.services import record_notification
from outbox import broker, completion, relay
from outbox.broker import QueueHead
from outbox.messages import RELAY_TASK, Message, publish
from outbox.models import FailedTask, OutboxMessage
from outbox.reliability import count_delivery
from outbox.tasks import sweep_outbox
from tests.factories import ProductFactory, ShopAccountFactory

pytestmark = pytest.mark.django_db

# The receivers' tasks, registered with the Celery app (a worker imports them the same way).
RECEIVERS = (logistics.tasks, notifications.tasks)


@dataclass
class HoldingBroker:
    """Takes every message and keeps it; ``head`` is what a peek at any queue answers."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    # Empty: whatever it took is not waiting in a queue any more.
    head: QueueHead = field(default_factory=lambda: QueueHead(known=True))

    def send(self, task: str, *, args: Any = None, kwargs: Any = None, **options: Any) -> None:
        if task != RELAY_TASK:
            self.sent.append({"task": task, "kwargs": kwargs, "task_id": options["task_id"]})

    def sent_for(self, key: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["task_id"] == completion.task_id_for(key)]

    def run(self, sent: dict[str, Any]) -> Any:
        """A worker runs the message as the broker delivered it (same task id)."""
        return current_app.tasks[sent["task"]].apply(kwargs=sent["kwargs"], task_id=sent["task_id"])


@pytest.fixture
def held(monkeypatch) -> HoldingBroker:
    holding = HoldingBroker()
    monkeypatch.setattr(broker, "send", holding.send)
    monkeypatch.setattr(broker, "queue_heads", lambda tasks: dict.fromkeys(tasks, holding.head))
    return holding


@pytest.fixture(autouse=True)
def _no_dispatch(monkeypatch) -> list[str]:
    """create_shipment enqueues the dispatch: not part of what these tests follow."""
    from logistics.tasks import dispatch_shipment

    enqueued: list[str] = []
    monkeypatch.setattr(dispatch_shipment, "delay", enqueued.append)
    return enqueued


def lease_runs_out(key: str) -> None:
    """The message was handed over long ago and its lease has run out."""
    now = timezone.now()
    OutboxMessage.objects.filter(key=key).update(
        published_at=now - timedelta(hours=1), lease_expires_at=now - timedelta(seconds=1)
    )


def republished(task: str) -> float:
    value = REGISTRY.get_sample_value("monolithos_outbox_republished_total", {"task": task})
    return value or 0.0


def lease_of(message: OutboxMessage) -> float:
    assert message.lease_expires_at is not None and message.published_at is not None
    return (message.lease_expires_at - message.published_at).total_seconds()


def mail_message(key: str = "order-confirmation:ORD-000001") -> str:
    """A confirmation mail recorded with its outbox message, relayed once; its outbox key."""
    record_notification(
        kind="order_confirmation",
        recipient="ada@example.com",
        context={
            "order_number": "ORD-000001",
            "total": "25.00",
            "shipping_name": "Ada",
            "lines": "2 x BOX-S",
        },
        idempotency_key=key,
    )
    outbox_key = f"notification:{key}"
    assert relay.relay([outbox_key]) == 1
    return outbox_key


def test_a_message_published_and_never_run_is_handed_over_again_after_its_lease_and_done_once(
    held, mailoutbox, settings
):
    settings.OUTBOX_LEASE_SECONDS = 30
    key = mail_message()  # the broker took it, then lost it: nobody ran it
    first = OutboxMessage.objects.get(key=key)
    assert first.done_at is None and first.publications == 1
    assert lease_of(first) == 30

    assert sweep_outbox.apply().result == 0  # within its lease: it may still be on its way
    lease_runs_out(key)
    before = republished("notifications.tasks.send_notification")
    assert sweep_outbox.apply().result == 1
    assert republished("notifications.tasks.send_notification") == before + 1

    [lost, again] = held.sent_for(key)
    assert again == lost  # the same task, arguments and task id
    second = OutboxMessage.objects.get(key=key)
    assert second.publications == 2
    assert lease_of(second) == 60  # doubled
    held.run(again)
    assert len(mailoutbox) == 1
    assert OutboxMessage.objects.get(key=key).done_at is not None

    lease_runs_out(key)
    assert sweep_outbox.apply().result == 0
    assert len(held.sent_for(key)) == 2
    assert len(mailoutbox) == 1


@pytest.fixture
def placed_order(held, django_capture_on_commit_callbacks) -> OrderRequest:
    """An order placed by the intake worker, its four messages handed to the broker."""
    ProductFactory(sku="BOX-S", price="12.50", stock=10)
    shop = ShopAccountFactory()
    request = OrderRequest.objects.create(
        owner=shop,
        payload={
            "customer_name": "Ada Lovelace",
            "customer_email": "ada@example.com",
            "shipping_address": "12 Analytical Row",
            "lines": [{"sku": "BOX-S", "quantity": 2}],
        },
        created_at=timezone.now(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        place_order_request.apply(args=(request.pk,))  # the worker relays its messages itself
    assert len(held.sent) == 4
    request.refresh_from_db()
    return request


def test_a_message_done_is_never_handed_over_again(held, placed_order, mailoutbox):
    for sent in list(held.sent):
        held.run(sent)
    assert not OutboxMessage.objects.filter(done_at__isnull=True).exists()

    for key in OutboxMessage.objects.values_list("key", flat=True):
        lease_runs_out(key)
    assert sweep_outbox.apply().result == 0
    assert len(held.sent) == 4


def test_handing_over_again_never_doubles_an_effect(held, placed_order, mailoutbox, monkeypatch):
    from monolithos import invoicing

    renders: list[str] = []
    render = invoicing.render_invoice_pdf

    def counted(invoice: Invoice, **options: Any) -> bytes:
        renders.append(invoice.number)
        return render(invoice, **options)

    monkeypatch.setattr(invoicing, "render_invoice_pdf", counted)
    for sent in list(held.sent):
        held.run(sent)
        held.run(sent)  # delivered again: what a hand-over again of a slow message does

    order = placed_order.order
    assert ShipmentRecord.objects.using("logistics").filter(order_ref=order.number).count() == 1
    invoice = Invoice.objects.get(order=order)
    assert renders == [invoice.number]
    assert invoice.rendered_version == 1 and invoice.pdf.name == f"invoices/{invoice.number}.pdf"
    assert len(mailoutbox) == 2
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert not OutboxMessage.objects.filter(done_at__isnull=True).exists()


def test_a_worker_killed_after_its_commit_costs_one_idempotent_run_at_most(
    held, placed_order, mailoutbox, monkeypatch
):
    # Each task's process dies right after its task's transactions committed, before it returns.
    monkeypatch.setattr(completion, "finished", lambda run: None)
    for sent in list(held.sent):
        held.run(sent)

    owed = set(OutboxMessage.objects.filter(done_at__isnull=True).values_list("task", flat=True))
    # The mails and the PDF were marked done in the transaction of their effect; the shipment
    # lives on the other database and is marked after the task returns.
    assert owed == {"logistics.tasks.create_shipment"}
    monkeypatch.undo()
    key = f"shipment:{placed_order.order.number}"
    lease_runs_out(key)
    assert sweep_outbox.apply().result == 1
    held.run(held.sent_for(key)[-1])

    assert not OutboxMessage.objects.filter(done_at__isnull=True).exists()
    order_ref = placed_order.order.number
    assert ShipmentRecord.objects.using("logistics").filter(order_ref=order_ref).count() == 1
    assert len(mailoutbox) == 2


def test_a_running_task_is_left_alone_until_its_hard_time_limit_says_its_worker_died(
    held, settings
):
    settings.CELERY_TASK_TIME_LIMIT = 90
    key = mail_message()
    lease_runs_out(key)
    count_delivery(completion.task_id_for(key), "notifications.tasks.send_notification")

    assert sweep_outbox.apply().result == 0  # started a moment ago: still running

    from outbox.models import TaskDelivery

    TaskDelivery.objects.update(started_at=timezone.now() - timedelta(seconds=91))
    assert sweep_outbox.apply().result == 1  # nothing runs longer: its worker was killed


def test_a_message_its_queue_may_still_hold_is_left_waiting_behind_the_backlog(held):
    key = mail_message()
    lease_runs_out(key)
    published_at = OutboxMessage.objects.get(key=key).published_at
    assert published_at is not None

    # A herd: the oldest message waiting in the queue was sent before this one.
    held.head = QueueHead(known=True, sent_at=published_at.timestamp() - 5)
    assert sweep_outbox.apply().result == 0

    # The queue moved past it (its head was sent later): it is not in there any more.
    held.head = QueueHead(known=True, sent_at=published_at.timestamp() + 5)
    assert sweep_outbox.apply().result == 1


def test_a_broker_that_cannot_say_what_it_holds_leaves_the_lease_to_decide(held):
    key = mail_message()
    held.head = QueueHead(known=False)  # the filesystem transport
    assert sweep_outbox.apply().result == 0
    lease_runs_out(key)
    assert sweep_outbox.apply().result == 1


def test_each_hand_over_doubles_the_lease_and_the_last_one_gives_up(held, settings):
    settings.OUTBOX_LEASE_SECONDS = 30
    settings.OUTBOX_LEASE_MAX_SECONDS = 100
    settings.OUTBOX_MAX_PUBLICATIONS = 4
    key = mail_message()
    leases = []
    for _ in range(5):
        message = OutboxMessage.objects.get(key=key)
        if message.failed_at is None:
            leases.append(lease_of(message))
        lease_runs_out(key)
        sweep_outbox.apply()

    assert leases == [30, 60, 100, 100]  # doubling, capped
    message = OutboxMessage.objects.get(key=key)
    assert message.publications == 4 and message.failed_at is not None
    failed = FailedTask.objects.get(task_id=completion.task_id_for(key))
    assert (failed.task, failed.reason, failed.deliveries) == (
        "notifications.tasks.send_notification",
        "unfinished",
        4,
    )
    assert len(held.sent_for(key)) == 4

    # Run again from the admin: owed again, from its first lease, and followed to its end.
    assert relay.hand_over_again(key)
    message = OutboxMessage.objects.get(key=key)
    assert (message.publications, message.failed_at) == (1, None)
    assert len(held.sent_for(key)) == 5


@shared_task(name="tests.outbox.retries_later")
def retries_later() -> None:
    # What Task.retry raises in a worker once it has sent the retry (run eagerly, retry()
    # would run the task again on the spot instead).
    raise Retry("retry later", when=300)  # type: ignore[arg-type]  # numbers.Real in its stub


@shared_task(name="tests.outbox.always_fails")
def always_fails() -> None:
    raise RuntimeError("cannot do it")


def test_a_retry_stretches_the_lease_over_its_countdown(held, settings):
    settings.OUTBOX_LEASE_SECONDS = 30
    with transaction.atomic():
        publish(Message(task="tests.outbox.retries_later", key="retry:1"))
    relay.relay(["retry:1"])
    before = timezone.now()

    assert held.run(held.sent_for("retry:1")[0]).state == "RETRY"

    message = OutboxMessage.objects.get(key="retry:1")
    assert message.done_at is None and message.lease_expires_at is not None
    assert message.lease_expires_at >= before + timedelta(seconds=330)


def test_a_task_that_fails_for_good_ends_its_message_as_failed(held):
    with transaction.atomic():
        publish(Message(task="tests.outbox.always_fails", key="fails:1"))
    relay.relay(["fails:1"])

    assert held.run(held.sent_for("fails:1")[0]).state == "FAILURE"

    message = OutboxMessage.objects.get(key="fails:1")
    assert message.failed_at is not None and message.done_at is None
    assert FailedTask.objects.get(task_id="outbox:fails:1").reason == "failed"
    lease_runs_out("fails:1")
    assert sweep_outbox.apply().result == 0


def test_an_order_request_handed_over_by_the_outbox_is_done_with_its_placement(held, placed_order):
    # Placed already: a message that asks again (a sweep's hand-over) finds it and is done.
    with transaction.atomic():
        publish(
            Message(
                task=intake.PLACE_TASK,
                key=f"order-request:{placed_order.pk}",
                kwargs={"request_id": placed_order.pk},
            )
        )
    relay.relay([f"order-request:{placed_order.pk}"])
    held.run(held.sent_for(f"order-request:{placed_order.pk}")[0])

    assert OutboxMessage.objects.get(key=f"order-request:{placed_order.pk}").done_at is not None
    assert OrderRequest.objects.get(pk=placed_order.pk).status == OrderRequest.PLACED


def test_a_task_the_broker_failed_in_turn_stays_owed_and_is_handed_over_again(
    held, placed_order, monkeypatch
):
    from kombu.exceptions import OperationalError

    from logistics.tasks import dispatch_shipment

    def broker_gone(shipment_id: str) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    key = f"shipment:{placed_order.order.number}"
    [sent] = held.sent_for(key)
    monkeypatch.setattr(dispatch_shipment, "delay", broker_gone)
    # The shipment is created, its dispatch cannot be enqueued: not a failure of the task's own.
    assert held.run(sent).state == "FAILURE"

    message = OutboxMessage.objects.get(key=key)
    assert (message.done_at, message.failed_at) == (None, None)
    assert not FailedTask.objects.exists()

    enqueued: list[str] = []
    monkeypatch.setattr(dispatch_shipment, "delay", enqueued.append)
    lease_runs_out(key)
    assert sweep_outbox.apply().result == 1
    held.run(held.sent_for(key)[-1])  # finds its shipment, enqueues its dispatch this time

    assert OutboxMessage.objects.get(key=key).done_at is not None
    order_ref = placed_order.order.number
    assert ShipmentRecord.objects.using("logistics").filter(order_ref=order_ref).count() == 1
    assert len(enqueued) == 1
