"""The request log: what django-structlog's RequestMiddleware leaves to us, on its signals.

``django_structlog.middlewares.RequestMiddleware`` (config/settings.py, right after
django-prometheus's first middleware) writes every request's lines: ``request_started`` (at
DEBUG, DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL), then exactly one final line,
``request_finished`` at a level by status, or ``request_failed`` with the exception when the
view or a middleware raised (status 500). Being outermost, it also ends requests that a later
middleware rejected (bad host, CSRF, HTTPS redirect). Its signals get what the project's
contract adds (docs/adr/0018-request-and-task-logs-with-django-structlog.md):

- ``bind_extra_request_metadata``: the trace id, validated by ``observability.trace`` from
  ``traceparent`` or ``X-Request-ID`` (ADR 0002), is the request's id, bound as ``trace_id``
  in a context cleared of anything else (the library's own random ``request_id`` included); a
  rejected header is logged, never bound;
- ``bind_extra_request_finished_metadata`` and ``bind_extra_request_failed_metadata``: the final
  line's fields under the project's names (``status``, not the library's ``code``) with the
  method, route, duration and user id; the final line also names what the request bound on its
  way (``side``, ``shadow``: the strangler);
- ``bind_extra_request_finished_metadata`` and ``update_failure_response``: the trace id goes
  back in ``X-Request-ID``.

Imports nothing of the project but ``observability.trace``.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject
from django_structlog import signals

from observability import trace

logger = structlog.get_logger(__name__)

_STARTED_ATTRIBUTE = "_observability_started"


def route_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else "<unresolved>"


def user_id(request: HttpRequest) -> object:
    # Only a user something already loaded: evaluating request.user here would cost a session
    # read (a database query) on requests that never needed one, which the library's own
    # user id (DJANGO_STRUCTLOG_USER_ID_FIELD, off here) does. DRF's authentication replaces
    # the lazy object with the user it authenticated (a token's owner, say).
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = getattr(request, "_cached_user", None)
    return getattr(user, "pk", None)


@receiver(signals.bind_extra_request_metadata, dispatch_uid="observability.bind_trace_id")
def bind_trace_id(request: HttpRequest, **_: Any) -> None:
    setattr(request, _STARTED_ATTRIBUTE, time.perf_counter())
    # META, not request.headers: building the headers mapping costs more than the lookup.
    trace_id, source = trace.trace_id_for_request(
        request.META.get("HTTP_TRACEPARENT"), request.META.get("HTTP_X_REQUEST_ID")
    )
    # The library clears the context when a request ends, not when one starts: whatever this
    # thread bound outside a request would be in this one's lines. It has bound its own random
    # request_id by now, which the trace id replaces.
    structlog.contextvars.clear_contextvars()
    trace.bind_trace_id(trace_id)
    if source == "replaced":
        logger.warning("trace_header_replaced", reason="malformed or oversized header")


@receiver(signals.bind_extra_request_finished_metadata, dispatch_uid="observability.finished")
def finished_line(
    request: HttpRequest, response: HttpResponseBase, log_kwargs: dict[str, Any], **_: Any
) -> None:
    return_trace_id(response)
    final_line_fields(request, log_kwargs)


@receiver(signals.bind_extra_request_failed_metadata, dispatch_uid="observability.failed")
def failed_line(request: HttpRequest, log_kwargs: dict[str, Any], **_: Any) -> None:
    final_line_fields(request, log_kwargs)


@receiver(signals.update_failure_response, dispatch_uid="observability.failure_response")
def failure_response(response: HttpResponseBase, **_: Any) -> None:
    return_trace_id(response)


def return_trace_id(response: HttpResponseBase) -> None:
    trace_id = trace.current_trace_id()
    if trace_id is not None:
        response[trace.REQUEST_ID_HEADER] = trace_id


def final_line_fields(request: HttpRequest, log_kwargs: dict[str, Any]) -> None:
    """The library's ``request`` and ``code``, as ``request`` and ``status`` among ours."""
    started = getattr(request, _STARTED_ATTRIBUTE, None)
    status = log_kwargs.pop("code")
    log_kwargs.update(
        request=log_kwargs.pop("request"),
        method=request.method,
        route=route_name(request),
        status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2) if started else None,
        user_id=user_id(request),
    )
