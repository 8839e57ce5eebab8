"""Order requests announced to the intake worker: PostgreSQL LISTEN/NOTIFY, or a short poll.

``announce`` runs once an order request's INSERT committed, or in the caller's transaction
that holds it (``monolithos.intake``): PostgreSQL delivers a ``NOTIFY`` on commit only, and a
rolled-back request announces nothing.
``Announcements`` is the intake worker's side: ``wait`` returns as soon as a request was
announced or ``timeout`` passed, whichever is first, with how many were announced. On SQLite
(the embedded defaults) there is no notification, so ``wait`` is a poll: it returns after
``timeout``. The worker looks for received requests after every wait either way, so a lost
notification costs at most one timeout (docs/adr/0025).
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import connection

CHANNEL = "monolithos_order_requests"


def announce() -> None:
    """Tell the intake worker a request is waiting (on commit, inside a transaction)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


class Announcements:
    """The intake worker's ear: LISTEN on PostgreSQL's channel, or a poll elsewhere."""

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping
        self._listening: Any = None

    def listen(self) -> None:
        if connection.vendor != "postgresql":
            return
        # Outside an atomic block Django's connection is in autocommit: LISTEN starts at once.
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        self._listening = connection.connection

    def wait(self, timeout: float) -> int:
        """How many requests were announced, waiting at most ``timeout`` s for the first."""
        if self._listening is None:
            self.stopping.wait(timeout)
            return 0
        # The driver's errors as Django's (DatabaseError), which the worker's loop handles.
        with connection.wrap_database_errors:
            heard = sum(1 for _ in self._listening.notifies(timeout=timeout, stop_after=1))
            if heard:
                # Take the rest of a burst at once: one claim serves them all.
                heard += sum(1 for _ in self._listening.notifies(timeout=0))
        return heard
