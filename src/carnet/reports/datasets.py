"""The analysis dataset of a study at a cut-off, for one reader: the frames an export of the
cut-off would write (through interop's dataset functions), derived as the study's plan says.

A blinded reader's frames have no arm: every output then pools the subjects. The reader's site
scope applies as it does to exports.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import polars as pl
from django.utils.translation import gettext as _

from carnet.accounts.blinding import Blinding, blinding_of
from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import Actor, PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.audit.services import SystemActor
from carnet.coding.selectors import meddra_coding_at
from carnet.core.errors import ValidationError
from carnet.interop.datasets import (
    ExportPlan,
    captured_dates,
    dataset_frame,
    export_plan,
    form_values_at,
    last_news_with,
    reader_inputs,
    subject_dataset,
    values_at_cutoff,
)
from carnet.interop.models import Cutoff
from carnet.interop.services import may_export
from carnet.pharmacy.exposure import exposure_frame
from carnet.reports.derive import AnalysisDataset, derive
from carnet.reports.exposure import exposure_by_group
from carnet.reports.laboratory import graded_at, lab_setup_at, lab_values_of_form
from carnet.studies.definition.statistical_plan import StatisticalPlan
from carnet.studies.models import Study, StudyVersion


@dataclass(frozen=True)
class Source:
    """Where a report's numbers come from: the cut-off, the study version, who reads them."""

    study: str
    cutoff: str
    cutoff_seq: int
    cutoff_hash: str
    cut_on: str
    version: int
    unblinded: bool

    def line(self) -> str:
        """Return the sentence every output prints under its title (in English, as the
        report itself: the same cut-off gives the same document whatever the reader's language)."""
        view = "by arm (unblinded)" if self.unblinded else "pooled (blinded: no arm shown)"
        return (
            f"{self.study}, cut-off {self.cutoff} (audit event #{self.cutoff_seq}, "
            f"{self.cut_on}), study version {self.version}; {view}."
        )


@dataclass(frozen=True)
class StudyAnalysis:
    """The analysis dataset of a cut-off with its source."""

    source: Source
    dataset: AnalysisDataset
    subjects: pl.DataFrame  # the export's subject dataset (conduct: statuses, sites)
    arms: tuple[str, ...]  # the study's arms (empty for a blinded reader)


def may_report(actor: Actor, *, study: Study, unblinded: bool = False) -> Blinding:
    """Refuse whoever may not read the study's data at a cut-off; return their blinding.

    A command (the system) is blinded unless it asks for ``unblinded``, as its exports are."""
    may_export(actor, study=study)
    if isinstance(actor, SystemActor):
        return Blinding(unblinded=unblinded)
    return blinding_of(actor, study=study)


def require_unblinded(actor: Actor, *, study: Study, unblinded: bool = False) -> None:
    """Refuse a blinded reader (the closed session of the DSMB, anything by arm)."""
    if not may_report(actor, study=study, unblinded=unblinded).unblinded:
        raise PermissionDenied(
            _(
                "The closed session shows results by arm: it needs an unblinded role in "
                "%(study)s (DSMB or unblinded statistician); you are blinded."
            )
            % {"study": study.identifier}
        )


def _plan_of(actor: Actor, study: Study, cutoff: Cutoff, blinding: Blinding) -> ExportPlan:
    if cutoff.study_id != study.pk:
        raise ValidationError(_("cutoff: this cut-off belongs to another study."))
    if isinstance(actor, SystemActor):
        from carnet.accounts.permissions import SiteScope

        return export_plan(
            study=study,
            cutoff=cutoff,
            blinding=blinding,
            scope=SiteScope(True, frozenset()),
            site_codes=set(),
        )
    assert isinstance(actor, User)
    scope = site_scope(actor, Action.EXPORT, study=study)
    codes = set(
        StudySite.objects.filter(study=study, pk__in=scope.site_ids).values_list("code", flat=True)
    )
    return export_plan(study=study, cutoff=cutoff, blinding=blinding, scope=scope, site_codes=codes)


def statistical_plan_of(study: Study, version: int) -> StatisticalPlan:
    """Return the statistical plan of the study version current at the cut-off."""
    found = StudyVersion.objects.filter(study=study, number=version).first()
    if found is None:
        return StatisticalPlan()
    return found.parsed().statistical_plan()


def _code_labels(plan: ExportPlan, items: list[str]) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for dataset in plan.datasets:
        for column in dataset.items:
            if column.name in items and column.code_list is not None:
                labels[column.name] = {
                    str(code.code): code.label.en or str(code.code)
                    for code in column.code_list.items
                }
    return labels


@dataclass(frozen=True)
class AnalysisFrames:
    """What an export of the cut-off writes for a reader (its plan, the subject dataset and
    every form dataset by name), with the laboratory values graded as at the cut-off."""

    plan: ExportPlan
    subjects: pl.DataFrame
    forms: dict[str, pl.DataFrame]
    laboratory: pl.DataFrame


