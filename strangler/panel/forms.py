"""The panel's controls: what each form takes. Each asks for the reason that goes into the
audit trail; the kill switch's also for an explicit confirmation. Whether a change may be made
is ``strangler.services``' to say (its refusals become error messages)."""

from __future__ import annotations

from django import forms

from strangler import registry
from strangler.modes import Mode


def reason_field() -> forms.CharField:
    return forms.CharField(
        max_length=500,
        widget=forms.TextInput(attrs={"size": 40, "placeholder": "why (goes into the audit log)"}),
    )


def _route_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in registry.routes()]


class ModeForm(forms.Form):
    route = forms.ChoiceField(choices=_route_choices, widget=forms.HiddenInput)
    mode = forms.ChoiceField(choices=[(mode.value, mode.value) for mode in Mode])
    percent = forms.CharField(
        required=False,
        max_length=10,
        help_text="canary only: 0 to 100, in 0.01 steps",
        widget=forms.TextInput(attrs={"size": 6}),
    )
    sample = forms.CharField(
        required=False,
        max_length=10,
        help_text="shadow only: above 0 to 100; blank: 100",
        widget=forms.TextInput(attrs={"size": 6}),
    )
    reason = reason_field()


class PhaseForm(forms.Form):
    ADVANCE, BACK = "advance", "back"

    step = forms.ChoiceField(choices=[(ADVANCE, "advance"), (BACK, "step back")])
    # The phase the page showed: a stale page (or a second press) changes nothing.
    expected = forms.CharField(max_length=10, widget=forms.HiddenInput)
    reason = reason_field()


class KillSwitchForm(forms.Form):
    ENGAGE, LIFT = "engage", "lift"

    action = forms.ChoiceField(choices=[(ENGAGE, "engage"), (LIFT, "lift")])
    confirm = forms.BooleanField(
        label="I understand",
        help_text="engaging sends every route to legacy at once; lifting puts every route back "
        "in its mode",
    )
    reason = reason_field()
