"""The strangled routes of this process, by name, as the root URLconf registered them.

``strangler.urls.strangled_path`` registers each route once; a process that has not loaded its
URLconf yet (a management command, a worker) loads it on the first lookup.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from strangler.routes import Route

_routes: dict[str, Route] = {}


def register(route: Route) -> None:
    known = _routes.get(route.name)
    if known is not None and known is not route:
        raise ImproperlyConfigured(f"the strangled route {route.name} is registered twice")
    _routes[route.name] = route


def routes() -> dict[str, Route]:
    """Every strangled route, by name."""
    if not _routes:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 (imports the URLconf, which registers them)
    return dict(sorted(_routes.items()))


class UnknownRoute(LookupError):
    def __init__(self, name: str) -> None:
        known = ", ".join(routes()) or "none"
        super().__init__(f"unknown route {name!r} (strangled routes: {known})")


def get(name: str) -> Route:
    route = routes().get(name)
    if route is None:
        raise UnknownRoute(name)
    return route
