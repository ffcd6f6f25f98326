"""What an SAE report reads from the casebook (nothing is typed twice): the adverse event's row
and, from the subject's other forms, the suspect and concomitant treatments, the relevant
history and tests.

Items are found by their CDISC SDTM variable (the item's ``sas_name``), or, for a study that
gives none, by the usual item names of Carnet's example studies. Values are kept as stored
(codes) with their labels in both languages, and flagged when the item reveals the arm: every
reader goes through the blinding policy (`shown_content`).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy

from carnet.accounts.blinding import HIDDEN, blinding_of
from carnet.accounts.models import User
from carnet.capture.models import FormInstance, ItemValue
from carnet.studies.definition.model import Item, StudyDefinition
from carnet.studies.models import StudyVersion
from carnet.subjects.models import Subject

# Field of the report -> SDTM variables, then item names used where no sas_name is given.
EVENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "term": (("AETERM",), ("ae_term",)),
    "onset": (("AESTDTC", "AESTDT"), ("ae_start", "ae_start_date", "ae_onset")),
    "end": (("AEENDTC", "AEENDT"), ("ae_end", "ae_end_date")),
    "grade": (("AETOXGR",), ("ae_grade",)),
    "serious": (("AESER",), ()),
    "causality": (("AEREL",), ("ae_relation",)),
    "outcome": (("AEOUT",), ("ae_outcome",)),
    "action": (("AEACN",), ("ae_action",)),
    "death": (("AESDTH",), ()),
    "life_threatening": (("AESLIFE",), ()),
    "hospitalisation": (("AESHOSP",), ()),
    "disability": (("AESDISAB",), ()),
    "congenital_anomaly": (("AESCONG",), ()),
    "medically_important": (("AESMIE",), ()),
}
CRITERIA = (
    "death",
    "life_threatening",
    "hospitalisation",
    "disability",
    "congenital_anomaly",
    "medically_important",
)
# Other forms of the casebook: the section of the report and the variables of a row.
SECTIONS: dict[str, tuple[str, ...]] = {
    "suspect": ("EXTRT", "EXDOSE", "EXDOSU", "EXSTDTC", "EXENDTC"),
    "concomitant": ("CMTRT", "CMDOSE", "CMINDC", "CMSTDTC", "CMENDTC"),
    "history": ("MHTERM", "MHSTDTC", "MHONGO"),
    "tests": ("LBTEST", "LBORRES", "LBORRESU", "LBDTC"),
}
YES = frozenset({"1", "y", "yes", "true"})
FIELD_LABELS = {
    "term": gettext_lazy("Term"),
    "onset": gettext_lazy("Onset"),
    "end": gettext_lazy("End"),
    "grade": gettext_lazy("Grade"),
    "serious": gettext_lazy("Serious"),
    "causality": gettext_lazy("Causality"),
    "outcome": gettext_lazy("Outcome"),
    "action": gettext_lazy("Action taken"),
    "death": gettext_lazy("Results in death"),
    "life_threatening": gettext_lazy("Life-threatening"),
    "hospitalisation": gettext_lazy("Hospitalisation or its prolongation"),
    "disability": gettext_lazy("Persistent or significant disability"),
    "congenital_anomaly": gettext_lazy("Congenital anomaly"),
    "medically_important": gettext_lazy("Other medically important condition"),
}


# A pregnancy report's fields -> the pregnancy form's usual item names (a study names others in
# design.safety.pregnancy.items).
PREGNANCY_ITEMS = {
    "who": "preg_who",
    "lmp": "preg_lmp",
    "edd": "preg_edd",
    "exposure": "preg_exposure",
    "outcome": "preg_outcome",
    "outcome_date": "preg_outcome_date",
}
PREGNANCY_LABELS = {
    "who": gettext_lazy("Pregnant person (patient or partner)"),
    "lmp": gettext_lazy("Last menstrual period"),
    "edd": gettext_lazy("Expected delivery"),
    "exposure": gettext_lazy("Exposure to the study treatment"),
    "outcome": gettext_lazy("Outcome of the pregnancy"),
    "outcome_date": gettext_lazy("Date of the outcome"),
}


def find_item(
    form_items: tuple[Item, ...], variables: tuple[str, ...], names: tuple[str, ...]
) -> Item | None:
    for item in form_items:
        if item.sas_name and item.sas_name.upper() in variables:
            return item
    return next((item for item in form_items if item.name in names), None)


def _value(definition: StudyDefinition, item: Item, stored: ItemValue | None) -> dict[str, Any]:
    text = "" if stored is None else stored.text
    value: dict[str, Any] = {"item": item.name, "text": text}
    if stored is not None and stored.missing_code:
        value["missing"] = stored.missing_code
    if item.code_list and text:
        codes = {str(code.code): code.label for code in definition.code_list(item.code_list).items}
        label = codes.get(text)
        if label is not None:
            value["label"] = {"en": label.en, "fr": label.fr}
    if item.arm_revealing:
        value["arm_revealing"] = True
    return value


def _row_values(instance: FormInstance, row: int) -> dict[str, ItemValue]:
    return {
        v.item: v for v in ItemValue.objects.filter(form_instance=instance, row=row, removed=False)
    }


def adverse_event_data(instance: FormInstance, row: int) -> dict[str, Any]:
    """Return the adverse event's fields (term, onset, grade, criteria...) from its row."""
    definition = instance.study_version.parsed()
    form = next((f for f in definition.forms if f.name == instance.form), None)
    if form is None:
        return {}
    stored = _row_values(instance, row)
    found: dict[str, Any] = {}
    for field, (variables, names) in EVENT_FIELDS.items():
        item = find_item(form.items(), variables, names)
        if item is not None:
            found[field] = _value(definition, item, stored.get(item.name))
    return found


