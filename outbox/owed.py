"""What is still owed, by kind: read from the database for /metrics and /readyz (docs/adr/0015).

The outbox measures its own messages (by the task each names: ``create_shipment``,
``render_invoice``, ``send_notification``...); an app registers a measure for work it keeps in
rows of its own (the legacy app: order requests not placed). Each kind answers how many items
are owed past their lease, and since when the oldest owed item has been waiting.

Infrastructure: imports no app; apps register their measures from their ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone


@dataclass(frozen=True)
class Owed:
    past_lease: int
    oldest: datetime | None  # when the oldest item still owed was recorded

    def oldest_age(self, now: datetime) -> float:
        return max(0.0, (now - self.oldest).total_seconds()) if self.oldest else 0.0


Measure = Callable[[datetime], Owed]
_measures: dict[str, Measure] = {}


def register(kind: str, measure: Measure) -> None:
    """Add a kind of owed work that lives in an app's rows (once per kind)."""
    _measures[kind] = measure


def kind_of(task: str) -> str:
    return task.rpartition(".")[2]


def messages(now: datetime) -> dict[str, Owed]:
    """Outbox messages not done and not given up on, by the kind of the task they name, on
    every alias that holds messages."""
    from outbox.models import OWED, OutboxMessage, message_aliases

    grace = now - timedelta(seconds=settings.OUTBOX_RELAY_GRACE_SECONDS)
    past_lease = Q(published_at__isnull=True, created_at__lt=grace) | Q(lease_expires_at__lt=now)
    rows = [
        row
        for alias in message_aliases()
        for row in OutboxMessage.objects.using(alias)
        .filter(OWED)
        .values("task")
        .annotate(past=Count("pk", filter=past_lease), oldest=Min("created_at"))
        .order_by()
    ]
    owed: dict[str, Owed] = {}
    for row in rows:
        kind = kind_of(row["task"])
        before = owed.get(kind, Owed(0, None))
        oldest = min(filter(None, (before.oldest, row["oldest"])), default=None)
        owed[kind] = Owed(before.past_lease + row["past"], oldest)
    return owed


def everything(now: datetime | None = None) -> dict[str, Owed]:
    """Every kind's measure: the outbox's messages and the registered kinds."""
    now = now or timezone.now()
    owed = messages(now)
    for kind, measure in _measures.items():
        owed[kind] = measure(now)
    return owed


def summary(owed: dict[str, Owed], now: datetime) -> str:
    """One line for /readyz: what is owed past its lease, and the oldest owed item's age."""
    past = {kind: item.past_lease for kind, item in owed.items() if item.past_lease}
    ages = [item.oldest_age(now) for item in owed.values() if item.oldest]
    if not past:
        return "nothing owed past its lease"
    listed = ", ".join(f"{count} {kind}" for kind, count in sorted(past.items()))
    return f"owed past their lease: {listed}; the oldest owed for {max(ages, default=0):.0f} s"
