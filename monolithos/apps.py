from django.apps import AppConfig


class MonolithosConfig(AppConfig):
    name = "monolithos"
    verbose_name = "Monolithos (legacy)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from monolithos import checks  # noqa: F401  (registers the release's schema check)
        from monolithos.intake import owed_requests
        from outbox import owed

        # /metrics and /readyz count the order requests still waiting to be placed.
        owed.register("order_request", owed_requests)
