"""The error responses every operation documents, in the one body (``ErrorSerializer``).

Each operation adds its own (400, 404, 409, 422) to ``ANY_REQUEST``; those with a JSON body add
``WITH_BODY``. Schemathesis checks every status the API answers against these.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse

from httpapi.errors import ErrorSerializer


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description)


ANY_REQUEST = {
    401: error("No valid credentials (send `Authorization: Token ...`)."),
    429: error(
        "Too many requests, or too many failed authentications from this address: try again "
        "after `Retry-After` s (`extra.retry_after`)."
    ),
    500: error("Internal error; `extra.request_id` names its log lines."),
}
WITH_BODY = {
    400: error("Invalid input; `extra.fields` says which and why. Nothing was written."),
    413: error("The body is larger than the API reads (`extra.max_bytes`)."),
    415: error("The body is not `application/json`."),
}
