"""Coding writes: loading a dictionary version (all or nothing), a study's coding targets, the
auto-coding of exact and synonym matches at each save (a listener of capture), the coder's
decisions and queries, and recoding against another version. Each is an audit event: loads on
the system chain, the rest on the study's chain."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import Actor, PermissionDenied, require
from carnet.accounts.roles import Action
from carnet.audit.services import Actor as AuditActor
from carnet.audit.services import AuditEntry, audit_record, audit_record_many, study_chain
from carnet.capture.seams import WriteContext
from carnet.coding.files import meddra_read, term_key, whodrug_read
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
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.db.prepared import Prepared
from carnet.studies.models import Study

BATCH = 2000
CODE_FIELDS = (
    "llt_code",
    "llt_name",
    "pt_code",
    "pt_name",
    "soc_code",
    "soc_name",
    "drug_code",
    "drug_name",
    "atc_code",
)


def _label(actor: Actor | AuditActor) -> str:
    if isinstance(actor, User):
        return actor.display_name()
    return str(getattr(actor, "label", ""))


def _require(actor: Actor, action: Action, *, study: Study) -> None:
    # A command run on the server (a system actor) acts for the installation's administrators.
    if isinstance(actor, User):
        require(actor, action, study=study)


# --- dictionaries --------------------------------------------------------------------------------


def require_dictionary_loader(actor: Actor) -> None:
    """Refuse anyone but an installation's administrator (or the server's command line)."""
    if isinstance(actor, User) and not actor.is_superuser:
        raise PermissionDenied(_("Only an administrator loads a dictionary."))


def _new_version(actor: Actor, kind: str, version: str, files: dict[str, str]) -> DictionaryVersion:
    version = version.strip()
    if not version or len(version) > 32:
        raise ValidationError(_("version: give the dictionary's version (at most 32 characters)."))
    if DictionaryVersion.objects.filter(kind=kind, version=version).exists():
        raise ValidationError(
            _("%(kind)s %(version)s is already loaded.")
            % {"kind": DictionaryKind(kind).label, "version": version}
        )
    return DictionaryVersion.objects.create(
        kind=kind, version=version, loaded_at=utc_now(), loaded_by=_label(actor), files=files
    )


@transaction.atomic
def meddra_load(*, actor: Actor, folder: Path, version: str) -> DictionaryVersion:
    """Load a MedDRA version from its ASCII files; a malformed line loads nothing."""
    require_dictionary_loader(actor)
    content = meddra_read(Path(folder))
    loaded = _new_version(actor, DictionaryKind.MEDDRA, version, content.files)
    MeddraPt.objects.bulk_create(
        (MeddraPt(dictionary=loaded, **values) for values in content.pts.values()),
        batch_size=BATCH,
    )
    MeddraLlt.objects.bulk_create(
        (
            MeddraLlt(
                dictionary=loaded,
                code=code,
                name=name,
                key=term_key(name),
                pt_code=pt,
                current=current,
            )
            for code, name, pt, current in content.llts
        ),
        batch_size=BATCH,
    )
    loaded.terms = len(content.llts)
    loaded.save(update_fields=["terms"])
    audit_record(
        actor=actor,
        action="coding.dictionary_loaded",
        target=loaded,
        new={
            "kind": loaded.kind,
            "version": loaded.version,
            "files": content.files,
            "llts": loaded.terms,
        },
    )
    return loaded


@transaction.atomic
def whodrug_load(*, actor: Actor, folder: Path, version: str) -> DictionaryVersion:
    """Load a WHODrug version from its B3 text files; a malformed line loads nothing."""
    require_dictionary_loader(actor)
    content = whodrug_read(Path(folder))
    loaded = _new_version(actor, DictionaryKind.WHODRUG, version, content.files)
    WhoDrugName.objects.bulk_create(
        (
            WhoDrugName(
                dictionary=loaded,
                drug_code=code,
                name=name,
                key=term_key(name)[:1500],
                atc_code=atc,
                atc_text=text,
            )
            for code, name, atc, text in content.drugs
        ),
        batch_size=BATCH,
    )
    loaded.terms = len(content.drugs)
    loaded.save(update_fields=["terms"])
    audit_record(
        actor=actor,
        action="coding.dictionary_loaded",
        target=loaded,
        new={
            "kind": loaded.kind,
            "version": loaded.version,
            "files": content.files,
            "drugs": loaded.terms,
        },
    )
    return loaded


# --- matching ------------------------------------------------------------------------------------


def _meddra_codes(llt: MeddraLlt, pt: MeddraPt) -> dict[str, Any]:
    return {
        "llt_code": llt.code,
        "llt_name": llt.name,
        "pt_code": pt.code,
        "pt_name": pt.name,
        "soc_code": pt.soc_code,
        "soc_name": pt.soc_name,
        "drug_code": "",
        "drug_name": "",
        "atc_code": "",
    }


def _drug_codes(drug: WhoDrugName) -> dict[str, Any]:
    return {
        "llt_code": None,
        "llt_name": "",
        "pt_code": None,
        "pt_name": "",
        "soc_code": None,
        "soc_name": "",
        "drug_code": drug.drug_code,
        "drug_name": drug.name,
        "atc_code": drug.atc_code,
    }


NO_CODES: dict[str, Any] = {
    "llt_code": None,
    "llt_name": "",
    "pt_code": None,
    "pt_name": "",
    "soc_code": None,
    "soc_name": "",
    "drug_code": "",
    "drug_name": "",
    "atc_code": "",
}


def matches(dictionary: DictionaryVersion, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Return the codes of each key with exactly one match: a current LLT of that name (MedDRA;
    the PT's own LLT is the exact match, the others its synonyms) or a drug name (WHODrug).
    Two queries whatever the number of keys; an ambiguous name is left to the coder."""
    wanted = set(keys)
    if not wanted:
        return {}
    found: dict[str, dict[str, Any]] = {}
    if dictionary.kind == DictionaryKind.MEDDRA:
        llts: dict[str, list[MeddraLlt]] = defaultdict(list)
        for llt in MeddraLlt.objects.filter(dictionary=dictionary, key__in=wanted, current=True):
            llts[llt.key].append(llt)
        pts = {
            pt.code: pt
            for pt in MeddraPt.objects.filter(
                dictionary=dictionary, code__in={c[0].pt_code for c in llts.values()}
            )
        }
        for key, candidates in llts.items():
            if len(candidates) == 1 and candidates[0].pt_code in pts:
                found[key] = _meddra_codes(candidates[0], pts[candidates[0].pt_code])
    else:
        drugs: dict[str, list[WhoDrugName]] = defaultdict(list)
        for drug in WhoDrugName.objects.filter(dictionary=dictionary, key__in=wanted):
            drugs[drug.key].append(drug)
        for key, named in drugs.items():
            if len(named) == 1:
                found[key] = _drug_codes(named[0])
    return found


