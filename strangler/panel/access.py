"""Who may see the ops panel: staff. Anonymous visitors are sent to the admin's login page
(with ``next``); a signed-in user who is not staff gets the 403 page, never the data. The JSON
answers 401 and 403 in JSON instead (a poll cannot follow a login page)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.urls import reverse

PanelView = Callable[..., HttpResponseBase]


def staff_page(view: PanelView) -> PanelView:
    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not user.is_staff:
            raise PermissionDenied("the ops panel is for staff")
        return view(request, *args, **kwargs)

    return guarded


def staff_json(view: PanelView) -> PanelView:
    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return JsonResponse({"error": "sign in as staff (the admin's login)"}, status=401)
        if not user.is_staff:
            return JsonResponse({"error": "staff only"}, status=403)
        return view(request, *args, **kwargs)

    return guarded
