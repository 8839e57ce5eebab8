"""Backlog metrics, read when /metrics is scraped: the outbox, owed work, failed tasks, queues.

Gauges computed from the database and the broker at scrape time, so every web process reports
the same numbers (take ``max`` across instances, not ``sum``).
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from outbox import broker, owed
from outbox.models import OWED, FailedTask, OutboxMessage, message_aliases

logger = structlog.get_logger(__name__)


class BacklogCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            yield from self._outbox()
            yield from self._owed()
        except Exception:
            logger.warning("outbox_metrics_unavailable", exc_info=True)
        try:
            yield self._queues()
        except Exception as error:
            logger.warning("queue_metrics_unavailable", error=repr(error))

    def _outbox(self) -> Iterator[GaugeMetricFamily]:
        # Owed ones only: a message whose relay died after the broker took it may be done
        # without ever having been recorded published. Every alias's messages (docs/adr/0021).
        backlog = [
            OutboxMessage.objects.using(alias)
            .filter(OWED, published_at__isnull=True)
            .aggregate(count=Count("pk"), oldest=Min("created_at"))
            for alias in message_aliases()
        ]
        oldest = min((row["oldest"] for row in backlog if row["oldest"]), default=None)
        yield GaugeMetricFamily(
            "monolithos_outbox_backlog",
            "Outbox messages committed and not yet published to the broker.",
            value=sum(row["count"] for row in backlog),
        )
        yield GaugeMetricFamily(
            "monolithos_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox message (0 when there is none).",
            value=(timezone.now() - oldest).total_seconds() if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "monolithos_failed_tasks",
            "Tasks that failed for good and have not been run again.",
            value=FailedTask.objects.filter(requeued_at__isnull=True).count(),
        )

    def _owed(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        past = GaugeMetricFamily(
            "monolithos_owed_work_past_lease",
            "Work owed longer than its lease (not done, not given up on), by kind: what the "
            "sweeps hand over again once nothing can still be holding it.",
            labels=["kind"],
        )
        age = GaugeMetricFamily(
            "monolithos_owed_work_oldest_age_seconds",
            "Age of the oldest item still owed, by kind (0 when there is none).",
            labels=["kind"],
        )
        for kind, item in sorted(owed.everything(now).items()):
            past.add_metric([kind], item.past_lease)
            age.add_metric([kind], item.oldest_age(now))
        yield past
        yield age

    def _queues(self) -> GaugeMetricFamily:
        depth = GaugeMetricFamily(
            "monolithos_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        # Through the publisher's connection: short timeouts, so a hung broker never holds a
        # scrape (its series go stale instead).
        for queue, waiting in broker.queue_depths(settings.CELERY_QUEUE_NAMES).items():
            depth.add_metric([queue], waiting)
        return depth