def _decision(term: CodedTerm, *, by: str, reason: str = "") -> CodingDecision:
    return CodingDecision(
        term=term,
        status=term.status,
        verbatim=term.verbatim,
        dictionary=str(term.dictionary) if term.dictionary_id else "",
        codes={name: getattr(term, name) for name in CODE_FIELDS},
        comment=term.comment,
        reason=reason,
        decided_by=by,
        decided_at=term.decided_at,
    )


def _audit_new(term: CodedTerm) -> dict[str, Any]:
    return {
        "subject": term.subject.identifier if term.subject_id else "",
        "form": term.form_instance.form if term.form_instance_id else "",
        "item": term.item,
        "row": term.row,
        "verbatim": term.verbatim,
        "status": term.status,
        "dictionary": str(term.dictionary) if term.dictionary_id else "",
        **{name: getattr(term, name) for name in CODE_FIELDS},
    }


# --- the save listener ---------------------------------------------------------------------------


def _targets(study_id: int) -> QuerySet[CodingTarget]:
    return CodingTarget.objects.filter(study_id=study_id).select_related("dictionary")


# Read by every save that changes data (a listener): compiled once (carnet/db/prepared.py).
_TARGETS = Prepared(_targets, int)


def _coded_changes(
    contexts: Sequence[WriteContext],
) -> list[tuple[WriteContext, CodingTarget, Any]]:
    """Return the changes of these writes to an item a study codes, with its target (one
    query, none when no write changed anything)."""
    changed = [c for c in contexts if c.changes]
    if not changed:
        return []
    study_ids = {c.subject.study_id for c in changed}
    found = (
        _TARGETS(*study_ids)
        if len(study_ids) == 1  # a save, a study's import
        else CodingTarget.objects.filter(study_id__in=study_ids).select_related("dictionary")
    )
    targets = {(t.study_id, t.form, t.item): t for t in found}
    wanted: list[tuple[WriteContext, CodingTarget, Any]] = []
    for context in changed:
        for change in context.changes:
            target = targets.get(
                (context.subject.study_id, context.form_instance.form, change.item)
            )
            if target is not None:
                wanted.append((context, target, change))
    return wanted


