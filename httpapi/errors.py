"""The API's one error body: ``{"message": str, "extra": {...}}`` (docs/adr/0020).

``ErrorSerializer`` documents it (every operation's error responses name it); ``envelope``
gives DRF's exceptions that shape, after DRF's own handler did the HTTP work (WWW-Authenticate
on 401, Retry-After on 429, rolling back an atomic request); ``error_response`` answers what
Django refuses before or around a view (404 of an unmatched path, 405, 413, 500) in it too.

The legacy shop's routes (``API_LEGACY_SHOP_PREFIX``, /api/orders/...) keep the body their
clients parse, ``{"error": str}``: they are not part of the documented API, and the
characterization suite pins them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ErrorSerializer(serializers.Serializer[Any]):
    """Every error the API answers: a sentence for people, details for programs."""

    message = serializers.CharField()
    extra = serializers.DictField(
        help_text="Details: 'fields' for invalid input, 'current_status' and 'target_status' "
        "for an illegal transition, 'retry_after' when throttled, 'request_id' on a 500."
    )


def under_api(request: HttpRequest) -> bool:
    return request.path.startswith(settings.API_PATH_PREFIX)


def error_response(
    request: HttpRequest,
    status: int,
    message: str | None = None,
    extra: dict[str, Any] | None = None,
) -> JsonResponse:
    """An error in the body the request's route speaks (the documented one, or the legacy
    shop's); ``message`` defaults to the status's reason phrase."""
    phrase = HTTPStatus(status).phrase.capitalize()
    if request.path.startswith(settings.API_LEGACY_SHOP_PREFIX):
        return JsonResponse({"error": message or phrase.lower()}, status=status)
    return JsonResponse({"message": message or f"{phrase}.", "extra": extra or {}}, status=status)


def envelope(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, then the one body; None (a 500) for anything that is not an API error."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    extra: dict[str, Any] = getattr(exc, "extra", None) or {}
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
