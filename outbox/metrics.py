"""Backlog metrics, read when /metrics is scraped: the outbox, failed tasks, the broker queues.

Gauges computed from the database and the broker at scrape time, so every web process reports
the same numbers (take ``max`` across instances, not ``sum``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import structlog
from celery import current_app
from django.conf import settings
from django.db.models import Min
from django.utils import timezone
from kombu.exceptions import ChannelError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from outbox.models import FailedTask, OutboxMessage

logger = structlog.get_logger(__name__)


class BacklogCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            yield from self._outbox()
        except Exception:
            logger.warning("outbox_metrics_unavailable", exc_info=True)
        try:
            yield self._queues()
        except Exception:
            logger.warning("queue_metrics_unavailable", exc_info=True)

    def _outbox(self) -> Iterator[GaugeMetricFamily]:
        pending = OutboxMessage.objects.filter(published_at__isnull=True)
        oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
        yield GaugeMetricFamily(
            "monolithos_outbox_backlog",
            "Outbox messages committed and not yet published to the broker.",
            value=pending.count(),
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

    def _queues(self) -> GaugeMetricFamily:
        depth = GaugeMetricFamily(
            "monolithos_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        with current_app.connection_for_read() as connection:
            channel: Any = connection.default_channel  # kombu's channels are untyped
            for queue in settings.CELERY_QUEUE_NAMES:
                try:
                    waiting = channel.queue_declare(queue=queue, passive=True).message_count
                except ChannelError:
                    waiting = 0  # never declared: no worker consumes it, nothing was sent to it
                depth.add_metric([queue], waiting)
        return depth
