"""Reads of the reports app: a study's statistical reports at a cut-off, as the reader may see
them (pooled for a blinded reader), and the DSMB reports they asked for."""

from __future__ import annotations

from collections import Counter

import polars as pl
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import Actor
from carnet.analysis import AnalysisInputError
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.interop.models import Cutoff
from carnet.reports.datasets import (
    Source,
    StudyAnalysis,
    may_report,
    require_unblinded,
    study_analysis,
)
from carnet.reports.dsmb import closed_session, open_session
from carnet.reports.exposure import with_exposure
from carnet.reports.models import ReportRun
from carnet.reports.results import (
    Report,
    conduct_report,
    response_report,
    safety_report,
    survival_report,
    with_laboratory_shift,
)
from carnet.studies.models import Study, StudyVersion
from carnet.subjects.environments import Environment
from carnet.subjects.models import ScreeningEntry

REPORT_KINDS = ("survival", "response", "safety", "conduct", "dsmb-open", "dsmb-closed")


def screened_not_included(analysis: StudyAnalysis, study: Study, cutoff: Cutoff) -> dict[str, int]:
    """Return the screening log's reasons for not including, counted up to the cut-off date, at
    the sites of the analysis: the lines written by the cut-off (a line never changes once
    written; one added later, even dated before, is not the cut-off's)."""
    sites = set(analysis.subjects["site"].unique().to_list()) if analysis.subjects.height else set()
    written = {
        int(pk)
        for pk in AuditEvent.objects.filter(
            chain=study.audit_chain,
            seq__lte=cutoff.seq,
            action="subject.screening_entry_added",
            target_type="subjects.screeningentry",
        ).values_list("target_id", flat=True)
    }
    # Compared here, not named in the statement: a large screening log exceeds SQLite's limit
    # on parameters.
    entries = ScreeningEntry.objects.filter(
        study=study, environment=Environment.PRODUCTION, screened_on__lte=cutoff.cut_on
    )
    reasons = Counter(
        reason
        for pk, reason, code in entries.values_list("pk", "reason_not_included", "site__code")
        if pk in written and (not sites or code in sites)
    )
    return dict(reasons)


def sample_size_of(study: Study, version: int) -> int | None:
    found = StudyVersion.objects.filter(study=study, number=version).first()
    if found is None:
        return None
    size = found.parsed().design.get("sample_size")
    return int(size) if size else None


def _conduct(analysis: StudyAnalysis, study: Study, cutoff: Cutoff) -> dict[str, object]:
    return {
        "target": sample_size_of(study, analysis.source.version),
        "screened_out": screened_not_included(analysis, study, cutoff),
    }


def _analysis(actor: Actor, study: Study, cutoff: Cutoff, unblinded: bool) -> StudyAnalysis:
    """Return the analysis of the cut-off; data the statistics refuse (a death before
    randomisation, news after a death) are refused naming the subject, as a 400."""
    try:
        return study_analysis(actor=actor, study=study, cutoff=cutoff, unblinded=unblinded)
    except AnalysisInputError as refused:
        raise ValidationError(
            _("The data at cut-off %(cutoff)s cannot be analysed: %(reason)s")
            % {"cutoff": cutoff.name, "reason": str(refused)}
        ) from refused


def report_of(
    *, actor: Actor, study: Study, cutoff: Cutoff, kind: str, unblinded: bool = False
) -> tuple[Report, Source]:
    """Return one report of the study at the cut-off for this reader, with where it comes from.

    A blinded reader's reports pool every subject; the closed DSMB session is refused to them.
    ``unblinded`` is for a command (the system), blinded unless it asks."""
    if kind not in REPORT_KINDS:
        raise ValidationError(
            _("kind: %(kind)r is not one of %(kinds)s.")
            % {"kind": kind, "kinds": ", ".join(REPORT_KINDS)}
        )
    if kind == "dsmb-closed":
        require_unblinded(actor, study=study, unblinded=unblinded)
    else:
        may_report(actor, study=study, unblinded=unblinded)
    analysis = _analysis(actor, study, cutoff, unblinded)
    dataset = analysis.dataset
    if kind == "survival":
        report = survival_report(dataset)
    elif kind == "response":
        report = response_report(dataset, cut_on=cutoff.cut_on)
    elif kind == "safety":
        report = with_exposure(with_laboratory_shift(safety_report(dataset), dataset), dataset)
    elif kind == "conduct":
        report = conduct_report(dataset, analysis.subjects, **_conduct(analysis, study, cutoff))  # type: ignore[arg-type]
    elif kind == "dsmb-open":
        report = open_session(dataset, analysis.subjects, **_conduct(analysis, study, cutoff))
    else:
        report = closed_session(dataset)
    return report, analysis.source


def analysis_frame(
    *, actor: Actor, study: Study, cutoff: Cutoff, unblinded: bool = False
) -> tuple[pl.DataFrame, Source]:
    """Return the subject-level analysis frame of the cut-off for this reader."""
    analysis = _analysis(actor, study, cutoff, unblinded)
    return analysis.dataset.frame, analysis.source


def report_runs(actor: User, *, study: Study, limit: int = 10) -> list[ReportRun]:
    """Return the DSMB reports the actor asked for in the study, newest first."""
    may_report(actor, study=study)
    return list(
        ReportRun.objects.filter(study=study, requested_by=actor).select_related("cutoff")[:limit]
    )


def report_run_of(actor: User, *, study: Study, run_id: int) -> ReportRun:
    """Return one of the actor's own DSMB reports (someone else's is not found)."""
    may_report(actor, study=study)
    run = (
        ReportRun.objects.filter(study=study, requested_by=actor, pk=run_id)
        .select_related("cutoff")
        .first()
    )
    if run is None:
        raise ValidationError(_("No such report of yours in this study."))
    return run
