"""Django app for the outbox and the failed-task table."""

from __future__ import annotations

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "outbox"
    verbose_name = "Outbox and failed tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from observability.health import register_readiness_check
        from observability.metrics import register_scrape_collector

        # Stamps every published message with its send time (the sweeps peek at queues by it).
        from outbox import broker  # noqa: F401
        from outbox.metrics import BacklogCollector
        from outbox.readiness import broker_readiness

        register_scrape_collector(BacklogCollector())
        register_readiness_check("broker", broker_readiness)
