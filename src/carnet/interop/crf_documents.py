"""The blank and the annotated CRF of a study version, as HTML and PDF, for the trial master file.

The blank CRF is what a site prints: every event, its forms and their items as questions, with
the answers offered (a code list's labels, a unit, a range). The annotated CRF is what SAS
programmers and monitors ask for: the same pages with each item's variable name, its 8-character
SAS name (the same mapping as the SAS XPT export, `writers.sas_names` over the same dataset
columns), its type, units, code list (codes and labels), branching condition, calculation and the
rules that check it (expression and message).

A CRF describes the study's structure, not data: arm-revealing items are listed, marked as such
(their values stay concealed from blinded people wherever values are shown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.template.loader import render_to_string

from carnet.accounts.blinding import Blinding
from carnet.core.clock import utc_now
from carnet.core.pdf import html_to_pdf
from carnet.interop.datasets import _datasets
from carnet.interop.writers import sas_names
from carnet.studies.definition.model import (
    Check,
    CodeList,
    Event,
    Form,
    Item,
    ItemGroup,
    StudyDefinition,
)
from carnet.studies.models import Study, StudyVersion

STYLE_SHEET = Path(__file__).resolve().parent / "static" / "interop" / "documents.css"


@dataclass(frozen=True)
class CrfItem:
    """One item of a form as the CRF shows it."""

    item: Item
    label: str
    guideline: str
    type_text: str
    code_list: CodeList | None
    code_labels: list[tuple[str, str]]  # (code, label in the reader's language)
    sas_name: str  # "" when the item never leaves in an export (identifying, file)
    checks: list[Check]


@dataclass(frozen=True)
class CrfGroup:
    group: ItemGroup
    label: str
    dataset: str  # the export's dataset holding it
    sas_member: str  # that dataset's 8-character XPT member name
    items: list[CrfItem]


@dataclass(frozen=True)
class CrfForm:
    form: Form
    label: str
    guideline: str
    events: list[str]  # labels of the events that collect it
    groups: list[CrfGroup]
    checks: list[Check]  # every check of the form (annotated CRF)


@dataclass(frozen=True)
class CrfEvent:
    event: Event
    label: str
    forms: list[str]  # labels of its forms


@dataclass
class Crf:
    """A study version's CRF, blank or annotated, in one language."""

    study: Study
    version: int
    definition: StudyDefinition
    annotated: bool
    language: str
    title: str
    events: list[CrfEvent]
    forms: list[CrfForm]
    missing_codes: list[tuple[str, str]]
    generated_at: datetime = field(default_factory=utc_now)


def _type_text(item: Item) -> str:
    """Return the item's type as the annotated CRF states it: type, then what bounds it."""
    kind = f"calculated ({item.result_type})" if item.type == "calculated" else item.type
    bounds = []
    if item.range_min is not None or item.range_max is not None:
        low = "" if item.range_min is None else str(item.range_min)
        high = "" if item.range_max is None else str(item.range_max)
        bounds.append(f"[{low}, {high}]")
    if item.decimals is not None:
        bounds.append(f"{item.decimals} dp")
    if item.max_length is not None:
        bounds.append(f"≤ {item.max_length} chars")
    if item.regex:
        bounds.append(f"/{item.regex}/")
    return " ".join([kind, *bounds])


def crf_sas_names(definition: StudyDefinition) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Return the XPT member name of each dataset and the SAS name of each (dataset, item).

    Built as the XPT export builds them, from the same dataset columns (every item, unblinded:
    the CRF lists arm-revealing items too), so the annotated CRF and the export agree.
    """
    datasets = _datasets([definition], Blinding(unblinded=True))
    members = sas_names(["subjects", *(dataset.name for dataset in datasets)])
    columns: dict[tuple[str, str], str] = {}
    for dataset in datasets:
        given = {
            c.name: c.item.sas_name
            for c in dataset.columns
            if c.item is not None and c.role == "value"
        }
        names = sas_names([c.name for c in dataset.columns], given)
        for column in dataset.columns:
            if column.role == "value":
                columns[(dataset.name, column.name)] = names[column.name]
    return members, columns


def _checks_of(form: Form, item: Item) -> list[Check]:
    """Return the form's checks on the item: those naming it, or whose expression reads it."""
    name = re.compile(rf"\b{re.escape(item.name)}\b")
    return [
        check
        for check in form.checks
        if item.name in check.items or (not check.items and name.search(check.expression))
    ]


def _crf_form(
    form: Form,
    definition: StudyDefinition,
    events: list[str],
    names: tuple[dict[str, str], dict[tuple[str, str], str]],
    language: str,
) -> CrfForm:
    members, columns = names
    lists = {code_list.name: code_list for code_list in definition.code_lists}
    groups = []
    for group in form.groups:
        dataset = f"{form.name}_{group.name}" if group.repeating else form.name
        items = []
        for item in group.items:
            code_list = lists.get(item.code_list)
            items.append(
                CrfItem(
                    item=item,
                    label=item.label.text(language) or item.name,
                    guideline=item.guideline.text(language),
                    type_text=_type_text(item),
                    code_list=code_list,
                    code_labels=[
                        (str(code.code), code.label.text(language))
                        for code in (code_list.items if code_list else ())
                    ],
                    sas_name=columns.get((dataset, item.name), ""),
                    checks=_checks_of(form, item),
                )
            )
        groups.append(
            CrfGroup(
                group=group,
                label=group.label.text(language),
                dataset=dataset,
                sas_member=members.get(dataset, ""),
                items=items,
            )
        )
    return CrfForm(
        form=form,
        label=form.label.text(language) or form.name,
        guideline=form.guideline.text(language),
        events=events,
        groups=groups,
        checks=list(form.checks),
    )


def crf_build(*, study: Study, version: StudyVersion, annotated: bool, language: str = "en") -> Crf:
    """Return the CRF of a study version: every event with its forms, every form with its items
    (the annotations when ``annotated``). Anyone who may see the study may read it."""
    definition = version.parsed()
    names = crf_sas_names(definition)
    collected: dict[str, list[str]] = {}
    events = []
    for event in definition.events:
        label = event.label.text(language) or event.name
        form_labels = []
        for form_name in event.forms:
            collected.setdefault(form_name, []).append(label)
            form = next((f for f in definition.forms if f.name == form_name), None)
            form_labels.append(form.label.text(language) if form else form_name)
        events.append(CrfEvent(event, label, form_labels))
    forms = [
        _crf_form(form, definition, collected.get(form.name, []), names, language)
        for form in definition.forms
    ]
    return Crf(
        study=study,
        version=version.number,
        definition=definition,
        annotated=annotated,
        language=language,
        title=definition.title.text(language),
        events=events,
        forms=forms,
        missing_codes=[
            (str(code.code), code.label.text(language)) for code in definition.missing_codes
        ],
    )


def print_css() -> str:
    """Return the documents' print style sheet, inlined where no server serves it (PDFs)."""
    return STYLE_SHEET.read_text(encoding="utf-8")


def crf_html(crf: Crf, *, inline_css: bool = False) -> str:
    """Return the CRF as a standalone printable page: its style sheet linked (a page the
    server serves, whose policy forbids inline styles) or inlined (a PDF, a file)."""
    return render_to_string(
        "interop/documents/crf_body.html",
        {"crf": crf, "standalone": True, "inline_css": print_css() if inline_css else ""},
    )


def crf_pdf(crf: Crf) -> bytes:
    """Return the CRF as a PDF; `PdfUnavailable` where the system lacks Pango."""
    return html_to_pdf(crf_html(crf, inline_css=True))
