"""The control room (after django-waffle's admin): route modes changed by actions, audited.

Rows are read-only: every change goes through an action, which asks for the reason (for a
canary, the percentage; for a shadow, the sample, 100 % when left blank) on an intermediate
page and calls ``strangler.services``, so it is validated, audited and announced like one made
with ``manage.py strangler``. The kill switch's two actions act on every route at once,
whichever rows are selected; so do the data phase's two (advance, with the next phase's
preconditions on the page and a ``force`` box; step back), whose refusals are error messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from strangler import selectors, services, wiring
from strangler.models import ModeChange, ParityRun, RouteMode, ShadowMismatch, StranglerState
from strangler.modes import Mode

if TYPE_CHECKING:
    # django-stubs makes ModelAdmin generic; at run time Django's class is not subscriptable.
    _Admin = admin.ModelAdmin[Any]
else:
    _Admin = admin.ModelAdmin


class ChangeForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    percent = forms.CharField(required=False, help_text="0 to 100, in 0.01 steps (canary only)")
    sample = forms.CharField(
        required=False,
        help_text="the share of routing keys compared: above 0 to 100, in 0.01 steps; blank: 100",
    )


def _actor(request: HttpRequest) -> str:
    return str(request.user.get_username()) or "admin"


def _confirm(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[RouteMode],
    *,
    title: str,
    needs_percent: bool,
    asks_sample: bool = False,
) -> tuple[ChangeForm | None, HttpResponse | None]:
    """The valid form once the reason was given; else the intermediate page asking for it."""
    if "apply" in request.POST:
        form = ChangeForm(request.POST)
        if form.is_valid() and (form.cleaned_data["percent"] or not needs_percent):
            return form, None
    else:
        form = ChangeForm()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "needs_percent": needs_percent,
        "asks_sample": asks_sample,
        "routes": queryset,
        "action": request.POST.get("action", ""),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "opts": modeladmin.model._meta,
    }
    return None, TemplateResponse(request, "strangler/admin/change_mode.html", context)


def _mode_action(mode: Mode, label: str) -> Any:
    needs_percent = mode is Mode.CANARY
    asks_sample = mode is Mode.SHADOW

    def action(
        modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[RouteMode]
    ) -> HttpResponse | None:
        form, page = _confirm(
            modeladmin,
            request,
            queryset,
            title=label,
            needs_percent=needs_percent,
            asks_sample=asks_sample,
        )
        if form is None:
            return page
        for row in queryset:
            try:
                outcome = services.set_mode(
                    route=row.route,
                    mode=mode.value,
                    percent=(form.cleaned_data["percent"] or None) if needs_percent else None,
                    sample=(form.cleaned_data["sample"] or None) if asks_sample else None,
                    reason=form.cleaned_data["reason"],
                    actor=_actor(request),
                    via="admin",
                )
            except services.ChangeRefused as refused:
                modeladmin.message_user(request, f"{row.route}: {refused}", messages.ERROR)
            else:
                modeladmin.message_user(request, outcome.message, messages.SUCCESS)
        return None

    action.__name__ = f"to_{mode.value}"
    return admin.action(description=label)(action)


def _switch_action(engage: bool, label: str) -> Any:
    def action(
        modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[RouteMode]
    ) -> HttpResponse | None:
        form, page = _confirm(modeladmin, request, queryset, title=label, needs_percent=False)
        if form is None:
            return page
        change = services.kill if engage else services.unkill
        try:
            outcome = change(reason=form.cleaned_data["reason"], actor=_actor(request), via="admin")
        except services.ChangeRefused as refused:
            modeladmin.message_user(request, str(refused), messages.ERROR)
        else:
            modeladmin.message_user(request, outcome.message, messages.WARNING)
        return None

    action.__name__ = "kill" if engage else "unkill"
    return admin.action(description=label)(action)


class PhaseForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    force = forms.BooleanField(
        required=False,
        help_text="take the step although its preconditions do not hold: audited, with what "
        "each one risks",
    )
    # The phase the page showed: a step pressed twice (or after someone else's) changes nothing.
    expected = forms.CharField(widget=forms.HiddenInput)


def _phase_action(forward: bool, label: str) -> Any:
    def action(
        modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[RouteMode]
    ) -> HttpResponse | None:
        form = PhaseForm(request.POST) if "apply" in request.POST else None
        if form is not None and form.is_valid():
            data = form.cleaned_data
            common = {"reason": data["reason"], "actor": _actor(request), "via": "admin"}
            try:
                if forward:
                    outcome = services.advance_phase(
                        force=data["force"], expected=data["expected"], **common
                    )
                else:
                    outcome = services.step_back_phase(expected=data["expected"], **common)
            except services.ChangeRefused as refused:
                modeladmin.message_user(request, str(refused), messages.ERROR)
            else:
                forced = outcome.change is not None and outcome.change.forced
                level = messages.WARNING if forced else messages.SUCCESS
                modeladmin.message_user(request, outcome.message, level)
            return None
        status = selectors.phase_status()
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": label,
            "form": form or PhaseForm(initial={"expected": status["phase"]}),
            "forward": forward,
            "status": status,
            "target": status["next"] if forward else status["previous"],
            "action": request.POST.get("action", ""),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "opts": modeladmin.model._meta,
        }
        return TemplateResponse(request, "strangler/admin/change_phase.html", context)

    action.__name__ = "advance_phase" if forward else "step_back_phase"
    return admin.action(description=label)(action)


@admin.register(RouteMode)
class RouteModeAdmin(_Admin):
    list_display = ("route", "configured", "serving", "updated_at", "updated_by")
    readonly_fields = (
        "route",
        "mode",
        "basis_points",
        "sample_points",
        "salt",
        "updated_at",
        "updated_by",
    )
    actions = (
        _mode_action(Mode.SHADOW, "Shadow: legacy answers, new is compared (on a sample)"),
        _mode_action(Mode.CANARY, "Canary: N %% of routing keys to new"),
        _mode_action(Mode.NEW, "New: the new handler alone"),
        _mode_action(Mode.LEGACY, "Back to legacy"),
        _switch_action(True, "Kill switch: every route to legacy now"),
        _switch_action(False, "Lift the kill switch: every route back to its mode"),
        _phase_action(True, "Data phase: advance to the next (checks its preconditions)"),
        _phase_action(False, "Data phase: step back (the rollback)"),
    )

    @admin.display(description="mode")
    def configured(self, row: RouteMode) -> str:
        return row.describe()

    @admin.display(description="serving now")
    def serving(self, row: RouteMode) -> str:
        return wiring.store().snapshot().effective(row.route).mode.value

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        services.ensure_routes()  # every registered route is listed, legacy until changed
        state = selectors.state_row()
        if state.killed:
            self.message_user(
                request,
                f"The kill switch is engaged ({state.reason}): every route is served by legacy.",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RouteMode | None = None) -> bool:
        return False


class ReadOnlyAdmin(_Admin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StranglerState)
class KillSwitchAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "phase", "version", "changed_at", "changed_by", "reason")


@admin.register(ModeChange)
class ModeChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "route", "change", "actor", "via", "forced", "reason")
    list_filter = ("route", "via", "forced")
    search_fields = ("reason", "actor")


@admin.register(ParityRun)
class ParityRunAdmin(ReadOnlyAdmin):
    list_display = ("finished_at", "phase", "checked", "mismatched", "missing")
    list_filter = ("phase",)


@admin.register(ShadowMismatch)
class ShadowMismatchAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "route", "outcome", "routing_key", "differs")
    list_filter = ("route", "outcome")

    @admin.display(description="differs in")
    def differs(self, row: ShadowMismatch) -> str:
        return ", ".join(sorted(row.diff)) or row.error[:80]
