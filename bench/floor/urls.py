"""ROOT_URLCONF of bench.settings_floor: the probes and the one bare endpoint."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from bench.floor.views import AcceptView

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("observability.urls")),
    path("floor/accept/", AcceptView.as_view(), name="floor_accept"),
]
