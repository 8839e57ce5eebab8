"""Django app for the observability package: its URLs, views and middleware need no models."""

from __future__ import annotations

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        # Connects the receiver that hands unhandled exceptions to the final log line.
        from observability import middleware  # noqa: F401
