"""The intake worker: claims received order requests in batches and places them.

``manage.py intake_worker`` runs ``work`` until SIGTERM (or SIGINT) sets ``stopping``: it
finishes the batch in hand and returns, so a deploy never cuts a placement in half (and one cut
by a kill is rolled back, still received). Each round claims up to INTAKE_WORKER_BATCH requests
(``monolithos.intake.place_claimed``); a short batch means nothing more is waiting, and the
worker waits for an announcement (``monolithos.announcements``: NOTIFY on PostgreSQL, a poll on
SQLite) or INTAKE_WORKER_IDLE_SECONDS. A request whose placement failed unexpectedly is passed
over for FAILED_REQUEST_PAUSE_SECONDS, so one poison request never spins the loop; the sweep of
requests waiting too long stays the safety net (docs/adr/0015, 0025).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
from django.conf import settings
from django.db import DatabaseError, connection

from monolithos import intake
from monolithos.announcements import Announcements

logger = structlog.get_logger(__name__)

FAILED_REQUEST_PAUSE_SECONDS = 30.0


def work(
    *,
    stopping: threading.Event,
    until_idle: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Place received requests until ``stopping`` is set (or, ``until_idle``, none is left).

    Answers how many requests were processed (placed or rejected).
    """
    announcements = Announcements(stopping)
    listening = False
    passing_over: dict[int, float] = {}
    processed = 0
    batch = settings.INTAKE_WORKER_BATCH
    while not stopping.is_set():
        try:
            if not listening:
                announcements.listen()
                listening = True
            now = clock()
            passing_over = {pk: until for pk, until in passing_over.items() if until > now}
            claimed = intake.place_claimed(limit=batch, passing_over=passing_over.keys())
            processed += len(claimed.processed)
            for pk in claimed.failed:
                passing_over[pk] = now + FAILED_REQUEST_PAUSE_SECONDS
            if len(claimed.processed) + len(claimed.failed) < batch:
                if until_idle:
                    break
                announcements.wait(settings.INTAKE_WORKER_IDLE_SECONDS)
        except DatabaseError as error:
            # The database went away: start again on a new connection after a pause.
            logger.warning("intake_worker_database_unavailable", error=repr(error))
            connection.close()
            listening = False
            stopping.wait(settings.INTAKE_WORKER_IDLE_SECONDS)
    logger.info("intake_worker_stopped", processed=processed)
    return processed
