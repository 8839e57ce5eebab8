"""The transactional outbox: written with the data, relayed after commit, swept after a crash."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery import current_app, shared_task
from django.db import transaction
from django.utils import timezone

from observability import trace
from outbox import broker, relay
from outbox.messages import RELAY_TASK, Message, publish
from outbox.models import OutboxMessage
from outbox.tasks import relay_messages, sweep_outbox

pytestmark = pytest.mark.django_db

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class BrokerCalls:
    """What is handed to the broker: relay tasks (by their keys) and the tasks relayed."""

    def __init__(self) -> None:
        self.enqueued: list[list[str]] = []
        self.published: list[dict[str, Any]] = []

    def send(self, task: str, *, args: Any = None, kwargs: Any = None, **options: Any) -> None:
        if task == RELAY_TASK:
            self.enqueued.append(args[0])
        else:
            self.published.append(
                {"task": task, "kwargs": kwargs, "trace_id": trace.current_trace_id()}
            )


@pytest.fixture
def broker_calls(monkeypatch) -> BrokerCalls:
    calls = BrokerCalls()
    monkeypatch.setattr(broker, "send", calls.send)
    return calls


@pytest.fixture
def published(broker_calls: BrokerCalls) -> list[dict[str, Any]]:
    """The tasks the relay handed to the broker, with the trace id bound at that moment."""
    return broker_calls.published


@pytest.fixture
def enqueued(broker_calls: BrokerCalls) -> list[list[str]]:
    """The relay tasks enqueued on commit, by the keys each relays."""
    return broker_calls.enqueued


def message(key: str = "shipment:ORD-000001") -> Message:
    return Message(task="logistics.tasks.create_shipment", key=key, kwargs={"order": key})


def test_a_message_is_written_in_the_callers_transaction_and_rolled_back_with_it():
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(message())
        assert OutboxMessage.objects.count() == 1
        raise RuntimeError("the order failed")

    assert OutboxMessage.objects.count() == 0


def test_the_relay_is_enqueued_only_when_the_transaction_commits(
    django_capture_on_commit_callbacks, enqueued
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        publish(message("a"), message("b"))
        assert enqueued == []

    assert len(callbacks) == 1
    assert enqueued == [["a", "b"]]


@shared_task(name="tests.outbox.write_in_a_worker")
def write_in_a_worker(keys: list[str]) -> None:
    with transaction.atomic():
        publish(*(message(key) for key in keys))


@pytest.mark.django_db(transaction=True, databases=["default", "logistics"])
def test_a_message_published_outside_a_transaction_is_relayed_at_once(monkeypatch):
    sent: list[list[str]] = []
    # What the broker was handed at that moment (it serializes the keys when it takes them).
    monkeypatch.setattr(broker, "send", lambda task, *, args, **options: sent.append(list(args[0])))

    publish(message("autocommit"))  # its INSERT has committed already

    assert sent == [["autocommit"]]


def test_a_worker_relays_its_own_messages_after_the_commit_without_a_relay_task(
    published, django_capture_on_commit_callbacks, enqueued
):
    with django_capture_on_commit_callbacks(execute=True):
        write_in_a_worker.apply(args=(["order", "mail-1", "mail-2"],))

    assert enqueued == []
    assert [m["kwargs"]["order"] for m in published] == ["order", "mail-1", "mail-2"]
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()


def test_all_messages_of_one_transaction_are_relayed_together(
    django_capture_on_commit_callbacks, enqueued
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        publish(message("order"))
        publish(message("mail-1"))
        publish(message("mail-2"))

    assert enqueued == [["order", "mail-1", "mail-2"]]


def test_a_rolled_back_savepoint_does_not_take_the_relay_of_later_messages(
    django_capture_on_commit_callbacks, enqueued
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            publish(message("rolled-back"))
            raise RuntimeError("this part failed")
        publish(message("kept"))

    assert enqueued == [["kept"]]
    assert list(OutboxMessage.objects.values_list("key", flat=True)) == ["kept"]


def test_a_broker_down_at_commit_time_loses_nothing(
    django_capture_on_commit_callbacks, monkeypatch
):
    def broker_down(task: str, **options: Any) -> None:
        raise broker.BrokerUnavailable("broker unreachable")

    monkeypatch.setattr(broker, "send", broker_down)

    with django_capture_on_commit_callbacks(execute=True):
        publish(message())

    [stored] = OutboxMessage.objects.all()
    assert stored.published_at is None  # the sweep will publish it


def test_publishing_the_same_key_twice_records_one_message():
    with trace.bound_trace_id(TRACE_ID):
        publish(message())
        publish(message())

    [stored] = OutboxMessage.objects.all()
    assert (stored.task, stored.kwargs, stored.trace_id) == (
        "logistics.tasks.create_shipment",
        {"order": "shipment:ORD-000001"},
        TRACE_ID,
    )


def test_the_relay_publishes_under_the_writers_trace_id_and_only_once(published):
    with trace.bound_trace_id(TRACE_ID):
        publish(message())

    first = relay_messages.apply(args=(["shipment:ORD-000001"],)).result
    again = relay_messages.apply(args=(["shipment:ORD-000001"],)).result

    assert (first, again) == (1, 0)
    assert published == [
        {
            "task": "logistics.tasks.create_shipment",
            "kwargs": {"order": "shipment:ORD-000001"},
            "trace_id": TRACE_ID,
        }
    ]
    stored = OutboxMessage.objects.get()
    assert stored.published_at is not None and stored.attempts == 1


def test_a_failed_publish_is_counted_and_left_for_the_sweep(monkeypatch):
    def broker_down(name: str, **options: Any) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(current_app, "send_task", broker_down)
    publish(message())

    assert relay.relay(["shipment:ORD-000001"]) == 0

    stored = OutboxMessage.objects.get()
    assert stored.published_at is None
    assert stored.attempts == 1 and "broker unreachable" in stored.last_error


def test_the_sweep_publishes_messages_whose_relay_never_came(published, settings):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 30
    publish(message("stranded"), message("fresh"))
    OutboxMessage.objects.filter(key="stranded").update(
        created_at=timezone.now() - timedelta(minutes=5)
    )

    assert sweep_outbox.apply().result == 1

    assert [call["kwargs"] for call in published] == [{"order": "stranded"}]
    assert OutboxMessage.objects.get(key="fresh").published_at is None


def test_the_sweep_purges_done_messages_past_their_retention_and_never_owed_ones(
    published, settings
):
    settings.OUTBOX_RETENTION_DAYS = 7
    publish(message("old"), message("recent"), message("owed"))
    relay.relay(["old", "recent", "owed"])
    long_ago = timezone.now() - timedelta(days=8)
    OutboxMessage.objects.filter(key="old").update(done_at=long_ago)
    OutboxMessage.objects.filter(key="recent").update(done_at=timezone.now())
    OutboxMessage.objects.filter(key="owed").update(published_at=long_ago, created_at=long_ago)

    sweep_outbox.apply()

    assert list(OutboxMessage.objects.values_list("key", flat=True)) == ["recent", "owed"]


def test_the_relay_reaches_the_real_broker():
    """Relayed to the configured broker (Redis in CI): the task waits in its queue."""
    from outbox.metrics import BacklogCollector

    def depth(queue: str) -> float:
        [family] = [m for m in BacklogCollector().collect() if m.name == "monolithos_queue_depth"]
        return next(s.value for s in family.samples if s.labels["queue"] == queue)

    purge_notifications_queue()
    publish(
        Message(
            task="notifications.tasks.send_notification",
            key="notification:relay-test",
            kwargs={"idempotency_key": "relay-test"},
        )
    )

    assert relay.relay(["notification:relay-test"]) == 1
    assert depth("notifications") == 1
    purge_notifications_queue()


def purge_notifications_queue() -> None:
    with current_app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        channel.queue_purge("notifications")
