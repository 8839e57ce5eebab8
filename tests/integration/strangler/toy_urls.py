"""A URLconf of toy strangled routes, so that tests see the whole stack (middleware, log line)."""

from __future__ import annotations

from django.urls import path

from strangler.facade import StrangledView
from tests.integration.strangler.toys import READ, WRITE, Handler

urlpatterns = [
    path(
        "toy/read/<str:item>/",
        StrangledView(READ, legacy=Handler("legacy"), new=Handler("new")),
        name="toy_read",
    ),
    path("toy/write/", StrangledView(WRITE, legacy=Handler("legacy"), new=Handler("new"))),
]
