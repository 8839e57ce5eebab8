"""The trace id contract: one id per unit of work, from HTTP request to worker to supplier.

A trace id is a W3C trace-id: 32 lowercase hex digits, not all zero
(docs/adr/0002-trace-id-format.md). It is taken from an incoming ``traceparent`` header, else
from ``X-Request-ID`` when that holds a trace id or a UUID, else generated. Anything malformed
or oversized is replaced, never trusted, since it would otherwise be written into every log
line and forwarded to third parties.

This is the public helper module every other package uses:

- ``current_trace_id()`` reads the id of the work in progress;
- ``outbound_headers()`` gives the headers to add to an outgoing HTTP call;
- ``task_headers()`` / ``trace_id_from_task_headers()`` carry the id through Celery messages;
- ``bound_trace_id()`` binds an id (a new one by default) around a unit of work outside a request.

Imports nothing of the project.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog

TRACE_ID_KEY = "trace_id"
REQUEST_ID_HEADER = "X-Request-ID"
TRACEPARENT_HEADER = "traceparent"
# The trace id's key in the log context a Celery message carries (observability.tasks).
TASK_HEADER = "trace_id"

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_INVALID_TRACE_ID = "0" * 32
# version 00, 32-hex trace-id, 16-hex parent-id, 2-hex flags (W3C Trace Context, level 1).
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
# W3C allows future versions with longer values; anything past this is not a header we parse.
MAX_HEADER_LENGTH = 128


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def is_trace_id(value: str) -> bool:
    return bool(_TRACE_ID.match(value)) and value != _INVALID_TRACE_ID


def trace_id_from_traceparent(header: str | None) -> str | None:
    """The trace-id of a valid ``traceparent`` header, or None."""
    if not header or len(header) > MAX_HEADER_LENGTH:
        return None
    match = _TRACEPARENT.match(header.strip().lower())
    if match is None:
        return None
    version, trace_id, parent_id, _flags = match.groups()
    if version == "ff" or parent_id == "0" * 16 or not is_trace_id(trace_id):
        return None
    return trace_id


def trace_id_from_request_id(header: str | None) -> str | None:
    """A trace id carried in ``X-Request-ID`` (as 32 hex digits or a UUID), or None."""
    if not header or len(header) > MAX_HEADER_LENGTH:
        return None
    value = header.strip().lower()
    if not _UUID.match(value):
        return None
    value = value.replace("-", "")
    return value if is_trace_id(value) else None


def trace_id_for_request(traceparent: str | None, request_id: str | None) -> tuple[str, str]:
    """The trace id for an incoming request, from its two headers, and where it came from.

    The source is ``traceparent``, ``x-request-id``, ``generated`` or ``replaced`` (a header was
    present but not acceptable, so a new id stands in for it).
    """
    trace_id = trace_id_from_traceparent(traceparent)
    if trace_id:
        return trace_id, "traceparent"
    trace_id = trace_id_from_request_id(request_id)
    if trace_id:
        return trace_id, "x-request-id"
    return new_trace_id(), "replaced" if (traceparent or request_id) else "generated"


def current_trace_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get(TRACE_ID_KEY)
    return value if isinstance(value, str) else None


def bind_trace_id(trace_id: str) -> None:
    structlog.contextvars.bind_contextvars(**{TRACE_ID_KEY: trace_id})


@contextmanager
def bound_trace_id(trace_id: str | None = None) -> Iterator[str]:
    """Bind ``trace_id`` (or a new one) for the duration of a unit of work, then restore."""
    value = trace_id if trace_id and is_trace_id(trace_id) else new_trace_id()
    with structlog.contextvars.bound_contextvars(**{TRACE_ID_KEY: value}):
        yield value


def outbound_headers() -> dict[str, str]:
    """Headers that carry the current trace to another service (empty outside a trace)."""
    trace_id = current_trace_id()
    if trace_id is None:
        return {}
    return {
        TRACEPARENT_HEADER: f"00-{trace_id}-{new_span_id()}-01",
        REQUEST_ID_HEADER: trace_id,
    }


def task_headers() -> dict[str, str]:
    """Headers to add to a Celery message so the task runs under the caller's trace id."""
    trace_id = current_trace_id()
    return {TASK_HEADER: trace_id} if trace_id else {}


def trace_id_from_task_headers(headers: Mapping[str, Any] | None) -> str | None:
    """The trace id a Celery message carries, if it is a valid one."""
    value = (headers or {}).get(TASK_HEADER)
    return value if isinstance(value, str) and is_trace_id(value) else None
