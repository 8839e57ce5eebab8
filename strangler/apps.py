"""Django app of the strangler facade."""

from __future__ import annotations

from django.apps import AppConfig


class StranglerConfig(AppConfig):
    name = "strangler"
    verbose_name = "Strangler (traffic shift)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strangler import isolation, metrics, pool

        # Side effects a shadow write must never have are refused while one runs (a context
        # variable gates each guard, so nothing changes for any other code).
        isolation.install_guards()
        # A read's shadow candidate starts once its request's answer has left.
        pool.start_after_responses()
        metrics.register_state_collector()