def _sections(subject: Subject) -> dict[str, list[dict[str, Any]]]:
    """Return the rows of the subject's other forms that hold treatments, history or tests."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
    # The form instances only: joining their study version would decode its whole definition
    # (a large JSON) once per value row, most of an SAE report's time; each version is read once.
    values = (
        ItemValue.objects.filter(form_instance__subject=subject, removed=False)
        .select_related("form_instance")
        .order_by("form_instance_id", "row", "pk")
    )
    rows: dict[tuple[int, int], list[ItemValue]] = {}
    for value in values:
        rows.setdefault((value.form_instance_id, value.row), []).append(value)
    versions = {
        version.pk: version
        for version in StudyVersion.objects.filter(
            pk__in={row_values[0].form_instance.study_version_id for row_values in rows.values()}
        )
    }
    for row_values in rows.values():
        instance = row_values[0].form_instance
        definition = versions[instance.study_version_id].parsed()
        form = next((f for f in definition.forms if f.name == instance.form), None)
        if form is None:
            continue
        by_name = {item.name: item for item in form.items()}
        for section, variables in SECTIONS.items():
            record = {
                (by_name[v.item].sas_name or "").upper(): _value(definition, by_name[v.item], v)
                for v in row_values
                if v.item in by_name and (by_name[v.item].sas_name or "").upper() in variables
            }
            if record and variables[0] in record:
                record["_place"] = {"event": instance.event, "form": instance.form}
                out[section].append(record)
    return out


def safety_settings(definition: StudyDefinition) -> dict[str, Any]:
    """Return the study's declarations of AESIs and pregnancy reports (empty when none)."""
    found = definition.design.get("safety") or {}
    return found if isinstance(found, dict) else {}


def pregnancy_data(instance: FormInstance) -> dict[str, Any]:
    """Return the pregnancy report's fields (person, LMP, expected delivery, exposure,
    outcome) from the study's pregnancy form."""
    definition = instance.study_version.parsed()
    form = next((f for f in definition.forms if f.name == instance.form), None)
    if form is None:
        return {}
    declared = safety_settings(definition).get("pregnancy", {}).get("items", {})
    names = {**PREGNANCY_ITEMS, **declared}
    items = {item.name: item for item in form.items()}
    stored = _row_values(instance, 0)
    return {
        field: _value(definition, items[name], stored.get(name))
        for field, name in names.items()
        if name in items
    }


def case_content(
    instance: FormInstance, row: int, *, narrative: str, kind: str = "sae"
) -> dict[str, Any]:
    """Return what a version of the report holds: the event (or, for a pregnancy report, the
    pregnancy) and the casebook's sections."""
    subject = instance.subject
    if kind == "pregnancy":
        return {
            "study": subject.study.identifier,
            "subject": subject.identifier,
            "site": subject.site.code,
            "event": instance.event,
            "form": instance.form,
            "repeat": instance.repeat,
            "row": row,
            "adverse_event": {},
            "pregnancy": pregnancy_data(instance),
            **_sections(subject),
            "narrative": narrative,
        }
    return {
        "study": subject.study.identifier,
        "subject": subject.identifier,
        "site": subject.site.code,
        "event": instance.event,
        "form": instance.form,
        "repeat": instance.repeat,
        "row": row,
        "adverse_event": adverse_event_data(instance, row),
        **_sections(subject),
        "narrative": narrative,
    }


def is_yes(value: dict[str, Any] | None) -> bool:
    return bool(value) and str(value.get("text", "")).strip().lower() in YES  # type: ignore[union-attr]


def field_text(content: dict[str, Any], field: str, language: str = "en") -> str:
    """Return an adverse event field as read: its label when coded, else its text."""
    value = content.get("adverse_event", {}).get(field)
    if not value:
        return ""
    label = value.get("label")
    if label:
        return str(label.get(language) or label.get("en") or value["text"])
    return str(value.get("text", ""))


def mask(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("arm_revealing") and value.get("text"):
            return {**value, "text": HIDDEN, "label": {"en": HIDDEN, "fr": HIDDEN}}
        return {key: mask(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [mask(inner) for inner in value]
    return value


def shown_content(actor: User, subject: Subject, content: dict[str, Any]) -> dict[str, Any]:
    """Return the content as the actor may read it: arm-revealing values masked when blinded."""
    if blinding_of(actor, study=subject.study).unblinded:
        return content
    masked: dict[str, Any] = mask(content)
    return masked


def event_rows(content: dict[str, Any], language: str) -> list[tuple[str, str]]:
    """Return the adverse event's fields as (label, value) in the reader's language."""
    event = content.get("adverse_event", {})
    return [
        (str(FIELD_LABELS.get(field, field)), field_text(content, field, language))
        for field in EVENT_FIELDS
        if field in event
    ]


def pregnancy_text(content: dict[str, Any], field: str, language: str = "en") -> str:
    """Return a pregnancy field as read: its label when coded, else its text."""
    value = content.get("pregnancy", {}).get(field)
    if not value:
        return ""
    label = value.get("label")
    if label:
        return str(label.get(language) or label.get("en") or value["text"])
    return str(value.get("text", ""))


def pregnancy_rows(content: dict[str, Any], language: str) -> list[tuple[str, str]]:
    """Return the pregnancy's fields as (label, value) in the reader's language."""
    pregnancy = content.get("pregnancy", {})
    return [
        (str(PREGNANCY_LABELS[field]), pregnancy_text(content, field, language))
        for field in PREGNANCY_ITEMS
        if field in pregnancy
    ]
