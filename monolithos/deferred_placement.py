"""Placing a legacy client's order on the new path: recorded now, shipped and invoiced later.

The new handlers of ``POST /api/orders/`` and of the back office's order form call ``place``:
``monolithos.placement`` validates, prices and records the order, and in the same transaction
the outbox takes its shipment and its invoice PDF and the notifications service its two mails;
the stock is taken last. Nothing slow runs in the request: the workers create and dispatch the
shipment, render the PDF and send the mails (docs/adr/0016).

It is ``placement.accept`` but for the owner: a legacy client is not a user, so the order is
owned as the legacy path owns it (the customer's user, if any), and ``accept`` requires one.
This module must not import ``monolithos.order_manager`` (an import-linter contract).
"""

from __future__ import annotations

from django.db import transaction

from logistics.public import CREATE_SHIPMENT_TASK
from monolithos import placement
from monolithos.mailer import NotificationService
from monolithos.models import Order
from monolithos.placement import RENDER_INVOICE_TASK
from monolithos.repository import DatabaseRepo
from notifications.public import NotificationService as QueuedNotifications
from observability.metrics import order_placement
from outbox.messages import Message, publish


@order_placement("new", rejected=(placement.OrderError,))
def place(data: object) -> Order:
    """Record the order with its hand-offs in one transaction; raises OrderError (a 400)."""
    repo: placement.PlacementRepository = DatabaseRepo()
    mails: placement.OrderMails = NotificationService(QueuedNotifications())
    clean = placement.validate(data, repo=repo)
    prices = placement.price(clean.lines, clean.discount_code)
    with transaction.atomic():
        order, invoice = placement.record(clean, prices, repo=repo, owner_id=None)
        publish(
            Message(
                task=CREATE_SHIPMENT_TASK,
                key=f"shipment:{order.number}",
                kwargs={"shipment": placement.shipment_command(order).model_dump(mode="json")},
            ),
            Message(
                task=RENDER_INVOICE_TASK,
                key=f"invoice:{invoice.number}:v{invoice.version}",
                kwargs={"invoice_id": invoice.pk},
            ),
        )
        mails.notify_sales_team(order)
        mails.send_confirmation(order)
        placement.take_stock(clean, repo=repo)
    return order
