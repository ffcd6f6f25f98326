"""Adverse events of special interest (AESI) and pregnancies: each opens its own report in the
safety workflow, like an SAE, from the save that makes it reportable (listeners of capture's
save pipeline, inside the save's transaction; their audit events join the save's).

The study declares them in its definition (``design.safety``):

- ``aesi``: the terms of special interest (case and spaces aside; CTCAE v5 terms are MedDRA LLT
  names) and the limit of the site's report (``within_hours``, default 24). An adverse event is
  of special interest when its term (AETERM) is one of them or its item declared ``AESI`` (the
  SUPPAE qualifier's name, as a yes/no item) is yes. A non-serious one opens an AESI report; a
  serious one is an SAE flagged AESI.
- ``pregnancy``: the form reporting a pregnancy (the patient's or a partner's) and its limit;
  the form's first save with a value opens the pregnancy report.
"""

from __future__ import annotations

from carnet.capture.models import ItemValue
from carnet.capture.seams import WriteContext, register_save_listener
from carnet.coding.files import term_key
from carnet.safety.case_data import EVENT_FIELDS, find_item, safety_settings
from carnet.safety.models import ReportKind
from carnet.studies.definition.model import StudyDefinition

# The SUPPAE qualifier commonly used for "adverse event of special interest".
AESI_VARIABLE = "AESI"
YES = frozenset({"1", "y", "yes", "true"})
DEFAULT_HOURS = 24


def _aesi_items(definition: StudyDefinition, form_name: str) -> tuple[str, set[str]]:
    """Return the form's term item (or "") and its items declared AESI."""
    form = next((f for f in definition.forms if f.name == form_name), None)
    if form is None:
        return "", set()
    variables, names = EVENT_FIELDS["term"]
    term = find_item(form.items(), variables, names)
    flags = {i.name for i in form.items() if (i.sas_name or "").upper() == AESI_VARIABLE}
    return (term.name if term else ""), flags


def aesi_reports_open(context: WriteContext) -> None:
    """Open the AESI report of each adverse event row the write makes of special interest (a
    listener); a serious one's SAE report is flagged instead."""
    from carnet.safety.services import sae_report_open

    if not context.changes:
        return
    definition = context.form_instance.study_version.parsed()
    declared = safety_settings(definition).get("aesi")
    if declared is None:
        return
    term_item, flags = _aesi_items(definition, context.form_instance.form)
    watched = flags | ({term_item} if term_item else set())
    rows = {c.row for c in context.changes if c.item in watched and not c.new.removed}
    if not rows:
        return
    terms = {term_key(t) for t in declared.get("terms", ())}
    values = ItemValue.objects.filter(
        form_instance=context.form_instance, row__in=rows, item__in=watched, removed=False
    )
    by_row: dict[int, dict[str, str]] = {}
    for value in values:
        by_row.setdefault(value.row, {})[value.item] = value.text
    for row in sorted(rows):
        texts = by_row.get(row, {})
        special = term_key(texts.get(term_item, "")) in terms or any(
            texts.get(flag, "").strip().lower() in YES for flag in flags
        )
        if special:
            sae_report_open(
                instance=context.form_instance,
                row=row,
                context=context,
                kind=ReportKind.AESI,
                aesi=True,
                limit_hours=int(declared.get("within_hours", DEFAULT_HOURS)),
            )


def pregnancy_reports_open(context: WriteContext) -> None:
    """Open the pregnancy report of the study's pregnancy form at its first save with a
    value (a listener); later saves feed its follow-ups."""
    from carnet.safety.services import sae_report_open

    if not any(not c.new.removed and c.new.text for c in context.changes):
        return
    definition = context.form_instance.study_version.parsed()
    declared = safety_settings(definition).get("pregnancy")
    if declared is None or declared.get("form") != context.form_instance.form:
        return
    sae_report_open(
        instance=context.form_instance,
        row=0,
        context=context,
        kind=ReportKind.PREGNANCY,
        limit_hours=int(declared.get("within_hours", DEFAULT_HOURS)),
    )


def register() -> None:
    register_save_listener(aesi_reports_open)
    register_save_listener(pregnancy_reports_open)
