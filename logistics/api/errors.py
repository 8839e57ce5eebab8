"""The logistics API's domain errors, translated into the API's one error body.

ShipmentNotFound -> 404, IllegalTransition and ShipmentChanged -> 409, so that views never catch
them; ``httpapi.errors.envelope`` then does the rest (DRF's handler, ``{"message", "extra"}``).
It is the project's DRF exception handler, for every API. Anything else is a bug: it
propagates, Django answers 500 (in JSON under /api/, httpapi.middleware) and the request log
records it.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response

from httpapi.errors import envelope
from logistics.domain import IllegalTransition, ShipmentChanged, ShipmentNotFound


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The shipment is not in a state that allows this."
    default_code = "conflict"

    def __init__(self, detail: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.extra = extra or {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ShipmentNotFound):
        exc = exceptions.NotFound(str(exc))
    elif isinstance(exc, IllegalTransition):
        exc = Conflict(
            str(exc), {"current_status": exc.current.value, "target_status": exc.target.value}
        )
    elif isinstance(exc, ShipmentChanged):
        exc = Conflict(f"{exc}; other writers kept changing it: try again")
    return envelope(exc, context)
