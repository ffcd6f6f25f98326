"""The design calculator's forms: one per calculator, the defaults of its published example."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _


class _Base(forms.Form):
    calculator = forms.CharField(widget=forms.HiddenInput)


def _probability(label: Any, initial: float) -> forms.FloatField:
    return forms.FloatField(
        label=label,
        initial=initial,
        min_value=0.0,
        max_value=1.0,
        widget=forms.NumberInput({"step": "any"}),
    )


def _positive(
    label: Any, initial: float | None = None, *, required: bool = True
) -> forms.FloatField:
    return forms.FloatField(
        label=label,
        initial=initial,
        min_value=0.0,
        required=required,
        widget=forms.NumberInput({"step": "any"}),
    )


class SimonForm(_Base):
    p0 = _probability(_("Response rate not worth pursuing (p0)"), 0.10)
    p1 = _probability(_("Response rate worth pursuing (p1)"), 0.30)
    alpha = _probability(_("One-sided alpha"), 0.05)
    power = _probability(_("Power"), 0.80)
    kind = forms.ChoiceField(
        label=_("Design"), choices=[("optimal", _("optimal")), ("minimax", _("minimax"))]
    )


class AhernForm(_Base):
    p0 = _probability(_("Response rate not worth pursuing (p0)"), 0.05)
    p1 = _probability(_("Response rate worth pursuing (p1)"), 0.20)
    alpha = _probability(_("One-sided alpha"), 0.05)
    power = _probability(_("Power"), 0.80)


class SurvivalForm(_Base):
    hazard_ratio = _positive(_("Hazard ratio"), 0.75)
    alpha = _probability(_("Two-sided alpha"), 0.05)
    power = _probability(_("Power"), 0.80)
    allocation = _probability(_("Fraction allocated to the experimental arm"), 0.5)
    formula = forms.ChoiceField(
        label=_("Formula"), choices=[("schoenfeld", "Schoenfeld"), ("freedman", "Freedman")]
    )
    control_median = _positive(_("Median survival in the control arm"), required=False)
    accrual_duration = _positive(_("Accrual duration"), required=False)
    follow_up_duration = _positive(_("Follow-up after the last patient"), required=False)
    dropout_rate = forms.FloatField(
        label=_("Share of patients lost by the dropout time"),
        initial=0.0,
        min_value=0.0,
        max_value=0.99,
        widget=forms.NumberInput({"step": "any"}),
    )
    dropout_time = _positive(_("Dropout time"), required=False)


class ProportionsForm(_Base):
    p_control = _probability(_("Proportion in the control arm"), 0.50)
    p_experimental = _probability(_("Proportion in the experimental arm"), 0.70)
    alpha = _probability(_("Two-sided alpha"), 0.05)
    power = _probability(_("Power"), 0.80)
    continuity_correction = forms.BooleanField(label=_("Continuity correction"), required=False)


SPENDING = [
    ("obrien-fleming", _("Lan-DeMets O'Brien-Fleming-type")),
    ("pocock", _("Lan-DeMets Pocock-type")),
    ("hwang-shih-decani", _("Hwang-Shih-DeCani (gamma)")),
]


class SequentialForm(_Base):
    information_fractions = forms.CharField(
        label=_("Information fractions of the analyses (or the number of equally spaced ones)"),
        initial="0.5, 1",
    )
    alpha = _probability(_("One-sided alpha"), 0.025)
    power = _probability(_("Power"), 0.90)
    efficacy = forms.ChoiceField(label=_("Alpha spending (efficacy)"), choices=SPENDING)
    efficacy_parameter = forms.FloatField(label=_("Efficacy gamma"), initial=-4.0, required=False)
    futility = forms.ChoiceField(
        label=_("Beta spending (futility)"),
        choices=[("", _("no futility bound")), *SPENDING],
        required=False,
    )
    futility_parameter = forms.FloatField(label=_("Futility gamma"), initial=-2.0, required=False)
    binding = forms.BooleanField(label=_("Binding futility bound"), required=False)
    fixed_size = _positive(_("Fixed-design size (patients or events)"), required=False)


FORMS: dict[str, type[_Base]] = {
    "simon": SimonForm,
    "ahern": AhernForm,
    "survival": SurvivalForm,
    "proportions": ProportionsForm,
    "sequential": SequentialForm,
}
