"""Django app for the observability package: its URLs, views and middleware need no models."""

from __future__ import annotations

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        # Connect the receivers: unhandled exceptions to the final log line, trace ids into and
        # out of Celery messages, failed and locked-out logins to their counters.
        from observability import logins, middleware, tasks  # noqa: F401
