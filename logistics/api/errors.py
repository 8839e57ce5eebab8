"""The API's one exception handler: every error answers ``{"message": str, "extra": {...}}``.

Domain errors are translated here (ShipmentNotFound -> 404, IllegalTransition and
ShipmentChanged -> 409) so that views never catch them; DRF's own handler still does the HTTP
work (WWW-Authenticate on 401, Retry-After on 429, rolling back an atomic request). Anything
else is a bug: it propagates and Django answers 500 (and the request log records it).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from logistics.domain import IllegalTransition, ShipmentChanged, ShipmentNotFound


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The shipment is not in a state that allows this."
    default_code = "conflict"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    extra: dict[str, Any] = {}
    if isinstance(exc, ShipmentNotFound):
        exc = exceptions.NotFound(str(exc))
    elif isinstance(exc, IllegalTransition):
        extra = {"current_status": exc.current.value, "target_status": exc.target.value}
        exc = Conflict(str(exc))
    elif isinstance(exc, ShipmentChanged):
        exc = Conflict(f"{exc}; other writers kept changing it: try again")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    if isinstance(exc, exceptions.ValidationError):
        message = "Invalid input."
        # A serializer's errors are a dict of fields; a bare ValidationError is a list.
        fields = (
            response.data
            if isinstance(response.data, dict)
            else {"non_field_errors": response.data}
        )
        extra = {"fields": fields}
    else:
        detail = getattr(exc, "detail", None)
        message = str(detail) if isinstance(detail, str) else str(response.status_text)
    retry_after = response.headers.get("Retry-After")
    if isinstance(exc, exceptions.Throttled) and retry_after is not None:
        extra = {"retry_after": int(retry_after)}

    response.data = {"message": message, "extra": extra}
    return response