def autocode_many(contexts: Sequence[WriteContext]) -> None:
    """Code the verbatim values these writes changed (set-wise: a few queries whatever their
    number): an exact or synonym match is coded at once, the rest waits for a coder."""
    wanted = _coded_changes(contexts)
    if not wanted:
        return
    instance_ids = {c.form_instance.pk for c, _t, _ch in wanted}
    existing = {
        (t.form_instance_id, t.item, t.row): t
        for t in CodedTerm.objects.filter(form_instance_id__in=instance_ids).select_related(
            "subject", "form_instance", "dictionary"
        )
    }
    keys: dict[int, set[str]] = defaultdict(set)
    for _context, target, change in wanted:
        if not change.new.removed and change.new.text.strip():
            keys[target.dictionary_id].add(term_key(change.new.text))
    codes: dict[int, dict[str, dict[str, Any]]] = {}
    for target in {t.dictionary_id: t for _c, t, _ch in wanted}.values():
        codes[target.dictionary_id] = matches(target.dictionary, keys[target.dictionary_id])
    now = utc_now()
    created: list[CodedTerm] = []
    updated: list[CodedTerm] = []
    removed: list[CodedTerm] = []
    for context, target, change in wanted:
        place = (context.form_instance.pk, change.item, change.row)
        term = existing.get(place)
        text = "" if change.new.removed else change.new.text.strip()
        if not text:
            if term is not None:
                removed.append(term)
                context.audit.append(
                    AuditEntry(action="coding.term_removed", target=term, old=_audit_new(term))
                )
            continue
        key = term_key(text)
        if term is not None and term.key == key and term.status != TermStatus.QUERIED:
            continue  # the same words: the coding stands
        found = codes[target.dictionary_id].get(key)
        old = _audit_new(term) if term is not None else None
        if term is None:
            term = CodedTerm(
                study_id=context.subject.study_id,
                subject=context.subject,
                form_instance=context.form_instance,
                item=change.item,
                row=change.row,
            )
            created.append(term)
        else:
            updated.append(term)
        term.target = target
        term.verbatim, term.key = text, key
        term.status = TermStatus.AUTO if found else TermStatus.UNCODED
        term.dictionary = target.dictionary
        for name, value in (found or NO_CODES).items():
            setattr(term, name, value)
        term.comment = ""
        term.decided_by = _label(context.actor) if found else ""
        term.decided_at = now
        context.audit.append(
            AuditEntry(
                action="coding.term_autocoded" if found else "coding.term_uncoded",
                target=(
                    "coding.codedterm",
                    f"{context.form_instance.pk}:{change.item}:{change.row}",
                ),
                old=old,
                new=_audit_new(term),
            )
        )
    if removed:
        CodingDecision.objects.filter(term__in=removed).delete()
        CodedTerm.objects.filter(pk__in=[t.pk for t in removed]).delete()
    CodedTerm.objects.bulk_create(created)
    CodedTerm.objects.bulk_update(
        updated,
        [
            "target",
            "verbatim",
            "key",
            "status",
            "dictionary",
            "comment",
            "decided_by",
            "decided_at",
            *CODE_FIELDS,
        ],
    )
    CodingDecision.objects.bulk_create(
        _decision(term, by=term.decided_by or _("Carnet (at the save)"))
        for term in [*created, *updated]
    )


def autocode(context: WriteContext) -> None:
    """The listener on one write."""
    autocode_many([context])


# --- study settings ------------------------------------------------------------------------------


@transaction.atomic
def coding_target_set(
    *, actor: Actor, study: Study, form: str, item: str, dictionary: DictionaryVersion
) -> CodingTarget:
    """Name a form's item as a verbatim coded against ``dictionary`` (audited). Changing the
    version of a target with coded terms goes through recoding, which lists the impact."""
    _require(actor, Action.MANAGE_STUDY, study=study)
    version = study.versions.order_by("-number").first() if hasattr(study, "versions") else None
    if version is not None:
        definition = version.parsed()
        found = next((f for f in definition.forms if f.name == form), None)
        if found is None:
            raise ValidationError(_("form: the study has no form %(form)r.") % {"form": form})
        if item not in {i.name for i in found.items()}:
            raise ValidationError(_("item: the form has no item %(item)r.") % {"item": item})
    target = CodingTarget.objects.filter(study=study, form=form, item=item).first()
    old = None
    if target is not None:
        if target.dictionary_id != dictionary.pk and target.terms.exists():
            raise ValidationError(
                _("This item has coded terms: change its version by recoding (impact first).")
            )
        old = {"dictionary": str(target.dictionary)}
        target.dictionary = dictionary
    else:
        target = CodingTarget(study=study, form=form, item=item, dictionary=dictionary)
    target.updated_by, target.updated_at = _label(actor), utc_now()
    target.save()
    audit_record(
        actor=actor,
        action="coding.target_set",
        target=target,
        old=old,
        new={"form": form, "item": item, "dictionary": str(dictionary)},
        chain=study_chain(study.identifier),
    )
    return target


