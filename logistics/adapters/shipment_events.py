"""The shipment's events, recorded in the outbox on the shipment's own database (docs/adr/0021).

A change of a shipment and the messages that announce it commit together: the repository calls
``record`` inside the transaction of its write, on the same alias, so no process can commit the
one without the other. One message per event and per task named in
``LOGISTICS_SHIPMENT_EVENT_TASKS`` (the receivers live in other contexts, which logistics never
imports: the setting names their tasks). Each is keyed by the shipment's order, version and kind,
so the same change recorded twice is one message. The outbox relays them once the transaction
has committed, the sweep after a crash, and follows each until its task has run.
"""

from __future__ import annotations

from django.conf import settings

from logistics.contracts import ShipmentEvent
from logistics.domain import Shipment
from outbox.messages import Message, publish


def key_of(event: ShipmentEvent, task: str) -> str:
    shipment = event.shipment
    return f"shipment-event:{shipment.order_ref}:v{shipment.version}:{event.kind}>{task}"


def record(shipment: Shipment, alias: str) -> None:
    """Record what happened to the stored ``shipment`` (its ``events``) in the current
    transaction on ``alias``, and clear them. The caller holds that transaction open."""
    kinds, shipment.events = shipment.events, []
    tasks: list[str] = list(settings.LOGISTICS_SHIPMENT_EVENT_TASKS)
    if not kinds or not tasks:
        return
    events = [ShipmentEvent.of(shipment, kind) for kind in kinds]
    publish(
        *(
            Message(
                task=task, key=key_of(event, task), kwargs={"event": event.model_dump(mode="json")}
            )
            for event in events
            for task in tasks
        ),
        using=alias,
    )
