"""The logistics gauges, read when /metrics is scraped: the shipments that need staff.

Counted from the database at scrape time, so every web process reports the same number (take
``max`` across instances, not ``sum``); it comes back to 0 once staff have handled them all.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from logistics.adapters.orm import ALIAS
from logistics.models import ShipmentRecord

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
