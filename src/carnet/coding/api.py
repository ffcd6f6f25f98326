"""API of the coding app: dictionary versions, the study's coding targets, the coder's queue,
choosing a code, coder queries, dictionary search, CTCAE v5 lookups and recoding. No logic
here: selectors and services decide."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from carnet.accounts.permissions import PermissionDenied, may, request_user, require
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_request
from carnet.coding import selectors, services
from carnet.coding.models import CodedTerm, CodingTarget, DictionaryKind
from carnet.core.errors import ValidationError

router = Router(tags=["coding"])


class CodingDictionaryOut(Schema):
    kind: str = Field(description="meddra or whodrug")
    version: str
    terms: int = Field(description="LLTs (MedDRA) or drug names (WHODrug) loaded")
    loaded_at: datetime
    loaded_by: str


class CodingTargetOut(Schema):
    form: str
    item: str
    kind: str
    version: str


class CodingTargetIn(Schema):
    form: str
    item: str
    kind: str = Field(description="meddra or whodrug")
    version: str


class CodedTermOut(Schema):
    id: int
    subject: str
    site: str
    event: str
    form: str
    item: str
    row: int
    verbatim: str
    status: str = Field(description="uncoded, auto, coded or queried")
    dictionary: str
    llt_code: int | None
    llt_name: str
    pt_code: int | None
    pt_name: str
    soc_code: int | None
    soc_name: str
    drug_code: str
    drug_name: str
    atc_code: str
    comment: str


class CodingChoiceIn(Schema):
    code: str = Field(description="An LLT code (MedDRA) or a drug code (WHODrug)")
    comment: str = ""


class CodingQueryIn(Schema):
    text: str = Field(description="What the site should clarify about the verbatim")


class CodingRecodeIn(Schema):
    form: str
    item: str
    version: str
    reason: str


class CodingImpactLineOut(Schema):
    term: int
    verbatim: str
    reason: str = Field(description="same, changed, not current or missing")
    pt_name: str
    soc_name: str
    drug_name: str


class CodingImpactOut(Schema):
    version: str
    terms: int
    changed: int
    not_current: int
    lines: list[CodingImpactLineOut]


def _coder(request: HttpRequest, identifier: str) -> tuple[Any, Any]:
    actor, study = _reader(request, identifier)
    require(actor, Action.CODE_TERMS, study=study)
    return actor, study


def _reader(request: HttpRequest, identifier: str) -> tuple[Any, Any]:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    if not may(actor, Action.VIEW_SUBJECTS, study=study):
        raise PermissionDenied("You may not read this study's coded terms.")
    return actor, study


def _term_out(term: CodedTerm) -> dict[str, Any]:
    return {
        "id": term.pk,
        "subject": term.subject.identifier,
        "site": term.subject.site.code,
        "event": term.form_instance.event,
        "form": term.form_instance.form,
        "item": term.item,
        "row": term.row,
        "verbatim": term.verbatim,
        "status": term.status,
        "dictionary": str(term.dictionary) if term.dictionary_id else "",
        **{name: getattr(term, name) for name in services.CODE_FIELDS},
        "comment": term.comment,
    }


def _target_out(target: CodingTarget) -> dict[str, Any]:
    return {
        "form": target.form,
        "item": target.item,
        "kind": target.dictionary.kind,
        "version": target.dictionary.version,
    }


@router.get(
    "/{identifier}/coding/dictionaries",
    response=list[CodingDictionaryOut],
    summary="The dictionary versions loaded on this installation",
)
def coding_dictionaries(request: HttpRequest, identifier: str) -> list[Any]:
    _reader(request, identifier)
    return list(selectors.dictionaries_list())


@router.get(
    "/{identifier}/coding/targets",
    response=list[CodingTargetOut],
    summary="The items whose verbatim the study codes, and against which version",
)
def coding_targets(request: HttpRequest, identifier: str) -> list[dict[str, Any]]:
    _actor, study = _reader(request, identifier)
    return [_target_out(t) for t in selectors.targets_of(study)]


@router.post(
    "/{identifier}/coding/targets",
    response={201: CodingTargetOut},
    summary="Code a form's item against a dictionary version (audited)",
)
def coding_target_set(
    request: HttpRequest, identifier: str, payload: CodingTargetIn
) -> Status[Any]:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    require(actor, Action.MANAGE_STUDY, study=study)
    if payload.kind not in DictionaryKind.values:
        raise ValidationError(_("kind: meddra or whodrug."))
    target = services.coding_target_set(
        actor=actor,
        study=study,
        form=payload.form,
        item=payload.item,
        dictionary=selectors.dictionary_by_name(payload.kind, payload.version),
    )
    return Status(201, _target_out(target))


@router.get(
    "/{identifier}/coding/terms",
    response=list[CodedTermOut],
    summary="The coded terms I may see (status: uncoded, auto, coded, queried or pending)",
)
def coding_terms(request: HttpRequest, identifier: str, status: str = "") -> list[dict[str, Any]]:
    actor, study = _reader(request, identifier)
    return [_term_out(t) for t in selectors.terms_for_actor(actor, study, status=status)]


@router.post(
    "/{identifier}/coding/terms/{term_id}/code",
    response=CodedTermOut,
    summary="Code a term to an LLT or a drug code of its version (coders; audited)",
)
def coding_term_code(
    request: HttpRequest, identifier: str, term_id: int, payload: CodingChoiceIn
) -> dict[str, Any]:
    actor, study = _coder(request, identifier)
    term = selectors.term_for_actor(actor, study, term_id)
    services.term_code(actor=actor, term=term, code=payload.code, comment=payload.comment)
    return _term_out(selectors.term_for_actor(actor, study, term_id))


@router.post(
    "/{identifier}/coding/terms/{term_id}/query",
    response=CodedTermOut,
    summary="Raise a coder query to the site about a term (coders; audited)",
)
def coding_term_query(
    request: HttpRequest, identifier: str, term_id: int, payload: CodingQueryIn
) -> dict[str, Any]:
    actor, study = _coder(request, identifier)
    term = selectors.term_for_actor(actor, study, term_id)
    services.term_query(actor=actor, term=term, text=payload.text)
    return _term_out(selectors.term_for_actor(actor, study, term_id))


@router.get(
    "/{identifier}/coding/search",
    response=list[dict[str, Any]],
    summary="Search the dictionary version of a coded item (LLTs or drug names)",
)
def coding_search(
    request: HttpRequest, identifier: str, form: str = "", item: str = "", q: str = ""
) -> list[dict[str, Any]]:
    _actor, study = _reader(request, identifier)
    if not (form and item and q.strip()):
        return []
    target = selectors.target_of(study, form, item)
    return selectors.dictionary_search(target.dictionary, q)


@router.get(
    "/{identifier}/coding/ctcae",
    response=dict[str, Any],
    summary="The MedDRA LLT of each CTCAE v5 term (the LLT of the same name), null if none",
)
def coding_ctcae(
    request: HttpRequest, identifier: str, version: str = "", term: Query[list[str] | None] = None
) -> dict[str, Any]:
    """``term`` repeats (?term=Nausea&term=Anaemia); without ``version``, the study's MedDRA."""
    _actor, study = _reader(request, identifier)
    terms = term or []
    if not terms:
        return {}
    if version:
        dictionary = selectors.dictionary_by_name(DictionaryKind.MEDDRA, version)
    else:
        dictionary = selectors.study_meddra(study)
    return selectors.ctcae_llts(dictionary, terms)


