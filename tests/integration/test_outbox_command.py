"""``manage.py outbox``: what the outbox owes, failed work run again once, done messages purged.

The outbox's rows are real (the ``default`` database); what is handed to the broker is recorded
in place of the broker (``outbox.broker.send``), as the outbox's other tests do.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from observability import trace
from outbox import broker
from outbox.completion import task_id_for
from outbox.models import FailedTask, OutboxMessage

pytestmark = pytest.mark.django_db

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SHIPMENT = "logistics.tasks.create_shipment"
MAIL = "notifications.tasks.send_notification"


@pytest.fixture
def sent(monkeypatch) -> list[dict[str, Any]]:
    published: list[dict[str, Any]] = []

    def send(task: str, *, args: Any = None, kwargs: Any = None, **options: Any) -> None:
        published.append(
            {"task": task, "args": args, "kwargs": kwargs, "task_id": options.get("task_id"),
             "trace_id": trace.current_trace_id()}
        )  # fmt: skip

    monkeypatch.setattr(broker, "send", send)
    return published


def outbox(*args: str) -> str:
    out = io.StringIO()
    call_command("outbox", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as error:
        outbox(*args)
    return error.value


def message(key: str, task: str = SHIPMENT, **fields: Any) -> OutboxMessage:
    created = OutboxMessage.objects.create(key=key, task=task, kwargs={"n": key})
    if fields:
        OutboxMessage.objects.filter(pk=created.pk).update(**fields)
    return OutboxMessage.objects.get(pk=created.pk)


def given_up(key: str, task: str = SHIPMENT) -> FailedTask:
    now = timezone.now()
    message(key, task, published_at=now, publications=10, failed_at=now)
    return FailedTask.objects.create(
        task_id=task_id_for(key), task=task, kwargs={"n": key}, reason="unfinished",
        trace_id=TRACE_ID,
    )  # fmt: skip


def test_status_counts_by_task_what_is_owed_late_given_up_done_and_failed():
    now, long_ago = timezone.now(), timezone.now() - timedelta(hours=1)
    message("shipment:1", created_at=long_ago)  # never relayed: past its grace
    message("shipment:2", published_at=now, lease_expires_at=now + timedelta(minutes=5))
    message("shipment:3", done_at=now)
    given_up("shipment:4")
    message("mail:1", MAIL, done_at=now)

    printed = outbox("status")

    assert printed.splitlines()[0] == (
        "outbox: 2 owed (1 past their lease), 1 given up on, 2 done; 1 failed task(s) not run again"
    )
    [shipments] = [line for line in printed.splitlines() if line.startswith(SHIPMENT)]
    assert shipments.split()[1:7] == ["2", "1", "1", "1", "1", "1"]
    tasks = {row["task"]: row for row in json.loads(outbox("status", "--json"))}
    assert (tasks[MAIL]["owed"], tasks[MAIL]["done"]) == (0, 1)
    assert tasks[SHIPMENT]["oldest_owed"].startswith(str(long_ago.date()))


def test_retry_makes_a_given_up_message_owed_again_and_hands_it_over_once(sent):
    given_up("shipment:ORD-000001")

    first = outbox("retry", "shipment:ORD-000001")
    again = outbox("retry", "shipment:ORD-000001")

    assert first == "outbox:shipment:ORD-000001: owed again, its message handed to the broker\n"
    assert again == "outbox:shipment:ORD-000001: already run again, left alone\n"
    [handed] = sent
    assert (handed["task"], handed["task_id"]) == (SHIPMENT, "outbox:shipment:ORD-000001")
    again_owed = OutboxMessage.objects.get(key="shipment:ORD-000001")
    assert (again_owed.failed_at, again_owed.done_at, again_owed.publications) == (None, None, 1)
    assert FailedTask.objects.get().requeued_at is not None


def test_a_failed_task_the_outbox_did_not_send_is_sent_again_with_its_arguments(sent):
    FailedTask.objects.create(
        task_id="5b2b7345-dc4a-429d-b21f-965f73ecfbeb", task="logistics.tasks.dispatch_shipment",
        args=["c98045c7"], reason="failed", trace_id=TRACE_ID,
    )  # fmt: skip

    printed = outbox("retry", "5b2b7345-dc4a-429d-b21f-965f73ecfbeb")

    assert printed.endswith("sent again with the same arguments\n")
    assert sent == [
        {"task": "logistics.tasks.dispatch_shipment", "args": ["c98045c7"], "kwargs": {},
         "task_id": None, "trace_id": TRACE_ID}
    ]  # fmt: skip


def test_retry_of_a_task_runs_each_of_its_failed_ones_and_nothing_else(sent):
    given_up("shipment:1")
    given_up("shipment:2")
    given_up("mail:1", MAIL)

    printed = outbox("retry", "--task", SHIPMENT)

    assert len(printed.splitlines()) == 2
    assert sorted(call["task_id"] for call in sent) == ["outbox:shipment:1", "outbox:shipment:2"]
    assert FailedTask.objects.get(task=MAIL).requeued_at is None
    assert outbox("retry", "--task", SHIPMENT) == f"no failed task of {SHIPMENT} to run again\n"


def test_the_admins_run_again_and_the_command_run_a_failed_task_once_between_them(client, sent):
    failed = given_up("shipment:ORD-000002")
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "x"))

    client.post(
        "/admin/outbox/failedtask/",
        {"action": "requeue", "_selected_action": [failed.pk]},
    )
    printed = outbox("retry", "shipment:ORD-000002")

    assert len(sent) == 1
    assert printed.endswith("already run again, left alone\n")


def test_a_publish_the_broker_refuses_leaves_the_task_failed(monkeypatch):
    FailedTask.objects.create(task_id="t-1", task=MAIL, reason="failed")

    def down(task: str, **options: Any) -> None:
        raise broker.BrokerUnavailable("publish failed: ConnectionRefusedError()")

    monkeypatch.setattr(broker, "send", down)

    error = refused("retry", "t-1")

    assert error.returncode == 1
    assert "the broker did not take a task sent anew" in str(error)
    assert FailedTask.objects.get().requeued_at is None  # the claim went with the publish


@pytest.mark.parametrize(
    ("args", "returncode", "says"),
    [
        (("retry",), 2, "name the failed tasks: KEY ... or --task NAME"),
        (("retry", "k", "--task", SHIPMENT), 2, "name the failed tasks"),
        (("retry", "shipment:nope"), 1, "no failed task for: shipment:nope"),
        (("retry", "--task", "no.such.task"), 1, "no such task: no.such.task"),
        (("purge",), 2, "add --yes to delete them, or --dry-run"),
        (("purge", "--older-than", "0", "--yes"), 2, "--older-than must be at least 1 day"),
    ],
)
def test_bad_requests_are_refused_with_their_status_and_change_nothing(args, returncode, says):
    message("shipment:old", done_at=timezone.now() - timedelta(days=30))

    error = refused(*args)

    assert error.returncode == returncode
    assert says in str(error)
    assert OutboxMessage.objects.count() == 1


def test_purge_deletes_old_done_messages_only_and_a_dry_run_nothing():
    long_ago = timezone.now() - timedelta(days=30)
    message("shipment:old-done", done_at=long_ago, created_at=long_ago)
    message("shipment:new-done", done_at=timezone.now())
    message("shipment:old-owed", created_at=long_ago)
    given_up("shipment:old-given-up")
    OutboxMessage.objects.filter(key="shipment:old-given-up").update(created_at=long_ago)

    counted = outbox("purge", "--older-than", "7", "--dry-run")
    assert counted.startswith("would delete 1 done message(s)")
    assert OutboxMessage.objects.count() == 4

    purged = outbox("purge", "--older-than", "7", "--yes")

    assert purged.startswith("deleted 1 done message(s)")
    assert "owed messages and messages given up on are never purged" in purged
    assert sorted(OutboxMessage.objects.values_list("key", flat=True)) == [
        "shipment:new-done",
        "shipment:old-given-up",
        "shipment:old-owed",
    ]
    assert outbox("purge", "--older-than", "7", "--yes").startswith("deleted 0")


@pytest.mark.django_db(databases=["default", "logistics"])
def test_status_and_purge_cover_the_messages_on_the_logistics_alias():
    """The shipment's events are outbox messages on ``logistics`` (docs/adr/0021)."""
    long_ago = timezone.now() - timedelta(days=30)
    event = "monolithos.tasks.apply_shipment_event"
    OutboxMessage.objects.using("logistics").create(key="event:1", task=event)
    OutboxMessage.objects.using("logistics").create(key="event:2", task=event, done_at=long_ago)
    message("mail:1", MAIL, done_at=long_ago)

    tasks = {row["task"]: row for row in json.loads(outbox("status", "--json"))}
    assert (tasks[event]["owed"], tasks[event]["done"]) == (1, 1)

    outbox("purge", "--older-than", "7", "--yes")
    assert list(OutboxMessage.objects.using("logistics").values_list("key", flat=True)) == [
        "event:1"
    ]
    assert not OutboxMessage.objects.filter(key="mail:1").exists()
