"""Coding reads, scoped to the reader's studies and sites: dictionary versions, the coder's
queue, a term and its history, dictionary search, CTCAE v5 lookups, and what other apps read
(the uncoded count of the lock checklist, the SOC and PT of the AE tables, the export)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import site_scope
from carnet.accounts.roles import Action
from carnet.coding.files import term_key
from carnet.coding.models import (
    CodedTerm,
    CodingDecision,
    CodingTarget,
    DictionaryKind,
    DictionaryVersion,
    MeddraLlt,
    MeddraPt,
    TermStatus,
    WhoDrugName,
)
from carnet.core.errors import ValidationError
from carnet.studies.models import Study

SEARCH_LIMIT = 50


def dictionaries_list(kind: str | None = None) -> QuerySet[DictionaryVersion]:
    """Return the loaded dictionary versions (installation-wide: no clinical data)."""
    found = DictionaryVersion.objects.all()
    return found.filter(kind=kind) if kind else found


def dictionary_by_name(kind: str, version: str) -> DictionaryVersion:
    found = DictionaryVersion.objects.filter(kind=kind, version=version).first()
    if found is None:
        raise ValidationError(
            _("version: no %(kind)s version %(version)s is loaded.")
            % {"kind": DictionaryKind(kind).label, "version": version}
        )
    return found


def targets_of(study: Study) -> QuerySet[CodingTarget]:
    return CodingTarget.objects.filter(study=study).select_related("dictionary")


def target_of(study: Study, form: str, item: str) -> CodingTarget:
    found = targets_of(study).filter(form=form, item=item).first()
    if found is None:
        raise ValidationError(
            _("form, item: the study codes no item %(place)s.") % {"place": f"{form}.{item}"}
        )
    return found


def terms_for_actor(actor: User, study: Study, *, status: str = "") -> QuerySet[CodedTerm]:
    """Return the study's coded terms at the sites where the reader may code (the queue)."""
    scope = site_scope(actor, Action.CODE_TERMS, study=study)
    if scope.empty:
        scope = site_scope(actor, Action.VIEW_SUBJECTS, study=study)
    terms = CodedTerm.objects.filter(study=study).select_related(
        "subject", "form_instance", "dictionary", "query", "target"
    )
    if not scope.all_sites:
        terms = terms.filter(subject__site_id__in=scope.site_ids)
    if status == "pending":
        terms = terms.filter(status__in=[TermStatus.UNCODED, TermStatus.QUERIED])
    elif status:
        terms = terms.filter(status=status)
    return terms.order_by("subject__identifier", "form_instance_id", "item", "row")


def term_for_actor(actor: User, study: Study, pk: int) -> CodedTerm:
    found = terms_for_actor(actor, study).filter(pk=pk).first()
    if found is None:
        raise Http404(_("No such term."))
    return found


def decisions_of(term: CodedTerm) -> QuerySet[CodingDecision]:
    return term.decisions.all()


def meddra_search(dictionary: DictionaryVersion, text: str) -> list[dict[str, Any]]:
    """Return up to 50 current LLTs whose name contains the words, with their PT and SOC."""
    key = term_key(text)
    if not key:
        return []
    llts = list(
        MeddraLlt.objects.filter(dictionary=dictionary, key__contains=key, current=True).order_by(
            "key"
        )[:SEARCH_LIMIT]
    )
    pts = {
        pt.code: pt
        for pt in MeddraPt.objects.filter(
            dictionary=dictionary, code__in={llt.pt_code for llt in llts}
        )
    }
    return [
        {
            "code": str(llt.code),
            "name": llt.name,
            "pt_code": llt.pt_code,
            "pt_name": pts[llt.pt_code].name,
            "soc_name": pts[llt.pt_code].soc_name,
        }
        for llt in llts
        if llt.pt_code in pts
    ]


def whodrug_search(dictionary: DictionaryVersion, text: str) -> list[dict[str, Any]]:
    key = term_key(text)
    if not key:
        return []
    return [
        {"code": d.drug_code, "name": d.name, "atc_code": d.atc_code, "atc_text": d.atc_text}
        for d in WhoDrugName.objects.filter(dictionary=dictionary, key__contains=key).order_by(
            "key"
        )[:SEARCH_LIMIT]
    ]


def dictionary_search(dictionary: DictionaryVersion, text: str) -> list[dict[str, Any]]:
    if dictionary.kind == DictionaryKind.MEDDRA:
        return meddra_search(dictionary, text)
    return whodrug_search(dictionary, text)


def ctcae_llts(dictionary: DictionaryVersion, terms: list[str]) -> dict[str, dict[str, Any] | None]:
    """Map CTCAE v5 terms to their MedDRA LLTs: a CTCAE v5 term is the LLT of the same name
    (case and spaces aside). None where the version has no LLT of that name."""
    keys = {term: term_key(term) for term in terms}
    llts = {
        llt.key: llt
        for llt in MeddraLlt.objects.filter(dictionary=dictionary, key__in=set(keys.values()))
    }
    pts = {
        pt.code: pt
        for pt in MeddraPt.objects.filter(
            dictionary=dictionary, code__in={llt.pt_code for llt in llts.values()}
        )
    }
    found: dict[str, dict[str, Any] | None] = {}
    for term, key in keys.items():
        llt = llts.get(key)
        if llt is None:
            found[term] = None
            continue
        pt = pts.get(llt.pt_code)
        found[term] = {
            "llt_code": llt.code,
            "llt_name": llt.name,
            "current": llt.current,
            "pt_code": llt.pt_code,
            "pt_name": pt.name if pt else "",
            "soc_name": pt.soc_name if pt else "",
        }
    return found


