"""The project's URLconf plus a view that raises, for the request-log tests."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns


class DeliberateFailure(RuntimeError):
    pass


def raising_view(request: HttpRequest) -> HttpResponse:
    raise DeliberateFailure("customer ada@example.com broke it")


urlpatterns = [path("boom/", raising_view, name="boom"), *project_urlpatterns]
