"""The ops panel's views: the page (GET /ops/strangler/), its JSON (GET .../state.json) and one
POST view per control.

Reads go through ``strangler.selectors`` and write nothing. A control validates its form,
calls one service with ``via="panel"`` and the signed-in user as the actor, and redirects back
to the page with the outcome as a message (post/redirect/get: a reload repeats nothing). A
refusal (``ChangeRefused``) is an error message on the page; a form that does not validate
answers 400 with the page and the form's errors beside the control.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from strangler import selectors, services, wiring
from strangler.modes import Mode
from strangler.panel.access import staff_json, staff_page
from strangler.panel.charts import route_charts
from strangler.panel.forms import KillSwitchForm, ModeForm, PhaseForm

POLL_SECONDS = 5
MISMATCHES_SHOWN = 5


@never_cache
@require_GET
@staff_json
def state(request: HttpRequest) -> JsonResponse:
    """The strangler's state, and the version (and phase) this process routes by
    (``process``: which copy of the state answered)."""
    snapshot = wiring.store().snapshot()
    process = {
        "pid": os.getpid(),
        "version": snapshot.version,
        "killed": snapshot.killed,
        "phase": snapshot.phase.value,
    }
    return JsonResponse({**selectors.status(), "process": process})


@never_cache
@require_GET
@staff_page
def panel(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _page(
    request: HttpRequest, *, bound: dict[str, Form] | None = None, status: int = 200
) -> HttpResponse:
    bound = bound or {}
    picture = selectors.status()
    phase = picture["phase"]
    routes = []
    for route in picture["routes"]:
        name = route["route"]
        figures = picture["traffic"][name]
        configured = {"route": name, "mode": route["mode"]}
        if route["mode"] == Mode.CANARY:
            configured["percent"] = route["percent"]
        routes.append(
            {
                **route,
                "traffic": figures,
                "charts": route_charts(name, figures["minutes"]),
                "mismatches": selectors.recent_mismatches(name, limit=MISMATCHES_SHOWN),
                "form": bound.get(f"mode:{name}") or ModeForm(initial=configured),
            }
        )
    kill_action = (
        KillSwitchForm.LIFT if picture["kill_switch"]["engaged"] else KillSwitchForm.ENGAGE
    )
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Strangler ops panel",
        "is_nav_sidebar_enabled": False,  # the panel needs the width
        "picture": picture,
        "routes": routes,
        "phase": phase,
        "phase_form": bound.get("phase") or PhaseForm(initial={"expected": phase["phase"]}),
        "kill_form": bound.get("kill") or KillSwitchForm(initial={"action": kill_action}),
        "kill_action": kill_action,
        "poll_seconds": POLL_SECONDS,
        "bound_errors": [form.errors for form in bound.values()],
    }
    return render(request, "strangler/panel/panel.html", context, status=status)


def _actor(request: HttpRequest) -> str:
    return str(request.user.get_username())


def _carry_out(
    request: HttpRequest, change: Callable[[], services.Outcome]
) -> HttpResponseRedirect:
    """Make a validated form's change and say how it went: back to the page with a message."""
    try:
        outcome = change()
    except services.ChangeRefused as error:
        messages.error(request, f"refused: {error}")
        return HttpResponseRedirect(reverse("strangler:panel"))
    if outcome.change is None:
        messages.info(request, outcome.message)
    else:
        messages.success(request, outcome.message)
    if not outcome.announced:
        messages.warning(
            request,
            "the change is stored but could not be announced: other processes see it when "
            "their copy expires (STRANGLER_STATE_FALLBACK_SECONDS)",
        )
    return HttpResponseRedirect(reverse("strangler:panel"))


@require_POST
@staff_page
def set_mode(request: HttpRequest) -> HttpResponse:
    form = ModeForm(request.POST)
    if not form.is_valid():
        return _page(request, bound={f"mode:{request.POST.get('route', '')}": form}, status=400)
    data = form.cleaned_data
    return _carry_out(
        request,
        lambda: services.set_mode(
            route=data["route"],
            mode=data["mode"],
            percent=data["percent"] or None,
            sample=data["sample"] or None,
            reason=data["reason"],
            actor=_actor(request),
            via="panel",
        ),
    )


@require_POST
@staff_page
def change_phase(request: HttpRequest) -> HttpResponse:
    form = PhaseForm(request.POST)
    if not form.is_valid():
        return _page(request, bound={"phase": form}, status=400)
    data = form.cleaned_data
    step = services.advance_phase if data["step"] == PhaseForm.ADVANCE else services.step_back_phase
    return _carry_out(
        request,
        lambda: step(
            reason=data["reason"], actor=_actor(request), via="panel", expected=data["expected"]
        ),
    )


@require_POST
@staff_page
def kill_switch(request: HttpRequest) -> HttpResponse:
    form = KillSwitchForm(request.POST)
    if not form.is_valid():
        return _page(request, bound={"kill": form}, status=400)
    data = form.cleaned_data
    switch = services.kill if data["action"] == KillSwitchForm.ENGAGE else services.unkill
    return _carry_out(
        request, lambda: switch(reason=data["reason"], actor=_actor(request), via="panel")
    )
