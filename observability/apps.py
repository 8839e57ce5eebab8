"""Django app for the observability package: its URLs, views and log hooks need no models."""

from __future__ import annotations

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        # Connect the receivers: django-structlog's signals (the trace id and the final line's
        # fields of every request), trace ids into and out of Celery messages, failed and
        # locked-out logins to their counters.
        from observability import logins, request_log, tasks  # noqa: F401
