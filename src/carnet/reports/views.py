"""The design calculator page: any signed-in person; no study, no patient data."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from carnet.analysis import AnalysisInputError
from carnet.reports.design import (
    design_ahern,
    design_proportions,
    design_sequential,
    design_simon,
    design_survival,
    fractions_from_text,
)
from carnet.reports.forms import FORMS

TITLES = {
    "simon": _("Simon two-stage (phase II)"),
    "ahern": _("A'Hern single stage (phase II)"),
    "survival": _("Survival: events and patients"),
    "proportions": _("Two proportions"),
    "sequential": _("Group-sequential boundaries"),
}
SERVICES: dict[str, Any] = {
    "simon": design_simon,
    "ahern": design_ahern,
    "survival": design_survival,
    "proportions": design_proportions,
    "sequential": design_sequential,
}


@login_required
@require_GET
def design_calculator(request: HttpRequest) -> HttpResponse:
    """Show the five calculators; the one submitted shows its result under its form."""
    asked = request.GET.get("calculator", "")
    sections = []
    for name, form_class in FORMS.items():
        form = form_class(request.GET if asked == name else None, initial={"calculator": name})
        result = error = None
        if asked == name and form.is_valid():
            values = {k: v for k, v in form.cleaned_data.items() if k != "calculator"}
            try:
                if name == "sequential":
                    values["information_fractions"] = fractions_from_text(
                        values["information_fractions"]
                    )
                    values["futility"] = values["futility"] or None
                result = SERVICES[name](**values)
            except AnalysisInputError as refused:
                error = str(refused)
        sections.append(
            {"name": name, "title": TITLES[name], "form": form, "result": result, "error": error}
        )
    return render(request, "reports/design.html", {"sections": sections, "asked": asked})
