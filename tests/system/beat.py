"""celery beat's own scheduler, saving its schedule after every task it sends.

PersistentScheduler writes its shelve every three minutes and when it stops; a test that reads
how often beat sent an entry while beat still runs needs the file current. ``beat -S
tests.system.beat:SavingScheduler`` runs the same scheduler with ``sync_every_tasks=1``.
"""

from __future__ import annotations

from typing import Any

from celery.beat import PersistentScheduler


class SavingScheduler(PersistentScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["sync_every_tasks"] = 1
        super().__init__(*args, **kwargs)
