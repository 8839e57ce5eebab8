"""Toy handlers and routes for the facade's tests: the strangler knows view callables only."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from strangler import keys
from strangler.routes import Kind, Route

READ = Route(name="toy_read", kind=Kind.READ, key=keys.url_kwarg("item"), fallback_to_legacy=True)
WRITE = Route(name="toy_write", kind=Kind.WRITE, key=keys.json_field("customer_email"))


class Handler:
    """A view that answers ``{"side": name}`` and remembers what it was called with."""

    def __init__(self, name: str, *, raises: Exception | None = None) -> None:
        self.name = name
        self.raises = raises
        self.calls: list[dict[str, Any]] = []

    def __call__(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.calls.append({"kwargs": kwargs, "body": request.body})
        if self.raises is not None:
            raise self.raises
        return JsonResponse({"side": self.name, **kwargs})


def not_found(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    raise Http404("no such item")
