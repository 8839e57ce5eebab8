"""The root URLconf plus the black box round's requests that end badly on purpose.

Mounted by bench/settings_fight.py only, never by the project's settings: ``/bench/raise/``
raises inside the view (django-structlog's ``request_failed`` path, a 500) and
``/bench/slow/?seconds=`` answers late (a client can hang up on it; it can outlive the
server's timeout). Everything else is ``config.urls`` as it is.
"""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, path

from config import urls as root

SLOWEST_S = 30.0


class RaisedOnPurpose(RuntimeError):
    """The black box round's view that fails: nothing but the request log should notice."""


def raising(request: HttpRequest) -> HttpResponse:
    raise RaisedOnPurpose("the black box round's request that raises")


def slow(request: HttpRequest) -> HttpResponse:
    try:
        seconds = min(max(float(request.GET.get("seconds", "1")), 0.0), SLOWEST_S)
    except ValueError:
        return JsonResponse({"seconds": ["a number of seconds is required"]}, status=400)
    time.sleep(seconds)
    return JsonResponse({"slept_s": seconds})


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/raise/", raising, name="bench_raise"),
    path("bench/slow/", slow, name="bench_slow"),
    *root.urlpatterns,
]