def analysis_frames(
    *, actor: Actor, study: Study, cutoff: Cutoff, blinding: Blinding
) -> AnalysisFrames:
    """Return what an export of the cut-off writes for this reader and the laboratory values,
    all read form by form as they stood at the cut-off (`values_at_cutoff`)."""
    plan = _plan_of(actor, study, cutoff, blinding)
    subjects, visits, versions = reader_inputs(study, cutoff, randomised_design=plan.randomised)
    if plan.sites is not None:
        subjects = subjects.filter(pl.col("site").is_in(sorted(plan.sites)))
    lab = lab_setup_at(study, cutoff)
    needed = lab.needed
    forms: dict[str, pl.DataFrame] = {}
    news: list[pl.DataFrame] = []
    lab_values: list[pl.DataFrame] = []
    with tempfile.TemporaryDirectory(prefix="carnet-report-") as folder:
        changes = values_at_cutoff(study, cutoff, Path(folder))
        # Every form with a dataset, and any other holding laboratory items (one a blinded
        # reader has no dataset of still dates the values; their concealed items go later).
        exported = dict.fromkeys(dataset.form for dataset in plan.datasets)
        for form in [*exported, *sorted(changes.forms - set(exported) if needed else set())]:
            values = form_values_at(changes, form)
            lab_values.append(lab_values_of_form(values, form, needed))
            if form not in exported:
                continue
            news.append(captured_dates(plan, form, values, cutoff.cut_on))
            for dataset in (d for d in plan.datasets if d.form == form):
                forms[dataset.name] = dataset_frame(
                    dataset, values, subjects=subjects, visits=visits, versions=versions
                )
            del values
    captured = pl.concat(news) if news else pl.DataFrame()
    return AnalysisFrames(
        plan=plan,
        subjects=subject_dataset(plan, last_news_with(subjects, captured)),
        forms=forms,
        laboratory=graded_at(study, lab, lab_values, subjects),
    )


def laboratory_grades(
    *,
    graded: pl.DataFrame,
    version: int,
    study: Study,
    blinding: Blinding,
    cut_on: date,
    groups: pl.DataFrame,
) -> pl.DataFrame:
    """Return the CTCAE grades of the laboratory values of the analysed subjects, sampled up to
    the cut-off date: subject, analyte, sampled_on, grade, group.

    ``graded`` holds the values as they stood at the cut-off, graded with the mapping and ranges
    in force then (`carnet.reports.laboratory`). A blinded reader loses the arm-revealing items
    whole (as the study version of the cut-off marks them)."""
    schema = {
        "subject": pl.String,
        "analyte": pl.String,
        "sampled_on": pl.Date,
        "grade": pl.Int8,
        "group": pl.String,
    }
    if groups.is_empty() or graded.is_empty():
        return pl.DataFrame(schema=schema)
    found = StudyVersion.objects.filter(study=study, number=version).first()
    definition = found.parsed() if found is not None else None
    concealed = (
        sorted(item.name for _f, _g, item in definition.items() if blinding.conceals(item))
        if definition is not None
        else []
    )
    frame = graded
    return (
        frame.filter(
            ~pl.col("item").is_in(concealed)
            & pl.col("sampled_on").is_not_null()
            & (pl.col("sampled_on") <= cut_on)
        )
        .select(
            pl.col("subject").cast(pl.String),
            pl.col("analyte").cast(pl.String),
            "sampled_on",
            pl.col("grade").cast(pl.Int8),
        )
        .join(groups.select("subject", "group"), on="subject")
    )


def study_analysis(
    *, actor: Actor, study: Study, cutoff: Cutoff, unblinded: bool = False
) -> StudyAnalysis:
    """Return the analysis dataset of the study at the cut-off as this reader may see it
    (``unblinded`` is for a command, which is blinded unless it asks)."""
    blinding = may_report(actor, study=study, unblinded=unblinded)
    frames = analysis_frames(actor=actor, study=study, cutoff=cutoff, blinding=blinding)
    plan, subjects = frames.plan, frames.subjects
    statistical = statistical_plan_of(study, plan.version)
    dataset = derive(
        statistical,
        subjects,
        frames.forms,
        by_arm=blinding.unblinded,
        code_labels=_code_labels(plan, [*statistical.strata, *statistical.subgroups]),
        # The coding as the cut-off's export has it (its coded_terms dataset).
        coding=meddra_coding_at(study, cutoff.created_at),
    )
    dataset = replace(
        dataset,
        laboratory=laboratory_grades(
            graded=frames.laboratory,
            version=plan.version,
            study=study,
            blinding=blinding,
            cut_on=cutoff.cut_on,
            groups=dataset.frame,
        ),
        # What the pharmacy and the administration forms recorded up to the cut-off, with the
        # reader's groups: by arm unblinded, pooled blinded.
        exposure=exposure_by_group(
            exposure_frame(
                study,
                seq=cutoff.seq,
                at=cutoff.created_at,
                subjects=set(dataset.frame["subject"].cast(pl.String).to_list()),
            ),
            dataset.frame.select(pl.col("subject").cast(pl.String), "group"),
        ),
    )
    arms: tuple[str, ...] = ()
    if blinding.unblinded:
        found = StudyVersion.objects.filter(study=study, number=plan.version).first()
        arms = tuple(arm.name for arm in found.parsed().arms) if found else ()
    return StudyAnalysis(
        source=Source(
            study=study.identifier,
            cutoff=cutoff.name,
            cutoff_seq=cutoff.seq,
            cutoff_hash=cutoff.head_hash,
            cut_on=cutoff.cut_on.isoformat(),
            version=plan.version,
            unblinded=blinding.unblinded,
        ),
        dataset=dataset,
        subjects=subjects,
        arms=arms,
    )
