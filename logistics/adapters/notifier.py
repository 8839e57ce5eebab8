"""Notifier over Django's email backend, until the notifications service takes over.

Sends synchronously and does not deduplicate on the idempotency key yet: the outbox-backed
notifications app (the async phase) will.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.core.mail import send_mail

SUBJECTS = {"shipment_delivered": "Your order {order_ref} has been delivered"}
BODIES = {
    "shipment_delivered": "Hello,\n\nyour order {order_ref} (tracking number "
    "{tracking_number}) has been delivered.\n",
}


class EmailNotifier:
    def notify(
        self, kind: str, recipient: str, context: Mapping[str, str], idempotency_key: str
    ) -> None:
        send_mail(
            SUBJECTS[kind].format(**context),
            BODIES[kind].format(**context),
            settings.DEFAULT_FROM_EMAIL,
            [recipient],
        )
