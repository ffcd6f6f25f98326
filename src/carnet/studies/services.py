"""Writes on studies: loading a study file, publishing a version, changing the study's mode.

Each service is atomic and records its audit event in the study's chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.audit.services import Actor, audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.studies.definition import StudyFile
from carnet.studies.definition.diff import definition_diff, diff_summary
from carnet.studies.definition.findings import Finding
from carnet.studies.definition.model import StudyDefinition
from carnet.studies.impact import data_touched
from carnet.studies.models import Study, StudyMode, StudyVersion, VersionStatus

# Which mode may follow which; moving back is allowed where GCP practice allows it, with a reason.
MODE_MOVES: dict[str, set[str]] = {
    StudyMode.DESIGN: {StudyMode.TEST, StudyMode.PRODUCTION},
    StudyMode.TEST: {StudyMode.DESIGN, StudyMode.PRODUCTION},
    StudyMode.PRODUCTION: {StudyMode.FROZEN},
    StudyMode.FROZEN: {StudyMode.PRODUCTION, StudyMode.LOCKED},
    StudyMode.LOCKED: {StudyMode.FROZEN},
}
# Going back, and the moves that stop data entry (freezing, locking): never without saying why.
MOVES_NEEDING_A_REASON = {
    (StudyMode.PRODUCTION, StudyMode.FROZEN),
    (StudyMode.FROZEN, StudyMode.LOCKED),
    (StudyMode.TEST, StudyMode.DESIGN),
    (StudyMode.FROZEN, StudyMode.PRODUCTION),
    (StudyMode.LOCKED, StudyMode.FROZEN),
}


@dataclass(frozen=True)
class LoadOutcome:
    """What loading a study file did: created, updated a draft, drafted an amendment, or nothing."""

    study: Study
    version: StudyVersion
    outcome: str
    report: dict[str, Any] | None
    warnings: list[Finding]


def migration_report_compute(
    *, study_identifier: str, old: StudyVersion, new_definition: StudyDefinition, new_number: int
) -> dict[str, Any]:
    """Return what changed from a published version and which existing data each change touches."""
    changes = definition_diff(old.parsed(), new_definition)
    entries = []
    touched_total = 0
    for change in changes:
        touched = data_touched(study_identifier, change)
        touched_total += sum(entry.count for entry in touched)
        entries.append(
            {**change.to_json(), "data": [{"what": t.what, "count": t.count} for t in touched]}
        )
    return {
        "from_version": old.number,
        "to_version": new_number,
        "summary": diff_summary(changes),
        "changes": entries,
        "data_rows_touched": touched_total,
    }


def _version_fields(study_file: StudyFile, source_name: str) -> dict[str, Any]:
    return {
        "title": study_file.definition.title.text("en")[:300],
        "source_name": source_name[:300],
        "source_text": study_file.text,
        "source_sha256": study_file.sha256,
        "definition": study_file.definition.to_json(),
    }


@transaction.atomic
def study_load(*, actor: Actor, study_file: StudyFile, source_name: str) -> LoadOutcome:
    """Load a validated study file: a new study, an updated draft, or a new amendment draft."""
    definition = study_file.definition
    study = Study.objects.select_for_update().filter(identifier=definition.identifier).first()
    if study is None:
        study = Study.objects.create(identifier=definition.identifier)
        version = StudyVersion.objects.create(
            study=study, number=1, **_version_fields(study_file, source_name)
        )
        audit_record(
            actor=actor,
            action="study.created",
            target=study,
            new={"identifier": study.identifier, "version": 1, "sha256": study_file.sha256},
            chain=study.audit_chain,
        )
        return LoadOutcome(study, version, "created", None, study_file.warnings)

    if study.mode == StudyMode.LOCKED:
        raise ValidationError(
            _("%(study)s is locked; its definition cannot change (unlock it to frozen first).")
            % {"study": study.identifier}
        )
    latest = study.versions.order_by("-number").first()
    assert latest is not None  # a study is created with its first version
    if latest.source_sha256 == study_file.sha256:
        return LoadOutcome(study, latest, "unchanged", latest.migration_report, study_file.warnings)

    if latest.status == VersionStatus.DRAFT:
        old_sha = latest.source_sha256
        for name, value in _version_fields(study_file, source_name).items():
            setattr(latest, name, value)
        if latest.based_on is not None:
            latest.migration_report = migration_report_compute(
                study_identifier=study.identifier,
                old=latest.based_on,
                new_definition=definition,
                new_number=latest.number,
            )
        latest.save()
        audit_record(
            actor=actor,
            action="study.draft_updated",
            target=latest,
            old={"version": latest.number, "sha256": old_sha},
            new={"version": latest.number, "sha256": study_file.sha256},
            chain=study.audit_chain,
        )
        return LoadOutcome(
            study, latest, "draft updated", latest.migration_report, study_file.warnings
        )

    number = latest.number + 1
    report = migration_report_compute(
        study_identifier=study.identifier, old=latest, new_definition=definition, new_number=number
    )
    version = StudyVersion.objects.create(
        study=study,
        number=number,
        based_on=latest,
        migration_report=report,
        **_version_fields(study_file, source_name),
    )
    audit_record(
        actor=actor,
        action="study.amendment_drafted",
        target=version,
        new={
            "version": number,
            "based_on": latest.number,
            "sha256": study_file.sha256,
            "summary": report["summary"],
        },
        chain=study.audit_chain,
    )
    return LoadOutcome(study, version, "amendment", report, study_file.warnings)


@transaction.atomic
def study_publish(*, actor: Actor, study: Study) -> StudyVersion:
    """Publish the study's draft version: from now on it never changes."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    draft = study.versions.filter(status=VersionStatus.DRAFT).order_by("-number").first()
    if draft is None:
        raise ValidationError(
            _("%(study)s has no draft version to publish; load a changed study file first.")
            % {"study": study.identifier}
        )
    draft.status = VersionStatus.PUBLISHED
    draft.published_at = utc_now()
    draft.save(update_fields=["status", "published_at", "updated_at"])
    previous = study.current_version
    study.current_version = draft
    study.save(update_fields=["current_version"])
    audit_record(
        actor=actor,
        action="study.version_published",
        target=draft,
        old={"current_version": previous.number if previous else None},
        new={
            "current_version": draft.number,
            "sha256": draft.source_sha256,
            "summary": (draft.migration_report or {}).get("summary"),
        },
        chain=study.audit_chain,
    )
    return draft


