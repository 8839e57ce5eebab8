"""Routing keys: what makes a canary sticky, read from the request a route receives.

A key function returns the key or None; a request without a key is served by legacy in canary
mode (it cannot be made sticky). Keys are normalized (stripped, lower-cased) so that the same
customer or order always gives the same key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest

RoutingKey = Callable[[HttpRequest, Mapping[str, Any]], str | None]


def _clean(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip().lower()
    return text[:255] or None


def url_kwarg(name: str) -> RoutingKey:
    """A captured URL argument: the order of ``/api/orders/<id>/...``."""

    def key(request: HttpRequest, kwargs: Mapping[str, Any]) -> str | None:
        return _clean(kwargs.get(name))

    return key


def json_field(name: str) -> RoutingKey:
    """A top-level field of a JSON body: the customer's email of a placement."""

    def key(request: HttpRequest, kwargs: Mapping[str, Any]) -> str | None:
        try:
            data = json.loads(request.body)
        except ValueError:
            return None
        return _clean(data.get(name)) if isinstance(data, dict) else None

    return key


def authenticated_user() -> RoutingKey:
    """The signed-in user (the back office's staff member)."""

    def key(request: HttpRequest, kwargs: Mapping[str, Any]) -> str | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return f"user:{user.pk}"

    return key
