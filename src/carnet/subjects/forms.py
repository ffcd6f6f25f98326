"""Forms of the subjects pages, and the words the pages use for statuses, in both languages.

The forms only shape what a person typed; the services decide. A service refusal names its field
("included_on: … is in the future"), which `refusal_to_form` puts next to that field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from django import forms
from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from carnet.accounts.models import StudySite
from carnet.core.errors import CarnetError
from carnet.studies.definition.model import Item, Label, StudyDefinition
from carnet.subjects.models import Sex
from carnet.subjects.registration import (
    RegistrationAnswers,
    answered_items,
    eligibility_from_answers,
    question_targets,
)
from carnet.subjects.schedule import WindowStatus
from carnet.subjects.statuses import (
    STUDY_MOVES,
    TREATMENT_MOVES,
    OffTreatmentReason,
    StudyStatus,
    TreatmentStatus,
    WithdrawalKind,
)

STUDY_STATUS_LABELS: dict[str, Promise] = {
    StudyStatus.SCREENED: _("screened"),
    StudyStatus.SCREEN_FAILURE: _("screen failure"),
    StudyStatus.INCLUDED: _("included"),
    StudyStatus.IN_FOLLOW_UP: _("in follow-up"),
    StudyStatus.COMPLETED: _("completed"),
    StudyStatus.WITHDRAWN: _("withdrawn"),
    StudyStatus.LOST_TO_FOLLOW_UP: _("lost to follow-up"),
    StudyStatus.DECEASED: _("deceased"),
}
TREATMENT_STATUS_LABELS: dict[str, Promise] = {
    TreatmentStatus.NOT_STARTED: _("not started"),
    TreatmentStatus.ON_TREATMENT: _("on treatment"),
    TreatmentStatus.OFF_TREATMENT: _("off treatment"),
}
OFF_TREATMENT_LABELS: dict[str, Promise] = {
    OffTreatmentReason.COMPLETED: _("treatment completed per protocol"),
    OffTreatmentReason.PROGRESSION: _("disease progression"),
    OffTreatmentReason.TOXICITY: _("unacceptable toxicity"),
    OffTreatmentReason.PATIENT_DECISION: _("patient decision"),
    OffTreatmentReason.CONSENT_WITHDRAWN: _("consent to treatment withdrawn"),
    OffTreatmentReason.INVESTIGATOR_DECISION: _("investigator decision"),
    OffTreatmentReason.DEATH: _("death"),
    OffTreatmentReason.OTHER: _("other"),
}
# Each withdrawal with its stated effect (docs/subjects.md, "Consent and its withdrawal").
WITHDRAWAL_LABELS: dict[str, Promise] = {
    WithdrawalKind.TREATMENT: _("From treatment: treatment stops; follow-up and data entry go on."),
    WithdrawalKind.FOLLOW_UP: _(
        "From follow-up: the subject is withdrawn; only data dated up to that day may still be "
        "entered, nothing is scheduled after it."
    ),
    WithdrawalKind.DATA_USE: _(
        "Objection to further use of data: as from follow-up, and nothing more may be entered; "
        "existing data are kept for traceability."
    ),
}
WITHDRAWAL_SHORT: dict[str, Promise] = {
    WithdrawalKind.TREATMENT: _("from treatment"),
    WithdrawalKind.FOLLOW_UP: _("from follow-up"),
    WithdrawalKind.DATA_USE: _("objection to data use"),
}
WINDOW_LABELS: dict[str, Promise] = {
    WindowStatus.UPCOMING: _("upcoming"),
    WindowStatus.DUE: _("due"),
    WindowStatus.OVERDUE: _("overdue"),
    WindowStatus.DONE: _("done"),
    WindowStatus.OUT_OF_WINDOW: _("out of window"),
    WindowStatus.UNSCHEDULED: _("unscheduled"),
    WindowStatus.MISSED: _("missed"),
}
SEX_LABELS: dict[str, Promise] = {
    Sex.FEMALE: _("female"),
    Sex.MALE: _("male"),
    Sex.UNKNOWN: _("unknown"),
}


def language() -> str:
    """Return the page language as the study definitions know it: "fr" or "en"."""
    return "fr" if (get_language() or "en").startswith("fr") else "en"


def label_text(label: Label) -> str:
    return label.text(language())


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


def _date(label: str | Any, *, required: bool = True) -> forms.DateField:
    return forms.DateField(label=label, required=required, widget=DateInput())


def _site_choices(sites: Iterable[StudySite]) -> list[tuple[str, str]]:
    return [(site.code, f"{site.code} — {site.centre.name}") for site in sites]


# --- refusals next to their field -----------------------------------------------------------


def refusal_to_form(
    form: forms.Form, error: CarnetError, aliases: Mapping[str, str] | None = None
) -> None:
    """Put a service refusal next to the field it names (``field: why``), else above the form."""
    message = str(error)
    head, separator, rest = message.partition(": ")
    name = (aliases or {}).get(head, head)
    if separator and name in form.fields:
        form.add_error(name, rest)
    else:
        form.add_error(None, message)


# --- registration wizard --------------------------------------------------------------------

ITEM_PREFIX = "item_"
_YES_NO = [("", "—"), ("1", _("Yes")), ("0", _("No"))]


def _item_field(definition: StudyDefinition, item: Item) -> forms.Field:
    units = f" ({item.units})" if item.units else ""
    label = f"{label_text(item.label)}{units}"
    kind = item.result_type if item.type == "calculated" and item.result_type else item.type
    if item.code_list:
        code_list = definition.code_list(item.code_list)
        choices = [(str(c.code), f"{c.code} — {label_text(c.label)}") for c in code_list.items]
        coerce = int if code_list.type == "integer" else str
        if kind == "multiple_choice":
            return forms.TypedMultipleChoiceField(
                label=label,
                required=False,
                choices=choices,
                coerce=coerce,
                widget=forms.CheckboxSelectMultiple,
            )
        return forms.TypedChoiceField(
            label=label,
            required=False,
            choices=[("", "—"), *choices],
            coerce=coerce,
            empty_value=None,
        )
    if kind == "integer":
        return forms.IntegerField(label=label, required=False)
    if kind == "decimal":
        return forms.FloatField(label=label, required=False)
    if kind == "date":
        return _date(label, required=False)
    if kind == "boolean":
        return forms.TypedChoiceField(
            label=label,
            required=False,
            choices=_YES_NO,
            coerce=lambda value: value == "1",
            empty_value=None,
        )
    return forms.CharField(label=label, required=False, max_length=500)


class InclusionForm(forms.Form):
    """The registration wizard: site, dates, consent and the items the criteria read."""

    site = forms.ChoiceField(label=_("Site"))
    included_on = _date(_("Inclusion date"))
    screening_number = forms.CharField(label=_("Screening number"), required=False, max_length=30)
    # No answer chosen in advance: "unknown" is an answer someone gives, not a default.
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", "—"), *SEX_LABELS.items()])
    age = forms.IntegerField(label=_("Age (years)"), required=False, min_value=0, max_value=130)
    consent_version = forms.CharField(label=_("Consent form version"), max_length=40)
    consented_on = _date(_("Consent date"))
    biobank = forms.BooleanField(label=_("Biobank consent"), required=False)
    future_research = forms.BooleanField(label=_("Consent to future research"), required=False)
    genetic_analysis = forms.BooleanField(label=_("Consent to genetic analysis"), required=False)
    sharing = forms.BooleanField(
        label=_("Consent to sharing samples outside the centre"), required=False
    )

    # Service refusals name these; the form calls them otherwise.
    ALIASES = {
        "consent.form_version": "consent_version",
        "consent.consented_on": "consented_on",
        "consent.biobank": "biobank",
        "consent.future_research": "future_research",
    }
    # The field that answers each registration question of the study file.
    QUESTION_FIELDS = {
        "sex": "sex",
        "age": "age",
        "inclusion_date": "included_on",
        "consent_date": "consented_on",
        "consent_version": "consent_version",
        "biobank_consent": "biobank",
        "future_research_consent": "future_research",
    }

    def __init__(
        self,
        *args: Any,
        sites: Iterable[StudySite],
        definition: StudyDefinition | None,
        items: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = _site_choices(sites)  # type: ignore[attr-defined]
        self.item_names: list[str] = []
        self.answering_fields: list[str] = []  # questions whose answer a criterion reads
        self.definition = definition
        if definition is None:
            return
        for target in question_targets(definition):
            if target.item in items:
                self.answering_fields.append(self.QUESTION_FIELDS[target.question])
        by_name = {item.name: item for _form, _group, item in definition.items()}
        # An item the wizard's own questions fill (age, sex, consent date) is asked once, there.
        answered = answered_items(definition)
        for name in items:
            if name in by_name and name not in answered:
                self.fields[ITEM_PREFIX + name] = _item_field(definition, by_name[name])
                self.item_names.append(name)

    def casebook_items(self) -> list[str]:
        """Return the labels of the casebook items inclusion writes (the person is told so)."""
        if self.definition is None:
            return []
        labels = {
            item.name: label_text(item.label) for _form, _group, item in self.definition.items()
        }
        return [labels[target.item] for target in self.definition.registration]

    def item_fields(self) -> list[forms.BoundField]:
        return [self[ITEM_PREFIX + name] for name in self.item_names]

    def identity_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("site", "included_on", "screening_number", "sex", "age")]

    def consent_fields(self) -> list[forms.BoundField]:
        names = (
            "consent_version",
            "consented_on",
            "biobank",
            "future_research",
            "genetic_analysis",
            "sharing",
        )
        return [self[name] for name in names]

    def eligibility_values(self) -> dict[str, Any]:
        """Return the items given, by item name, as the criteria read them (dates as text)."""
        values: dict[str, Any] = {}
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        for name in self.item_names:
            value = data.get(ITEM_PREFIX + name)
            if value is None or value in ("", []):
                continue  # a missing value fails the criterion that needs it
            values[name] = value.isoformat() if isinstance(value, date) else value
        if self.definition is not None:
            answers = RegistrationAnswers(
                sex=data.get("sex") or "",
                age=data.get("age"),
                inclusion_date=data.get("included_on"),
                consent_date=data.get("consented_on"),
                consent_version=data.get("consent_version") or "",
                biobank_consent=data.get("biobank"),
                future_research_consent=data.get("future_research"),
            )
            for key, value in eligibility_from_answers(self.definition, answers).items():
                values[key] = value
        return values

    def refuse(self, error: CarnetError) -> None:
        aliases = {**self.ALIASES, **{f"eligibility.{n}": ITEM_PREFIX + n for n in self.item_names}}
        refusal_to_form(self, error, aliases)


# --- the subject page's actions -------------------------------------------------------------


class ConsentForm(forms.Form):
    prefix = "consent"
    form_version = forms.CharField(label=_("Consent form version"), max_length=40)
    consented_on = _date(_("Consent date"))
    biobank = forms.BooleanField(label=_("Biobank consent"), required=False)
    future_research = forms.BooleanField(label=_("Consent to future research"), required=False)
    genetic_analysis = forms.BooleanField(label=_("Consent to genetic analysis"), required=False)
    sharing = forms.BooleanField(
        label=_("Consent to sharing samples outside the centre"), required=False
    )


class WithdrawalForm(forms.Form):
    prefix = "withdrawal"
    kind = forms.ChoiceField(
        label=_("Withdrawal"), choices=list(WITHDRAWAL_LABELS.items()), widget=forms.RadioSelect
    )
    withdrawn_on = _date(_("Withdrawal date"))
    reason = forms.CharField(label=_("Reason (optional)"), required=False, max_length=500)


class StudyStatusForm(forms.Form):
    prefix = "study-status"
    status = forms.ChoiceField(label=_("New study status"))
    on = _date(_("Date of the change"))
    reason = forms.CharField(
        label=_("Reason (required for withdrawn and lost to follow-up)"),
        required=False,
        max_length=500,
    )

    def __init__(self, *args: Any, current: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        moves = sorted(STUDY_MOVES.get(current, frozenset()))
        self.fields["status"].choices = [  # type: ignore[attr-defined]
            (status, STUDY_STATUS_LABELS[status]) for status in moves
        ]


class TreatmentStatusForm(forms.Form):
    prefix = "treatment-status"
    status = forms.ChoiceField(label=_("New treatment status"))
    on = _date(_("Date of the change"))
    reason = forms.ChoiceField(
        label=_("Why treatment stopped"),
        required=False,
        choices=[("", "—"), *OFF_TREATMENT_LABELS.items()],
    )
    ALIASES = {"treatment_status": "status", "off_treatment_reason": "reason"}

    def __init__(self, *args: Any, current: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        moves = sorted(TREATMENT_MOVES.get(current, frozenset()))
        self.fields["status"].choices = [  # type: ignore[attr-defined]
            (status, TREATMENT_STATUS_LABELS[status]) for status in moves
        ]


class VisitForm(forms.Form):
    prefix = "visit"
    event = forms.ChoiceField(label=_("Event"))
    visit_on = _date(_("Visit date"))
    occurrence = forms.IntegerField(
        label=_("Occurrence (the next one when empty)"), required=False, min_value=1
    )

    def __init__(self, *args: Any, definition: StudyDefinition | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        events = definition.events if definition else ()
        self.fields["event"].choices = [  # type: ignore[attr-defined]
            (event.name, label_text(event.label)) for event in events
        ]


class NewsForm(forms.Form):
    prefix = "news"
    news_on = _date(_("Date of the news"))
    source = forms.CharField(
        label=_("Source (call, letter from the GP, hospital record…)"), max_length=200
    )


class TransferForm(forms.Form):
    prefix = "transfer"
    site = forms.ChoiceField(label=_("To site"))
    on = _date(_("Transfer date"))
    reason = forms.CharField(label=_("Reason"), max_length=500)

    def __init__(self, *args: Any, sites: Iterable[StudySite], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = _site_choices(sites)  # type: ignore[attr-defined]


class ReviewForm(forms.Form):
    """The medical reviewer's decision on a subject's eligibility."""

    prefix = "review"
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("approve", _("Approve: the patient is eligible")), ("reject", _("Reject"))],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(label=_("Comment"), max_length=2000, widget=forms.Textarea)
    document = forms.FileField(
        label=_("Anonymised document (PDF, PNG or JPEG, optional)"), required=False
    )


class IdentityForm(forms.Form):
    last_name = forms.CharField(label=_("Last name"), required=False, max_length=200)
    first_name = forms.CharField(label=_("First name"), required=False, max_length=200)
    birth_date = forms.CharField(
        label=_("Birth date"), required=False, widget=DateInput(), max_length=10
    )
    national_id = forms.CharField(label=_("National ID number"), required=False, max_length=30)
    contact = forms.CharField(label=_("Contact"), required=False, max_length=500)


# --- lists ----------------------------------------------------------------------------------


class ScreeningEntryForm(forms.Form):
    site = forms.ChoiceField(label=_("Site"))
    screened_on = _date(_("Screening date"))
    age = forms.IntegerField(label=_("Age (years)"), min_value=0, max_value=130)
    sex = forms.ChoiceField(label=_("Sex"), choices=list(SEX_LABELS.items()))
    reason_not_included = forms.CharField(label=_("Reason not included"), max_length=500)
    screening_number = forms.CharField(
        label=_("Screening number (optional)"), required=False, max_length=30
    )

    def __init__(self, *args: Any, sites: Iterable[StudySite], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = _site_choices(sites)  # type: ignore[attr-defined]


class SubjectFilterForm(forms.Form):
    site = forms.ChoiceField(label=_("Site"), required=False)
    study_status = forms.MultipleChoiceField(
        label=_("Study status"),
        required=False,
        choices=list(STUDY_STATUS_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
    )
    treatment_status = forms.MultipleChoiceField(
        label=_("Treatment status"),
        required=False,
        choices=list(TREATMENT_STATUS_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
    )
    overdue = forms.BooleanField(label=_("Only subjects with an overdue visit"), required=False)
    q = forms.CharField(
        label=_("Search (subject or screening number)"), required=False, max_length=40
    )

    def __init__(self, *args: Any, sites: Iterable[StudySite], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [  # type: ignore[attr-defined]
            ("", _("all my sites")),
            *_site_choices(sites),
        ]


class SiteFilterForm(forms.Form):
    site = forms.ChoiceField(label=_("Site"), required=False)
    q = forms.CharField(label=_("Search"), required=False, max_length=40)

    def __init__(self, *args: Any, sites: Iterable[StudySite], **kwargs: Any) -> None:
        # Its own ids: a list page may also hold a form with a site field (the screening log).
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [  # type: ignore[attr-defined]
            ("", _("all my sites")),
            *_site_choices(sites),
        ]


class CampaignForm(SiteFilterForm):
    months = forms.IntegerField(
        label=_("Without news for more than (months)"), min_value=1, max_value=240, initial=6
    )
    on = _date(_("On"))
