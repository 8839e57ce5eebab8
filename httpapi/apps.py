"""Django app of the API's conventions: it has no models, only the docs' page template."""

from __future__ import annotations

from django.apps import AppConfig


class HttpApiConfig(AppConfig):
    name = "httpapi"
    verbose_name = "HTTP API"
