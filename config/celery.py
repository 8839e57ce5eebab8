"""The Celery app: workers run the project's tasks with the project's settings and logging.

Broker: Redis when CELERY_BROKER_URL or REDIS_URL is set; on the embedded defaults kombu's
filesystem transport under var/celery, so `make run` starts a real worker with no server.
Reliability settings and their reasons are in docs/adr/0008-celery-settings.md.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task gets the redelivery cap and the failed-task record (outbox.reliability).
app = Celery("monolithos", task_cls="outbox.reliability:ReliableTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_the_project_logging(**_: Any) -> None:
    """Workers log exactly as the web does (JSON in production, the same masking)."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