def _impact_out(impact: services.RecodeImpact) -> dict[str, Any]:
    return {
        "version": str(impact.dictionary),
        "terms": len(impact.lines),
        "changed": impact.changed,
        "not_current": impact.not_current,
        "lines": [
            {
                "term": line.term.pk,
                "verbatim": line.term.verbatim,
                "reason": line.reason,
                "pt_name": (line.codes or {}).get("pt_name", ""),
                "soc_name": (line.codes or {}).get("soc_name", ""),
                "drug_name": (line.codes or {}).get("drug_name", ""),
            }
            for line in impact.lines
        ],
    }


@router.get(
    "/{identifier}/coding/recode",
    response=CodingImpactOut,
    summary="What recoding an item against another version would change (nothing changed)",
)
def coding_recode_impact(
    request: HttpRequest, identifier: str, form: str = "", item: str = "", version: str = ""
) -> dict[str, Any]:
    """Without form, item and version: an empty impact."""
    actor, study = _reader(request, identifier)
    if not (form and item and version):
        return {"version": "", "terms": 0, "changed": 0, "not_current": 0, "lines": []}
    target = selectors.target_of(study, form, item)
    dictionary = selectors.dictionary_by_name(target.dictionary.kind, version)
    return _impact_out(services.recode_impact(actor=actor, target=target, dictionary=dictionary))


@router.post(
    "/{identifier}/coding/recode",
    response=CodingImpactOut,
    summary="Recode an item's terms against another version, with a reason (coders; audited)",
)
def coding_recode(request: HttpRequest, identifier: str, payload: CodingRecodeIn) -> dict[str, Any]:
    actor, study = _coder(request, identifier)
    target = selectors.target_of(study, payload.form, payload.item)
    dictionary = selectors.dictionary_by_name(target.dictionary.kind, payload.version)
    impact = services.recode_apply(
        actor=actor, target=target, dictionary=dictionary, reason=payload.reason
    )
    return _impact_out(impact)
