"""What a client gets when a new handler raises: the route's own error format, never a bare 500.

The web shop's JSON routes answer ``{"error": "..."}`` as their legacy handlers always did; the
back office's pages a short HTML page. Both name the request id, which the request log line and
every other line of the request carry.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from observability import trace

MESSAGE = "internal error"


def json_error(request: HttpRequest) -> HttpResponse:
    request_id = trace.current_trace_id() or ""
    return JsonResponse({"error": f"{MESSAGE} (request {request_id})"}, status=500)


def html_error(request: HttpRequest) -> HttpResponse:
    body = render_to_string(
        "strangler/error.html", {"request_id": trace.current_trace_id() or ""}, request=request
    )
    return HttpResponse(body, status=500)
