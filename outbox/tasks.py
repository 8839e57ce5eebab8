"""The outbox relay as Celery tasks: one enqueued on commit, one (the sweep) run by celery beat."""

from __future__ import annotations

import structlog
from celery import shared_task

from outbox import relay
from outbox.messages import RELAY_TASK
from outbox.models import message_aliases

logger = structlog.get_logger(__name__)


@shared_task(name=RELAY_TASK)
def relay_messages(keys: list[str], using: str = "default") -> int:
    return relay.relay(keys, using)


@shared_task(name="outbox.tasks.sweep_outbox")
def sweep_outbox(limit: int = 1000) -> int:
    """Relay what a dead process or an unreachable broker left behind, hand over again what the
    broker or a killed worker lost, on every alias that holds messages, and purge old records;
    how many messages were sent."""
    sent = 0
    for alias in message_aliases():
        keys = relay.stranded_keys(limit, alias)
        published = relay.relay(keys, alias)
        if keys:
            logger.warning(
                "outbox_stranded_messages_relayed",
                found=len(keys),
                published=published,
                alias=alias,
            )
        republished = relay.republish(limit, alias)
        if republished:
            logger.warning("outbox_messages_republished", count=republished, alias=alias)
        sent += published + republished
    relay.purge_old_records()
    return sent
