"""The logistics gauges, read when /metrics is scraped: the shipments that need staff, and the
dispatches owed (``outbox.owed``'s kind ``dispatch_shipment``, docs/adr/0019).

Counted from the database at scrape time, so every web process reports the same number (take
``max`` across instances, not ``sum``); the first comes back to 0 once staff have handled them
all, the second once the sweeps have handed every lost dispatch over again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db.models import Count, Min, Q
from django.db.models.functions import Coalesce
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from logistics.adapters.orm import ALIAS
from logistics.domain import ShipmentStatus
from logistics.models import ShipmentRecord
from outbox.owed import Owed

logger = structlog.get_logger(__name__)


class ShipmentAttentionCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            count = ShipmentRecord.objects.using(ALIAS).filter(needs_attention=True).count()
        except Exception:
            logger.warning("shipment_metrics_unavailable", exc_info=True)
            return
        yield GaugeMetricFamily(
            "monolithos_shipments_needing_attention",
            "Cancelled shipments whose dispatch the supplier accepted, not yet handled by staff.",
            value=count,
        )


def owed_dispatches(now: datetime) -> Owed:
    """Pending shipments due for a dispatch: how many no task's lease holds any more (lost, and
    not yet handed over again by the sweep), and since when the oldest has been due."""
    due = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, attempt_count=0)
    unleased = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    creation_lease = timedelta(seconds=settings.DISPATCH_CLAIM_SECONDS)
    held_by_creation = Q(next_attempt_at__isnull=True, created_at__gt=now - creation_lease)
    counted = (
        ShipmentRecord.objects.using(ALIAS)
        .filter(due, status=ShipmentStatus.PENDING.value)
        .aggregate(
            past=Count("pk", filter=unleased & ~held_by_creation),
            oldest=Min(Coalesce("next_attempt_at", "created_at")),
        )
    )
    return Owed(past_lease=counted["past"], oldest=counted["oldest"])
