from django.apps import AppConfig


class MonolithosConfig(AppConfig):
    name = "monolithos"
    verbose_name = "Monolithos (legacy)"
    default_auto_field = "django.db.models.BigAutoField"
