"""ApiErrorsMiddleware: under /api/ every error is JSON, and an oversized body a 413.

Whatever answered with an error that is not JSON, Django's 404 page for a path that matched no
route or failed its converter (``/api/v1/shipments/null%2Cnull/``), its 400 page, its 500 page,
a legacy view's empty 405, is answered again in the route's error body (``httpapi.errors``),
with the original's headers (Allow, Retry-After, WWW-Authenticate). The DRF browsable API's
pages (development) are left to the browser that asked for them.

A body declared larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413 before anything
reads it: Django would raise while a view reads ``request.body`` (a legacy view's bare except
turned that into "malformed JSON"), and DRF's parser, which reads the stream, would not check
at all.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response

from httpapi.errors import error_response, under_api
from observability import trace

_NOT_COPIED = {"content-type", "content-length"}


class ApiErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not under_api(request):
            return self.get_response(request)
        limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = _content_length(request)
        if limit is not None and declared is not None and declared > limit:
            return error_response(
                request,
                413,
                f"The request body is too large: at most {limit} bytes.",
                {"max_bytes": limit},
            )
        response = self.get_response(request)
        if response.status_code < 400 or _is_json(response) or _browsable(response):
            return response
        return _as_json(request, response)


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def _is_json(response: HttpResponseBase) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip()
    return content_type == "application/json" or content_type.endswith("+json")


def _browsable(response: HttpResponseBase) -> bool:
    renderer = getattr(response, "accepted_renderer", None)
    return isinstance(response, Response) and isinstance(renderer, BrowsableAPIRenderer)


def _as_json(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    status = response.status_code
    data = response.data if isinstance(response, Response) else None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        replacement = error_response(request, status, data["message"], data.get("extra"))
    elif status >= 500:
        request_id = trace.current_trace_id() or ""
        replacement = error_response(
            request,
            status,
            f"Internal server error (request {request_id}).",
            {"request_id": request_id},
        )
    else:
        replacement = error_response(request, status)
    for name, value in response.items():
        if name.lower() not in _NOT_COPIED:
            replacement[name] = value
    return replacement