# --- the coder -----------------------------------------------------------------------------------


def _locked(term: CodedTerm) -> CodedTerm:
    return (
        CodedTerm.objects.select_for_update(of=("self",))
        .select_related("study", "subject", "form_instance", "dictionary", "target")
        .get(pk=term.pk)
    )


def _save_decision(
    actor: Actor, term: CodedTerm, old: dict[str, Any], action: str, reason: str = ""
) -> None:
    term.save()
    CodingDecision.objects.bulk_create([_decision(term, by=term.decided_by, reason=reason)])
    audit_record(
        actor=actor,
        action=action,
        target=term,
        old=old,
        new=_audit_new(term),
        reason=reason,
        chain=study_chain(term.study.identifier),
    )


@transaction.atomic
def term_code(*, actor: Actor, term: CodedTerm, code: str, comment: str = "") -> CodedTerm:
    """The coder's choice: an LLT code (MedDRA) or a drug code (WHODrug) of the term's version."""
    term = _locked(term)
    _require(actor, Action.CODE_TERMS, study=term.study)
    dictionary = term.target.dictionary
    code = code.strip()
    if dictionary.kind == DictionaryKind.MEDDRA:
        llt = MeddraLlt.objects.filter(
            dictionary=dictionary, code=int(code) if code.isdigit() else -1
        ).first()
        if llt is None:
            raise ValidationError(
                _("code: %(code)r is not an LLT of %(dictionary)s.")
                % {"code": code, "dictionary": dictionary}
            )
        if not llt.current:
            raise ValidationError(_("code: this LLT is not current; choose a current one."))
        pt = MeddraPt.objects.get(dictionary=dictionary, code=llt.pt_code)
        codes = _meddra_codes(llt, pt)
    else:
        drug = WhoDrugName.objects.filter(dictionary=dictionary, drug_code=code).first()
        if drug is None:
            raise ValidationError(
                _("code: %(code)r is not a drug code of %(dictionary)s.")
                % {"code": code, "dictionary": dictionary}
            )
        codes = _drug_codes(drug)
    old = _audit_new(term)
    for name, value in codes.items():
        setattr(term, name, value)
    term.status, term.dictionary = TermStatus.CODED, dictionary
    term.comment = comment.strip()
    term.decided_by, term.decided_at = _label(actor), utc_now()
    _save_decision(actor, term, old, "coding.term_coded")
    return term


@transaction.atomic
def term_query(*, actor: User, term: CodedTerm, text: str) -> CodedTerm:
    """Ask the site about a verbatim the coder cannot code (a query on the item, quality's
    services); a new save of the verbatim codes it again."""
    from carnet.quality.services import query_raise

    term = _locked(term)
    require(actor, Action.CODE_TERMS, study=term.study)
    query = query_raise(
        actor=actor,
        subject=term.subject,
        text=text,
        form_instance=term.form_instance,
        item=term.item,
        row=term.row,
    )
    old = _audit_new(term)
    term.status, term.query = TermStatus.QUERIED, query
    for name, value in NO_CODES.items():
        setattr(term, name, value)
    term.comment = text.strip()
    term.decided_by, term.decided_at = _label(actor), utc_now()
    _save_decision(actor, term, old, "coding.term_queried")
    return term


# --- recoding ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecodeLine:
    term: CodedTerm
    codes: dict[str, Any] | None  # None: the code is not in the new version (or not current)
    changes: bool  # PT or SOC (MedDRA), drug or ATC (WHODrug) changes
    reason: str  # "same", "changed", "not current", "missing"


@dataclass(frozen=True)
class RecodeImpact:
    target: CodingTarget
    dictionary: DictionaryVersion
    lines: list[RecodeLine]

    @property
    def changed(self) -> int:
        return sum(1 for line in self.lines if line.changes)

    @property
    def not_current(self) -> int:
        return sum(1 for line in self.lines if line.codes is None)


