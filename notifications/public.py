"""The public API of the notifications app: the only module other apps import.

Imports nothing of ``monolithos``, ``logistics`` or ``config``.
"""

from __future__ import annotations

from notifications.ports import Notifications
from notifications.services import NotificationService

__all__ = ["NotificationService", "Notifications"]
