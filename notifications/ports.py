"""The port other apps depend on: ask for a notification, never how it is sent.

``Notifications`` has exactly the shape of ``logistics.ports.Notifier``, so one
``NotificationService`` satisfies both; the two are kept apart because neither app may import
the other. Imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Notifications(Protocol):
    def notify(
        self, kind: str, recipient: str, context: Mapping[str, str], idempotency_key: str
    ) -> None:
        """Record the notification ``kind`` for ``recipient``, once per ``idempotency_key``.

        ``context`` holds the template variables, all preformatted strings. An unknown kind or
        an unusable context raises ``ValueError`` and records nothing.
        """
        ...
