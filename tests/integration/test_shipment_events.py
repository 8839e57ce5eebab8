"""The shipment's events flow back: recorded with the change, relayed, applied in order.

Every committed change of a shipment records a ``ShipmentEvent`` in the outbox on ``logistics``
in the transaction of the change; a worker applies it to the legacy order's shipping columns by
the shipment's version (``monolithos.tasks.apply_shipment_event``). The in-process listener is the
fast path; these tests turn it off (``no_fast_path``) where they stand for a process that died
between its commit and the telling, and run the events as the worker would (same task id).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from prometheus_client import REGISTRY

from logistics.public import (
    ShipmentEvent,
    ShipmentEventKind,
    ShipmentStatus,
    ShipmentView,
    build_logistics_service,
)
from monolithos.backfill import parity_check
from monolithos.models import Order, Product
from monolithos.tasks import apply_shipment_event
from outbox import broker, completion, relay
from outbox.messages import RELAY_TASK
from outbox.models import FailedTask, OutboxMessage
from tests.characterization.shop import order_payload, place
from tests.factories import StaffUserFactory

pytestmark = [pytest.mark.simulator, pytest.mark.django_db(databases=["default", "logistics"])]

EVENT_TASK = apply_shipment_event.name


@pytest.fixture
def no_fast_path(settings: Any) -> None:
    """Processes that tell no listener: as if each died right after its logistics commit."""
    settings.LOGISTICS_SHIPMENT_LISTENERS = []


@pytest.fixture
def staff(client):
    client.force_login(StaffUserFactory())
    return client


@pytest.fixture
def deferred_order(client, supplier, mailoutbox) -> Order:
    """Placed on the legacy path while the supplier answered 503: its shipment stays pending."""
    Product.objects.create(sku="PALLET", name="Euro pallet", price="18.50", stock=10)
    supplier.set_chaos(failure_rate=1.0)
    response = place(client, order_payload())
    assert response.status_code == 201
    supplier.reset(failure_rate=0.0, hang_rate=0.0, seed=7)
    mailoutbox.clear()
    return Order.objects.get(pk=response.json()["id"])


class Broker:
    """Takes what the outbox hands over: relay tasks by their keys and alias, tasks to run."""

    def __init__(self) -> None:
        self.relays: list[tuple[list[str], str]] = []
        self.sent: list[dict[str, Any]] = []

    def send(self, task: str, *, args: Any = None, kwargs: Any = None, **options: Any) -> None:
        if task == RELAY_TASK:
            self.relays.append((args[0], kwargs["using"]))
        else:
            self.sent.append({"task": task, "kwargs": kwargs, "task_id": options["task_id"]})


@pytest.fixture
def held(monkeypatch) -> Broker:
    holding = Broker()
    monkeypatch.setattr(broker, "send", holding.send)
    return holding


def event_messages(order: Order) -> list[OutboxMessage]:
    return list(
        OutboxMessage.objects.using("logistics")
        .filter(task=EVENT_TASK, key__contains=f":{order.number}:")
        .order_by("id")
    )


def kinds_and_versions(messages: list[OutboxMessage]) -> list[tuple[str, int]]:
    events = [ShipmentEvent.model_validate(m.kwargs["event"]) for m in messages]
    return [(event.kind.value, event.shipment.version) for event in events]


def run(message: OutboxMessage) -> Any:
    """A worker runs the message as the relay hands it over: the same task id every time."""
    return apply_shipment_event.apply(
        kwargs=message.kwargs, task_id=completion.task_id_for(message.key, "logistics")
    )


def run_events(order: Order) -> list[str]:
    return [run(message).result for message in event_messages(order)]


def events_counted(kind: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "monolithos_shipment_events_total", {"kind": kind, "outcome": outcome}
    )
    return value or 0.0


def columns(order: Order) -> dict[str, Any]:
    order.refresh_from_db()
    return {
        "status": order.status,
        "shipping_status": order.shipping_status,
        "tracking_number": order.tracking_number,
        "supplier_reference": order.supplier_reference,
        "shipping_version": order.shipping_version,
    }


def shipment_of(order: Order) -> ShipmentView:
    return build_logistics_service().get_for_order(str(order.number))


def event(shipment: ShipmentView, kind: ShipmentEventKind, **changes: Any) -> dict[str, Any]:
    changed = shipment.model_copy(update=changes)
    return ShipmentEvent(kind=kind, occurred_at=changed.updated_at, shipment=changed).model_dump(
        mode="json"
    )


# ---------------------------------------------------------------------- recorded with the change


def test_every_change_records_its_event_on_logistics_with_the_shipment_as_it_left_it(
    deferred_order,
):
    cancelled = build_logistics_service().cancel(shipment_of(deferred_order).id)

    messages = event_messages(deferred_order)
    # The legacy placement created it, its dispatch failed (503), then the cancel.
    assert kinds_and_versions(messages) == [("created", 1), ("failed", 2), ("cancelled", 3)]
    assert ShipmentEvent.model_validate(messages[-1].kwargs["event"]).shipment == cancelled
    assert [m.key for m in messages][-1] == (
        f"shipment-event:{deferred_order.number}:v3:cancelled>{EVENT_TASK}"
    )
    assert not OutboxMessage.objects.using("default").filter(task=EVENT_TASK).exists()


def test_a_rolled_back_shipment_change_leaves_no_event(deferred_order, no_fast_path):
    shipment = shipment_of(deferred_order)
    before = event_messages(deferred_order)

    with pytest.raises(RuntimeError), transaction.atomic(using="logistics"):
        build_logistics_service().cancel(shipment.id)
        assert len(event_messages(deferred_order)) == len(before) + 1
        raise RuntimeError("the transaction of the change fails after the change")

    assert shipment_of(deferred_order).status is ShipmentStatus.PENDING
    assert event_messages(deferred_order) == before


@pytest.mark.django_db(transaction=True, databases=["default", "logistics"])
def test_the_event_is_relayed_once_logistics_commits_and_applied_by_the_worker(
    held, no_fast_path, deferred_order
):
    held.relays.clear()  # the placement's own hand-offs

    build_logistics_service().cancel(shipment_of(deferred_order).id)

    [(keys, alias)] = held.relays
    assert alias == "logistics"
    assert columns(deferred_order)["shipping_status"] == "dispatch_failed"  # nobody copied it

    assert relayed(keys, alias) == 1
    [sent] = held.sent
    assert sent["task"] == EVENT_TASK
    assert completion.message_of(sent["task_id"]) == completion.MessageRef(keys[0], "logistics")
    apply_shipment_event.apply(kwargs=sent["kwargs"], task_id=sent["task_id"])

    assert columns(deferred_order)["shipping_status"] == "cancelled"
    assert columns(deferred_order)["shipping_version"] == 3
    message = OutboxMessage.objects.using("logistics").get(key=keys[0])
    assert message.done_at is not None  # the outbox follows it no further


def relayed(keys: list[str], alias: str) -> int:
    """What the relay task does with what the on-commit callback enqueued."""
    from outbox.tasks import relay_messages

    return relay_messages(keys, using=alias)


# ---------------------------------------------------------------------- applied in order


def test_out_of_order_and_repeated_events_leave_the_columns_at_the_latest_version(
    deferred_order, no_fast_path
):
    build_logistics_service(background=True).dispatch(shipment_of(deferred_order).id)
    shipment = shipment_of(deferred_order)
    created, failed, dispatched = event_messages(deferred_order)
    stale_before = events_counted("created", "stale") + events_counted("failed", "stale")

    outcomes = [run(m).result for m in (dispatched, created, dispatched, failed, created)]

    assert outcomes == ["applied", "stale", "stale", "stale", "stale"]
    assert columns(deferred_order) == {
        "status": "shipped",
        "shipping_status": "dispatched",
        "tracking_number": shipment.tracking_number,
        "supplier_reference": shipment.supplier_reference,
        "shipping_version": 3,
    }
    assert events_counted("created", "stale") + events_counted("failed", "stale") == (
        stale_before + 3
    )
    assert parity_check() == []


def test_a_late_dispatched_event_never_overwrites_a_later_cancelled_one(deferred_order):
    pending = shipment_of(deferred_order)
    dispatched = event(
        pending,
        ShipmentEventKind.DISPATCHED,
        status=ShipmentStatus.DISPATCHED,
        version=pending.version + 1,
        tracking_number="TRK-LATE",
        supplier_reference="SUP-LATE",
    )
    cancelled = event(
        pending,
        ShipmentEventKind.CANCELLED,
        status=ShipmentStatus.CANCELLED,
        version=pending.version + 2,
    )

    assert apply_shipment_event.apply(kwargs={"event": cancelled}).result == "applied"
    assert apply_shipment_event.apply(kwargs={"event": dispatched}).result == "stale"

    assert columns(deferred_order) == {
        "status": "placed",
        "shipping_status": "cancelled",
        "tracking_number": "",
        "supplier_reference": "",
        "shipping_version": pending.version + 2,
    }


def test_the_in_process_copy_comes_first_and_its_event_then_changes_nothing(deferred_order):
    stale_before = events_counted("cancelled", "stale")

    build_logistics_service().cancel(shipment_of(deferred_order).id)
    assert columns(deferred_order)["shipping_status"] == "cancelled"  # the fast path, at once

    assert run(event_messages(deferred_order)[-1]).result == "stale"
    assert events_counted("cancelled", "stale") == stale_before + 1


def test_an_event_whose_order_is_not_there_is_retried_then_kept_as_a_failed_task_naming_it(
    deferred_order, no_fast_path, held
):
    number = str(deferred_order.number)
    Order.objects.filter(pk=deferred_order.pk).update(number="ORD-ELSEWHERE")  # not there (yet)
    build_logistics_service().cancel(shipment_of(deferred_order).id)
    cancelled = event_messages(deferred_order)[-1]

    result = run(cancelled)

    assert result.failed()
    [failed] = FailedTask.objects.filter(task_id=completion.task_id_for(cancelled.key, "logistics"))
    assert f"no order {number} for the shipment's cancelled event (version 3)" in failed.error
    cancelled.refresh_from_db()
    assert cancelled.failed_at is not None  # the sweep stops; a person decides

    # The order is there now: "Run the selected tasks again" (the admin) makes it owed again.
    Order.objects.filter(pk=deferred_order.pk).update(number=number)
    assert relay.hand_over_again(cancelled.key, "logistics")
    [sent] = held.sent
    assert apply_shipment_event.apply(kwargs=sent["kwargs"], task_id=sent["task_id"]).result == (
        "applied"
    )
    assert columns(deferred_order)["shipping_status"] == "cancelled"


# ---------------------------------------------------------------------- one decision, both sides


def test_a_worker_dispatch_then_a_staff_cancel_is_a_400_and_the_event_brings_both_sides_together(
    staff, deferred_order, no_fast_path, mailoutbox
):
    build_logistics_service(background=True).dispatch(shipment_of(deferred_order).id)
    before = columns(deferred_order)
    assert before["shipping_status"] == "dispatch_failed"  # the worker died before its copy

    response = staff.post(f"/orders/{deferred_order.pk}/cancel/")

    assert response.status_code == 400
    assert "is shipped and cannot be cancelled" in response.content.decode()
    assert columns(deferred_order) == before
    assert Product.objects.get(sku="PALLET").stock == 8  # nothing released
    assert mailoutbox == []
    assert shipment_of(deferred_order).status is ShipmentStatus.DISPATCHED

    assert run_events(deferred_order) == ["stale", "stale", "applied"]
    assert columns(deferred_order)["status"] == "shipped"
    assert parity_check() == []
    tracked = staff.get(f"/api/orders/{deferred_order.pk}/track/").json()
    assert (tracked["status"], tracked["shipping_status"]) == ("shipped", "dispatched")


@pytest.mark.parametrize("fast_path", [True, False], ids=["columns-in-step", "columns-stale"])
@pytest.mark.parametrize("side", ["legacy", "new"])
def test_shipping_an_order_whose_shipment_was_cancelled_is_a_400_on_the_shop_route(
    client, deferred_order, settings, fast_path, side
):
    from strangler.testing import override_modes

    if not fast_path:
        settings.LOGISTICS_SHIPMENT_LISTENERS = []
    build_logistics_service().cancel(shipment_of(deferred_order).id)  # staff, through v1

    with override_modes(all_routes=side):
        response = client.post(f"/api/orders/{deferred_order.pk}/ship/")

    assert response.status_code == 400
    assert response.json() == {"error": f"order {deferred_order.number} is cancelled"}
    assert shipment_of(deferred_order).status is ShipmentStatus.CANCELLED
    assert not OutboxMessage.objects.using("default").filter(key__contains=":ship:").exists()
