"""Routes for the operational endpoints; every route is named for the metrics' view label."""

from __future__ import annotations

from django.urls import path

from observability import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
]