def recode_impact(
    *, actor: Actor, target: CodingTarget, dictionary: DictionaryVersion
) -> RecodeImpact:
    """List what moving the target to ``dictionary`` does to each coded term, before anything
    is changed: the terms whose PT or SOC changes, those whose LLT is no longer current."""
    _require(actor, Action.CODE_TERMS, study=target.study)
    if dictionary.kind != target.dictionary.kind:
        raise ValidationError(_("dictionary: choose a version of the same dictionary."))
    terms = list(
        CodedTerm.objects.filter(target=target)
        .exclude(status__in=[TermStatus.UNCODED, TermStatus.QUERIED])
        .select_related("subject", "form_instance")
        .order_by("pk")
    )
    lines: list[RecodeLine] = []
    if dictionary.kind == DictionaryKind.MEDDRA:
        llts = {
            llt.code: llt
            for llt in MeddraLlt.objects.filter(
                dictionary=dictionary, code__in={t.llt_code for t in terms}
            )
        }
        pts = {
            pt.code: pt
            for pt in MeddraPt.objects.filter(
                dictionary=dictionary, code__in={llt.pt_code for llt in llts.values()}
            )
        }
        for term in terms:
            llt = llts.get(term.llt_code or -1)
            if llt is None or not llt.current or llt.pt_code not in pts:
                reason = "missing" if llt is None else "not current"
                lines.append(RecodeLine(term, None, True, reason))
                continue
            codes = _meddra_codes(llt, pts[llt.pt_code])
            changes = codes["pt_code"] != term.pt_code or codes["soc_code"] != term.soc_code
            lines.append(RecodeLine(term, codes, changes, "changed" if changes else "same"))
    else:
        drugs = {
            d.drug_code: d
            for d in WhoDrugName.objects.filter(
                dictionary=dictionary, drug_code__in={t.drug_code for t in terms}
            )
        }
        for term in terms:
            drug = drugs.get(term.drug_code)
            if drug is None:
                lines.append(RecodeLine(term, None, True, "missing"))
                continue
            codes = _drug_codes(drug)
            changes = codes["drug_name"] != term.drug_name or codes["atc_code"] != term.atc_code
            lines.append(RecodeLine(term, codes, changes, "changed" if changes else "same"))
    return RecodeImpact(target, dictionary, lines)


@transaction.atomic
def recode_apply(
    *, actor: Actor, target: CodingTarget, dictionary: DictionaryVersion, reason: str
) -> RecodeImpact:
    """Move the target to ``dictionary``: recode every coded term (those whose code is gone or
    no longer current go back to the coder's queue), then code the uncoded ones again if they
    now match; one audit event per term changed and one for the target, with the reason."""
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("reason: say why the terms are recoded."))
    target = (
        CodingTarget.objects.select_for_update(of=("self",))
        .select_related("study", "dictionary")
        .get(pk=target.pk)
    )
    impact = recode_impact(actor=actor, target=target, dictionary=dictionary)
    now, by = utc_now(), _label(actor)
    entries: list[AuditEntry] = []
    changed: list[CodedTerm] = []
    for line in impact.lines:
        term = line.term
        old = _audit_new(term)
        term.dictionary = dictionary
        if line.codes is None:
            term.status = TermStatus.UNCODED
            line_codes: dict[str, Any] = NO_CODES
        else:
            line_codes = line.codes
        for name, value in line_codes.items():
            setattr(term, name, value)
        term.decided_by, term.decided_at = by, now
        changed.append(term)
        entries.append(
            AuditEntry(
                action="coding.term_recoded",
                target=term,
                old=old,
                new=_audit_new(term),
                reason=reason,
            )
        )
    pending = list(
        CodedTerm.objects.filter(target=target, status=TermStatus.UNCODED).select_related(
            "subject", "form_instance"
        )
    )
    found = matches(dictionary, {t.key for t in pending})
    for term in pending:
        old = _audit_new(term)
        term.dictionary = dictionary
        codes = found.get(term.key)
        if codes is not None:
            term.status = TermStatus.AUTO
            for name, value in codes.items():
                setattr(term, name, value)
        term.decided_by, term.decided_at = by, now
        changed.append(term)
        entries.append(
            AuditEntry(
                action="coding.term_recoded",
                target=term,
                old=old,
                new=_audit_new(term),
                reason=reason,
            )
        )
    CodedTerm.objects.bulk_update(
        changed, ["status", "dictionary", "decided_by", "decided_at", *CODE_FIELDS]
    )
    CodingDecision.objects.bulk_create(_decision(t, by=by, reason=reason) for t in changed)
    old_version = str(target.dictionary)
    target.dictionary, target.updated_by, target.updated_at = dictionary, by, now
    target.save()
    entries.append(
        AuditEntry(
            action="coding.target_recoded",
            target=target,
            old={"dictionary": old_version},
            new={
                "dictionary": str(dictionary),
                "terms": len(changed),
                "changed": impact.changed,
                "not_current": impact.not_current,
            },
            reason=reason,
        )
    )
    audit_record_many(actor=actor, entries=entries, chain=study_chain(target.study.identifier))
    return impact
