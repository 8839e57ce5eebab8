"""Notifier over the notifications service: e-mail recorded in the outbox, sent by a worker.

The notifications app owns the mails (its templates) and their delivery, deduplicated on the
idempotency key; this adapter only adapts the ``Notifier`` port to its public API (the
asynchronous mode: the mail is recorded now and sent by a worker). Built by
``logistics.wiring``; imports ``notifications.public`` only, nothing of ``monolithos``.
"""

from __future__ import annotations

from collections.abc import Mapping

from notifications.public import Notifications, NotificationService


class EmailNotifier:
    def __init__(self, notifications: Notifications | None = None) -> None:
        self.notifications: Notifications = notifications or NotificationService()

    def notify(
        self, kind: str, recipient: str, context: Mapping[str, str], idempotency_key: str
    ) -> None:
        self.notifications.notify(kind, recipient, context, idempotency_key)
