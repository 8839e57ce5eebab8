"""Placing a legacy client's order on the new path: recorded now, shipped and invoiced later.

The new handlers of ``POST /api/orders/`` and of the back office's order form call ``place``:
``monolithos.placement`` validates, prices and records the order, and in the same transaction
the outbox takes its shipment and its invoice PDF and the notifications service its two mails;
the stock is taken last. Nothing slow runs in the request: the workers create and dispatch the
shipment, render the PDF and send the mails (docs/adr/0016).

It is ``placement.accept`` for a client that is no user: the order is owned as the legacy path
owns it (the customer's user, if any). This module must not import ``monolithos.order_manager``
(an import-linter contract).
"""

from __future__ import annotations

from django.db import transaction

from monolithos import placement
from monolithos.mailer import NotificationService
from monolithos.models import Order
from monolithos.repository import DatabaseRepo
from notifications.public import NotificationService as QueuedNotifications


def place(data: object) -> Order:
    """Record the order with its hand-offs in one transaction; raises OrderError (a 400)."""
    # A transaction of its own: ``accept`` joins the caller's without a savepoint, and a
    # refusal (the last units taken meanwhile) must not doom a caller's transaction.
    with transaction.atomic():
        return placement.accept(
            data,
            owner_id=None,
            repo=DatabaseRepo(),
            mails=NotificationService(QueuedNotifications()),
        )
