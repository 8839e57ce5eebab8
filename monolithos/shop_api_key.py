"""The closing switch of the legacy shop JSON endpoints: LEGACY_SHOP_API_KEY (LEGACY.md #18).

The four ``/api/orders/...`` views were written without authentication or CSRF protection, and
the web shop still calls them with that contract. ``shop_api_key_required`` wraps each of them,
and each new handler of their strangled routes, in the root URLconf (config/urls.py), so the
legacy views themselves stay as they were. While
the setting is unset every request passes, unchanged. Once it is set, a request must carry the
key in the ``X-Shop-Api-Key`` header, compared in constant time, or it is answered 401 in the
endpoints' own error format, ``{"error": "..."}``, before the view runs. Closing them is a step
of the runbook (phase 5).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse

logger = structlog.get_logger(__name__)

HEADER = "X-Shop-Api-Key"

View = Callable[..., HttpResponseBase]


def shop_api_key_required(view: View) -> View:
    # functools.wraps also copies the view's csrf_exempt mark, which the CSRF middleware reads.
    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        key: str | None = settings.LEGACY_SHOP_API_KEY
        if key:
            presented = request.headers.get(HEADER)
            if presented is None or not _same(presented, key):
                return _refused(request, "missing" if presented is None else "wrong")
        return view(request, *args, **kwargs)

    return guarded


def _same(presented: str, key: str) -> bool:
    # Bytes, because compare_digest refuses non-ASCII str; surrogatepass encodes any str at all.
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), key.encode("utf-8", "surrogatepass")
    )


def _refused(request: HttpRequest, reason: str) -> JsonResponse:
    # The request log line says 401 and the route; this one says why, never with the value sent.
    logger.warning("legacy_shop_key_refused", reason=reason, path=request.path)
    response = JsonResponse(
        {"error": f"this endpoint needs the shop's key in {HEADER}"}, status=401
    )
    response["WWW-Authenticate"] = f'ApiKey header="{HEADER}"'
    return response
