"""The outbox relay as Celery tasks: one enqueued on commit, one (the sweep) run by celery beat."""

from __future__ import annotations

import structlog
from celery import shared_task

from outbox import relay
from outbox.messages import RELAY_TASK

logger = structlog.get_logger(__name__)


@shared_task(name=RELAY_TASK)
def relay_messages(keys: list[str]) -> int:
    return relay.relay(keys)


@shared_task(name="outbox.tasks.sweep_outbox")
def sweep_outbox(limit: int = 1000) -> int:
    """Relay what a dead process or an unreachable broker left behind, hand over again what the
    broker or a killed worker lost, and purge old records; how many messages were sent."""
    keys = relay.stranded_keys(limit)
    published = relay.relay(keys)
    if keys:
        logger.warning("outbox_stranded_messages_relayed", found=len(keys), published=published)
    republished = relay.republish(limit)
    if republished:
        logger.warning("outbox_messages_republished", count=republished)
    relay.purge_old_records()
    return published + republished