def study_mode_move_check(*, study: Study, mode: str, reason: str, signed: bool = False) -> None:
    """Refuse a move of the study's mode that may not happen now, saying why.

    A signed move (what people do on the page, the API and the command line) always needs a
    reason; the system's own moves (loading the demo) need one where MOVES_NEEDING_A_REASON says.
    """
    if mode not in StudyMode.values:
        raise ValidationError(
            _("%(mode)s is not a mode; use one of %(modes)s.")
            % {"mode": repr(mode), "modes": ", ".join(StudyMode.values)}
        )
    current = study.mode
    words = {"study": study.identifier, "current": current, "mode": mode}
    if mode == current:
        raise ValidationError(_("%(study)s is already in %(mode)s mode.") % words)
    if mode not in MODE_MOVES[current]:
        raise ValidationError(
            _("%(study)s cannot go from %(current)s to %(mode)s; from %(current)s it can go to: ")
            % words
            + ", ".join(sorted(MODE_MOVES[current]))
            + "."
        )
    if mode in {StudyMode.TEST, StudyMode.PRODUCTION} and study.current_version is None:
        raise ValidationError(
            _("%(study)s has no published version; publish one before %(mode)s mode.") % words
        )
    if not reason.strip() and (signed or (current, mode) in MOVES_NEEDING_A_REASON):
        raise ValidationError(_("Going from %(current)s to %(mode)s needs a reason.") % words)


@transaction.atomic
def study_mode_change(
    *,
    actor: Actor,
    study: Study,
    mode: str,
    reason: str = "",
    signature: dict[str, str] | None = None,
) -> Study:
    """Move the study through design -> test -> production -> frozen -> locked.

    People move it under their e-signature (``signature``: signer, meaning, binding hash, which
    the audit event keeps): accounts.signatures.study_mode_change_signed is their way in.
    """
    study = Study.objects.select_for_update().get(pk=study.pk)
    study_mode_move_check(study=study, mode=mode, reason=reason, signed=signature is not None)
    current = study.mode
    study.mode = mode
    study.save(update_fields=["mode"])
    audit_record(
        actor=actor,
        action="study.mode_changed",
        target=study,
        old={"mode": current},
        new={"mode": mode, "signature": signature} if signature else {"mode": mode},
        reason=reason.strip(),
        chain=study.audit_chain,
    )
    return study
