"""The outbox on every alias that publishes: each holds the messages of its own writers.

A message is recorded in the transaction of the change it announces, so the shipment's events
live on ``logistics`` beside the shipments (docs/adr/0021). Relay, sweep, completion, metrics and
the admin each follow a message on the alias that holds it; deliveries in progress and failed
tasks stay on ``default``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import router, transaction
from django.urls import reverse
from django.utils import timezone

from outbox import broker, completion, owed, relay
from outbox.broker import QueueHead
from outbox.messages import RELAY_TASK, Message, publish
from outbox.metrics import BacklogCollector
from outbox.models import FailedTask, OutboxMessage, TaskDelivery, message_aliases
from outbox.tasks import sweep_outbox
from tests.conftest import ROOT
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

TASK = "monolithos.tasks.apply_shipment_event"


class HoldingBroker:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, task: str, *, args: Any = None, kwargs: Any = None, **options: Any) -> None:
        if task != RELAY_TASK:
            self.sent.append({"task": task, "kwargs": kwargs, "task_id": options["task_id"]})


@pytest.fixture
def held(monkeypatch) -> HoldingBroker:
    holding = HoldingBroker()
    monkeypatch.setattr(broker, "send", holding.send)
    # Whatever it took is not waiting in a queue any more.
    monkeypatch.setattr(
        broker, "queue_heads", lambda tasks: dict.fromkeys(tasks, QueueHead(known=True))
    )
    return holding


def on_logistics(key: str) -> OutboxMessage:
    with transaction.atomic(using="logistics"):
        publish(Message(task=TASK, key=key, kwargs={"event": key}), using="logistics")
    return OutboxMessage.objects.using("logistics").get(key=key)


def test_the_router_puts_the_message_table_on_both_aliases_and_the_rest_on_default():
    assert message_aliases() == ["default", "logistics"]
    assert router.allow_migrate_model("logistics", OutboxMessage) is True
    assert router.allow_migrate_model("logistics", FailedTask) is False
    assert router.allow_migrate_model("logistics", TaskDelivery) is False
    assert router.allow_migrate("logistics", "outbox") is False  # hints-less operations


def test_a_message_is_recorded_on_the_alias_of_the_transaction_that_publishes_it():
    message = on_logistics("event:1")

    assert message._state.db == "logistics"
    assert not OutboxMessage.objects.using("default").filter(key="event:1").exists()
    # An instance stays on the alias it was read from.
    message.refresh_from_db()
    message.save(update_fields=["last_error"])
    assert OutboxMessage.objects.using("logistics").filter(key="event:1").exists()


def test_a_task_id_names_the_message_and_its_alias():
    assert completion.task_id_for("shipment:ORD-1") == "outbox:shipment:ORD-1"
    assert (
        completion.task_id_for("event:ORD-1:v2", "logistics") == "outbox@logistics:event:ORD-1:v2"
    )
    assert completion.message_of("outbox:shipment:ORD-1") == completion.MessageRef("shipment:ORD-1")
    assert completion.message_of("outbox@logistics:event:ORD-1:v2") == completion.MessageRef(
        "event:ORD-1:v2", "logistics"
    )
    assert completion.message_of("4b2a-celery-uuid") is None


def test_the_relay_publishes_a_logistics_message_under_its_alias_and_the_run_marks_it_there(held):
    on_logistics("event:1")

    assert relay.relay(["event:1"]) == 0  # not on default
    assert relay.relay(["event:1"], "logistics") == 1

    [sent] = held.sent
    assert sent["task_id"] == "outbox@logistics:event:1"
    run, token = completion.begin(sent["task_id"])
    try:
        completion.done_in_this_transaction()  # a default transaction cannot mark it
        assert OutboxMessage.objects.using("logistics").get(key="event:1").done_at is None
        completion.finished(run)
    finally:
        completion.end(token)
    assert OutboxMessage.objects.using("logistics").get(key="event:1").done_at is not None


def test_the_sweep_relays_and_hands_over_again_on_every_alias(held, settings):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 30
    on_logistics("stranded")
    on_logistics("lost")
    long_ago = timezone.now() - timedelta(minutes=5)
    logistics = OutboxMessage.objects.using("logistics")
    logistics.filter(key="stranded").update(created_at=long_ago)
    logistics.filter(key="lost").update(
        created_at=long_ago, published_at=long_ago, lease_expires_at=long_ago, publications=1
    )

    assert sweep_outbox.apply().result == 2

    assert sorted(sent["task_id"] for sent in held.sent) == [
        "outbox@logistics:lost",
        "outbox@logistics:stranded",
    ]
    assert logistics.get(key="lost").publications == 2


def test_a_message_given_up_on_is_a_failed_task_on_default_and_runs_again_on_its_alias(
    held, settings
):
    settings.OUTBOX_MAX_PUBLICATIONS = 1
    on_logistics("spent")
    long_ago = timezone.now() - timedelta(hours=1)
    OutboxMessage.objects.using("logistics").filter(key="spent").update(
        published_at=long_ago, lease_expires_at=long_ago, publications=1
    )

    sweep_outbox.apply()

    failed = FailedTask.objects.get(task_id="outbox@logistics:spent")
    assert failed.reason == "unfinished"
    assert OutboxMessage.objects.using("logistics").get(key="spent").failed_at is not None
    message = completion.message_of(failed.task_id)
    assert message is not None and relay.hand_over_again(message.key, message.alias)
    assert [sent["task_id"] for sent in held.sent] == ["outbox@logistics:spent"]


def test_the_backlog_and_the_owed_work_count_the_messages_of_every_alias(settings):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 30
    with transaction.atomic():
        publish(Message(task="logistics.tasks.create_shipment", key="shipment:ORD-1"))
    on_logistics("event:1")
    OutboxMessage.objects.using("logistics").filter(key="event:1").update(
        created_at=timezone.now() - timedelta(minutes=5)
    )

    gauges = {family.name: family for family in BacklogCollector().collect()}
    assert gauges["monolithos_outbox_backlog"].samples[0].value == 2
    assert gauges["monolithos_outbox_oldest_age_seconds"].samples[0].value >= 300
    now_owed = owed.messages(timezone.now())
    assert now_owed["apply_shipment_event"].past_lease == 1
    assert now_owed["create_shipment"].past_lease == 0


def test_the_admin_lists_shows_and_relays_the_messages_of_one_alias_at_a_time(client, held):
    client.force_login(StaffUserFactory(is_superuser=True))
    with transaction.atomic():
        publish(Message(task="logistics.tasks.create_shipment", key="on-default"))
    message = on_logistics("on-logistics")
    changelist = reverse("admin:outbox_outboxmessage_changelist")

    default_page = client.get(changelist).content.decode()
    logistics_page = client.get(changelist, {"database": "logistics"}).content.decode()
    detail = client.get(
        reverse("admin:outbox_outboxmessage_change", args=[message.pk]),
        {"_changelist_filters": "database=logistics"},
    )
    relayed = client.post(
        f"{changelist}?database=logistics",
        {"action": "relay_now", "_selected_action": [message.pk]},
    )

    assert "on-default" in default_page and "on-logistics" not in default_page
    assert "on-logistics" in logistics_page and "on-default" not in logistics_page
    assert detail.status_code == 200 and "on-logistics" in detail.content.decode()
    assert relayed.status_code == 302
    assert [sent["task_id"] for sent in held.sent] == ["outbox@logistics:on-logistics"]


def test_a_database_migrated_before_the_table_was_on_logistics_gets_it(tmp_path: Path):
    """0001 and 0002 were recorded applied on ``logistics`` with no table there; 0003 adds it."""
    env = {
        **os.environ,
        "MONOLITHOS_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'default.sqlite3'}",
        "LOGISTICS_DATABASE_URL": f"sqlite:///{tmp_path / 'logistics.sqlite3'}",
    }

    def migrate_logistics() -> None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--database", "logistics"],
            cwd=ROOT, env=env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    migrate_logistics()
    with sqlite3.connect(tmp_path / "logistics.sqlite3") as database:
        # As the previous release left it: the outbox's migrations recorded, no table.
        database.execute("DROP TABLE outbox_outboxmessage")
        database.execute("DELETE FROM django_migrations WHERE app = 'outbox' AND name LIKE '0003%'")

    migrate_logistics()

    with sqlite3.connect(tmp_path / "logistics.sqlite3") as database:
        tables = {row[0] for row in database.execute("SELECT name FROM sqlite_master")}
    assert "outbox_outboxmessage" in tables
    assert "outbox_failedtask" not in tables
    assert "outbox_owed" in tables  # with its indexes
