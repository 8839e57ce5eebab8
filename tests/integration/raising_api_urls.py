"""The project's URLconf plus views under /api/ that fail, for the API error tests."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


class DeliberateFailure(RuntimeError):
    pass


def raising_view(request: HttpRequest) -> HttpResponse:
    raise DeliberateFailure("a bug")


class RaisingApi(APIView):
    permission_classes = ()

    def get(self, request: Request) -> Response:
        raise DeliberateFailure("a bug")


def html_error_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<h1>Gone</h1>", status=410, headers={"Retry-After": "60"})


urlpatterns = [
    path("api/v1/boom/", RaisingApi.as_view()),
    path("api/boom/", raising_view),
    path("api/orders/boom/", raising_view),
    path("api/v1/gone/", html_error_view),
    *project_urlpatterns,
]