def status_counts(actor: User, study: Study) -> dict[str, int]:
    counts = {status.value: 0 for status in TermStatus}
    for term in terms_for_actor(actor, study).values_list("status", flat=True):
        counts[term] += 1
    return counts


# --- read by other apps ----------------------------------------------------------------------


def uncoded_count(study: Study) -> int:
    """Return the study's production terms not coded yet (uncoded or awaiting a coder query)."""
    return CodedTerm.objects.filter(
        study=study,
        status__in=[TermStatus.UNCODED, TermStatus.QUERIED],
        form_instance__environment="production",
    ).count()


def meddra_coding_of(study: Study) -> dict[str, tuple[str, str]]:
    """Return (SOC name, PT name) by verbatim key of the study's MedDRA-coded terms (the AE
    tables group by them; a verbatim coded twice differently keeps its latest coding)."""
    rows = (
        CodedTerm.objects.filter(study=study, pt_code__isnull=False)
        .exclude(status__in=[TermStatus.UNCODED, TermStatus.QUERIED])
        .order_by("decided_at", "pk")
        .values_list("key", "soc_name", "pt_name")
    )
    return {key: (soc, pt) for key, soc, pt in rows}


def meddra_coding_at(study: Study, moment: datetime) -> dict[str, tuple[str, str]]:
    """Return `meddra_coding_of` as the coding stood at ``moment`` (each term's latest decision
    made by then): what the reports of a cut-off group adverse events by, as its export's
    coded_terms dataset shows them."""
    decisions = (
        CodingDecision.objects.filter(
            term__study=study,
            decided_at__lte=moment,
            term__form_instance__environment="production",
        )
        .order_by("term_id", "decided_at", "pk")
        .values_list("term_id", "decided_at", "pk", "verbatim", "status", "codes")
    )
    latest: dict[int, tuple[Any, ...]] = {}
    for term_id, *decision in decisions:
        latest[term_id] = tuple(decision)
    coding: dict[str, tuple[str, str]] = {}
    # In decision order: a verbatim coded twice differently keeps its latest coding.
    for _at, _pk, verbatim, status, codes in sorted(latest.values(), key=lambda d: d[:2]):
        if status in (TermStatus.UNCODED, TermStatus.QUERIED) or not codes.get("pt_code"):
            continue
        coding[term_key(verbatim)] = (codes.get("soc_name") or "", codes.get("pt_name") or "")
    return coding


def coded_rows_at(
    study: Study, moment: datetime, subjects: set[str] | None
) -> list[dict[str, Any]]:
    """Return one row per coded term as it stood at ``moment`` (the latest decision made
    before it): subject, event, form, item, row, verbatim, status, dictionary and codes."""
    decisions = (
        CodingDecision.objects.filter(term__study=study, decided_at__lte=moment)
        .select_related("term__subject", "term__form_instance")
        .order_by("term_id", "decided_at", "pk")
    )
    latest: dict[int, CodingDecision] = {}
    for decision in decisions:
        latest[decision.term_id] = decision
    rows = []
    for decision in latest.values():
        term = decision.term
        if term.form_instance.environment != "production":
            continue
        if subjects is not None and term.subject.identifier not in subjects:
            continue
        codes = decision.codes
        rows.append(
            {
                "subject": term.subject.identifier,
                "event": term.form_instance.event,
                "occurrence": term.form_instance.occurrence,
                "form": term.form_instance.form,
                "repeat": term.form_instance.repeat,
                "item": term.item,
                "row": term.row,
                "verbatim": decision.verbatim,
                "status": decision.status,
                "dictionary": decision.dictionary,
                "llt_code": codes.get("llt_code"),
                "llt_name": codes.get("llt_name") or "",
                "pt_code": codes.get("pt_code"),
                "pt_name": codes.get("pt_name") or "",
                "soc_code": codes.get("soc_code"),
                "soc_name": codes.get("soc_name") or "",
                "drug_code": codes.get("drug_code") or "",
                "drug_name": codes.get("drug_name") or "",
                "atc_code": codes.get("atc_code") or "",
            }
        )
    rows.sort(
        key=lambda r: (
            r["subject"],
            r["event"],
            r["occurrence"],
            r["form"],
            r["repeat"],
            r["item"],
            r["row"],
        )
    )
    return rows


def study_meddra(study: Study) -> DictionaryVersion:
    """Return the MedDRA version the study codes against (its first MedDRA target's)."""
    target = targets_of(study).filter(dictionary__kind=DictionaryKind.MEDDRA).first()
    if target is None:
        raise ValidationError(_("version: the study codes nothing against MedDRA; name a version."))
    return target.dictionary
