"""Django app for the outbox and the failed-task table."""

from __future__ import annotations

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "outbox"
    verbose_name = "Outbox and failed tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Stamps every published message with its send time (the sweeps peek at queues by it).
        from observability.metrics import register_scrape_collector
        from outbox import broker  # noqa: F401
        from outbox.metrics import BacklogCollector

        register_scrape_collector(BacklogCollector())
