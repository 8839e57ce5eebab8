"""Project wiring: settings, URLs, WSGI/ASGI entry points, the Celery app. No business logic."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
