"""RequestLogMiddleware: the outermost middleware, so that every request is traced and logged.

For each request it validates the incoming trace headers (observability.trace), binds the trace
id for every log line written while the request runs, returns it in ``X-Request-ID``, and writes
exactly one final line: ``request_finished`` with method, route, status, duration and user id,
or ``request_failed`` with the exception when the view or a middleware raised (status 500).
Requests rejected by a later middleware (bad host, CSRF, HTTPS redirect) get theirs too.
docs/adr/0003-request-logging.md says why this is ours and not django-structlog's middleware.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import structlog
from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject

from observability import trace

logger = structlog.get_logger("observability.request")

_EXCEPTION_ATTRIBUTE = "_observability_exception"


@receiver(got_request_exception, dispatch_uid="observability.remember_exception")
def _remember_exception(sender: Any, request: HttpRequest | None = None, **_: Any) -> None:
    # Django sends this for unhandled exceptions only, just before it answers 500.
    if request is not None:
        setattr(request, _EXCEPTION_ATTRIBUTE, sys.exc_info())


def route_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else "<unresolved>"


def user_id(request: HttpRequest) -> object:
    # Only a user something already loaded: evaluating request.user here would cost a session
    # read (a database query) on requests that never needed one. DRF's authentication replaces
    # the lazy object with the user it authenticated (a token's owner, say).
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = getattr(request, "_cached_user", None)
    return getattr(user, "pk", None)


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        # META, not request.headers: building the headers mapping costs more than the lookup.
        trace_id, source = trace.trace_id_for_request(
            request.META.get("HTTP_TRACEPARENT"), request.META.get("HTTP_X_REQUEST_ID")
        )
        structlog.contextvars.clear_contextvars()
        trace.bind_trace_id(trace_id)
        try:
            if source == "replaced":
                logger.warning("trace_header_replaced", reason="malformed or oversized header")
            response = self.get_response(request)
            response[trace.REQUEST_ID_HEADER] = trace_id
            self.log_final_line(request, response.status_code, started)
            return response
        finally:
            structlog.contextvars.clear_contextvars()

    @staticmethod
    def log_final_line(request: HttpRequest, status: int, started: float) -> None:
        fields = {
            "request": f"{request.method} {request.get_full_path()}",
            "method": request.method,
            "route": route_name(request),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "user_id": user_id(request),
        }
        exc_info = getattr(request, _EXCEPTION_ATTRIBUTE, None)
        if exc_info is not None:
            logger.error("request_failed", exc_info=exc_info, **fields)
        elif status >= 500:
            logger.error("request_finished", **fields)
        else:
            level = logging.WARNING if status >= 400 else logging.INFO
            logger.log(level, "request_finished", **fields)
