"""Forms of the deviation pages: the register's filters, a declaration, a review."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from carnet.accounts.models import StudySite
from carnet.quality.deviation_models import DeviationClass
from carnet.studies.definition.model import Label

STATUS_CHOICES = [
    ("", _("any status")),
    ("pending", _("awaiting review")),
    ("confirmed", _("confirmed")),
    ("rejected", _("rejected")),
    ("unresolved", _("check still firing or declared")),
    ("resolved", _("check cleared (kept)")),
]


class DateInput(forms.DateInput):
    input_type = "date"


def _category_choices(categories: dict[str, Label], language: str) -> list[tuple[str, str]]:
    return [(name, label.text(language)) for name, label in categories.items()]


class DeviationFilterForm(forms.Form):
    site = forms.ChoiceField(label=_("Site"), required=False)
    subject = forms.CharField(label=_("Subject"), required=False, max_length=40)
    deviation_class = forms.ChoiceField(
        label=_("Class"), required=False, choices=[("", _("any class")), *DeviationClass.choices]
    )
    category = forms.ChoiceField(label=_("Category"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=STATUS_CHOICES)

    def __init__(
        self,
        *args: Any,
        sites: Iterable[StudySite],
        categories: dict[str, Label],
        language: str,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [  # type: ignore[attr-defined]
            ("", _("all my sites")),
            *[(site.code, f"{site.code} — {site.centre.name}") for site in sites],
        ]
        self.fields["category"].choices = [  # type: ignore[attr-defined]
            ("", _("any category")),
            *_category_choices(categories, language),
        ]


class DeclarationForm(forms.Form):
    description = forms.CharField(
        label=_("What happened"), widget=forms.Textarea(attrs={"rows": 3}), max_length=4000
    )
    occurred_on = forms.DateField(label=_("Date of the deviation"), widget=DateInput())
    deviation_class = forms.ChoiceField(label=_("Class"), choices=DeviationClass.choices)
    category = forms.ChoiceField(label=_("Category"))

    def __init__(
        self, *args: Any, categories: dict[str, Label], language: str, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = _category_choices(categories, language)  # type: ignore[attr-defined]


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("confirmed", _("confirm")), ("rejected", _("reject"))],
    )
    deviation_class = forms.ChoiceField(label=_("Class"), choices=DeviationClass.choices)
    category = forms.ChoiceField(label=_("Category"))
    reason = forms.CharField(
        label=_("Reason (to reject, or to change the class or category)"),
        required=False,
        max_length=2000,
    )

    def __init__(
        self, *args: Any, categories: dict[str, Label], language: str, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = _category_choices(categories, language)  # type: ignore[attr-defined]
