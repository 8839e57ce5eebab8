"""``strangled_path``: one strangled route in the root URLconf; and the ops panel's URLs.

``strangled_path("api/orders/", PLACE_ORDER, legacy=views.api_place_order, new=...)`` reads as
django-flags' ``flagged_path`` does: the URL, and both handlers, where Django readers look for
them. The path is named after the route, so the legacy URL names keep reversing; it is
registered once (``strangler.registry``), which is how the admin, the command and the panel
know the routes.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, path

from strangler import registry
from strangler.facade import StrangledView, View
from strangler.panel import views
from strangler.routes import Route


def strangled_path(route_pattern: str, route: Route, *, legacy: View, new: View) -> URLPattern:
    if bool(getattr(legacy, "csrf_exempt", False)) != bool(getattr(new, "csrf_exempt", False)):
        raise ImproperlyConfigured(
            f"route {route.name}: both handlers must agree on CSRF protection (csrf_exempt)"
        )
    registry.register(route)
    return path(route_pattern, StrangledView(route, legacy=legacy, new=new), name=route.name)


app_name = "strangler"

urlpatterns = [
    path("", views.panel, name="panel"),
    path("state.json", views.state, name="state"),
    path("mode/", views.set_mode, name="set_mode"),
    path("phase/", views.change_phase, name="change_phase"),
    path("kill-switch/", views.kill_switch, name="kill_switch"),
]
