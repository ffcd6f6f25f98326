"""API of the reports app: the design calculator, for any signed-in person (no study data), and
a study's statistical reports at a cut-off (pooled for a blinded reader) and DSMB reports.

Each calculator answers a GET with its inputs as query parameters; every parameter has the
default of the page, so `/api/design/simon` alone gives the design of Simon's first example.
The router is mounted at "/": study endpoints carry their own `/studies/{identifier}/` prefix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from carnet.accounts.api import request_user
from carnet.interop.selectors import cutoff_named
from carnet.reports.activity import activity_counters, activity_report
from carnet.reports.design import (
    DesignResult,
    design_ahern,
    design_proportions,
    design_sequential,
    design_simon,
    design_survival,
    fractions_from_text,
)
from carnet.reports.models import ReportRun, ReportStatus
from carnet.reports.results import Report
from carnet.reports.selectors import analysis_frame, report_of, report_run_of, report_runs
from carnet.reports.services import dsmb_request, report_file
from carnet.studies.api import study_for_request

router = Router(tags=["design"])


class LabelledValue(Schema):
    label: str
    value: str


class DesignOut(Schema):
    calculator: str
    title: str
    values: list[LabelledValue]
    conventions: list[str]
    columns: list[str]
    rows: list[list[str]]
    yaml: str
    data: dict[str, Any]


def _out(result: DesignResult) -> DesignOut:
    return DesignOut(
        calculator=result.calculator,
        title=result.title,
        values=[LabelledValue(label=label, value=value) for label, value in result.values],
        conventions=result.conventions,
        columns=result.columns,
        rows=result.rows,
        yaml=result.yaml,
        data=result.data,
    )


class SimonIn(Schema):
    p0: float = 0.10
    p1: float = 0.30
    alpha: float = 0.05
    power: float = 0.80
    kind: str = "optimal"


class AhernIn(Schema):
    p0: float = 0.05
    p1: float = 0.20
    alpha: float = 0.05
    power: float = 0.80


class SurvivalIn(Schema):
    hazard_ratio: float = 0.75
    alpha: float = 0.05
    power: float = 0.80
    allocation: float = 0.5
    formula: str = "schoenfeld"
    control_median: float | None = None
    accrual_duration: float | None = None
    follow_up_duration: float | None = None
    dropout_rate: float = 0.0
    dropout_time: float | None = None


class ProportionsIn(Schema):
    p_control: float = 0.50
    p_experimental: float = 0.70
    alpha: float = 0.05
    power: float = 0.80
    continuity_correction: bool = False


class SequentialIn(Schema):
    information_fractions: str = "0.5, 1"
    alpha: float = 0.025
    power: float = 0.90
    efficacy: str = "obrien-fleming"
    efficacy_parameter: float | None = -4.0
    futility: str | None = None
    futility_parameter: float | None = -2.0
    binding: bool = False
    fixed_size: float | None = None


@router.get("/design/simon", response=DesignOut, summary="Simon two-stage design")
def simon(request: HttpRequest, query: Query[SimonIn]) -> DesignOut:
    return _out(design_simon(**query.dict()))


@router.get("/design/ahern", response=DesignOut, summary="A'Hern single-stage design")
def ahern(request: HttpRequest, query: Query[AhernIn]) -> DesignOut:
    return _out(design_ahern(**query.dict()))


@router.get(
    "/design/survival", response=DesignOut, summary="Events and patients for a log-rank test"
)
def survival(request: HttpRequest, query: Query[SurvivalIn]) -> DesignOut:
    return _out(design_survival(**query.dict()))


@router.get(
    "/design/proportions", response=DesignOut, summary="Patients to compare two proportions"
)
def proportions(request: HttpRequest, query: Query[ProportionsIn]) -> DesignOut:
    return _out(design_proportions(**query.dict()))


@router.get(
    "/design/sequential", response=DesignOut, summary="Group-sequential boundaries and inflation"
)
def sequential(request: HttpRequest, query: Query[SequentialIn]) -> DesignOut:
    values = query.dict()
    values["information_fractions"] = fractions_from_text(values["information_fractions"])
    return _out(design_sequential(**values))


# --- a study's statistical reports ---------------------------------------------------------


class ReportFigureOut(Schema):
    name: str
    title: str
    curves: int = Field(
        description="Curves drawn (Kaplan-Meier, accrual; spider: one line per patient)"
    )
    at_risk_rows: int = Field(description="Rows of the number-at-risk table under the curves")
    bars: int = Field(description="Bars or lanes drawn (forest, waterfall, swimmer)")


class ReportTableOut(Schema):
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: str


class ReportSectionOut(Schema):
    title: str
    values: list[LabelledValue]
    tables: list[ReportTableOut]
    figures: list[ReportFigureOut]
    conventions: list[str] = Field(description="Only the conventions this section used")
    notes: list[str]


class StatisticalReportOut(Schema):
    kind: str
    title: str
    source: str = Field(description="The cut-off and study version the report comes from")
    unblinded: bool = Field(description="False: every subject pooled, no arm anywhere")
    sections: list[ReportSectionOut]
    data: dict[str, Any] = Field(description="The numbers printed, by endpoint and group")


def _report_out(report: Report, source: Any) -> StatisticalReportOut:
    return StatisticalReportOut(
        kind=report.kind,
        title=report.title,
        source=source.line(),
        unblinded=source.unblinded,
        sections=[
            ReportSectionOut(
                title=section.title,
                values=[LabelledValue(label=label, value=value) for label, value in section.values],
                tables=[
                    ReportTableOut(
                        title=table.title, columns=table.columns, rows=table.rows, notes=table.notes
                    )
                    for table in section.tables
                ],
                figures=[
                    ReportFigureOut(
                        name=figure.name,
                        title=figure.title,
                        curves=figure.curves,
                        at_risk_rows=figure.at_risk_rows,
                        bars=figure.bars,
                    )
                    for figure in section.figures
                ],
                conventions=section.conventions,
                notes=section.notes,
            )
            for section in report.sections
        ],
        data=report.data,
    )


class AnalysisDatasetOut(Schema):
    source: str
    unblinded: bool
    columns: list[str]
    rows: list[dict[str, Any]] = Field(description="One row per subject, with its reasons")


@router.get(
    "/studies/{identifier}/reports/{cutoff}/analysis-dataset",
    response=AnalysisDatasetOut,
    tags=["reports"],
    summary="The subject-level analysis dataset of a cut-off",
    description="Endpoints derived as the study's statistical plan says (OS, PFS with the "
    "censoring reason per subject, best overall response, duration of response, populations). "
    "Without an unblinded role the group column pools every subject. 403 for someone who may "
    "not export the study's data.",
)
def analysis_dataset(request: HttpRequest, identifier: str, cutoff: str) -> AnalysisDatasetOut:
    user = request_user(request)
    study = study_for_request(request, identifier)
    frame, source = analysis_frame(
        actor=user, study=study, cutoff=cutoff_named(user, study=study, name=cutoff)
    )
    rows = [
        {
            key: value.isoformat() if hasattr(value, "isoformat") else value
            for key, value in row.items()
        }
        for row in frame.iter_rows(named=True)
    ]
    return AnalysisDatasetOut(
        source=source.line(), unblinded=source.unblinded, columns=frame.columns, rows=rows
    )


@router.get(
    "/studies/{identifier}/reports/{cutoff}/{kind}",
    response=StatisticalReportOut,
    tags=["reports"],
    summary="A statistical report of a cut-off",
    description="kind: survival, response, safety, conduct, dsmb-open or dsmb-closed. A blinded "
    "reader's report pools every subject; dsmb-closed (by arm) is refused to them (403). 400 for "
    "an unknown cut-off or kind.",
)
def statistical_report(
    request: HttpRequest, identifier: str, cutoff: str, kind: str
) -> StatisticalReportOut:
    user = request_user(request)
    study = study_for_request(request, identifier)
    found = cutoff_named(user, study=study, name=cutoff)
    report, source = report_of(actor=user, study=study, cutoff=found, kind=kind)
    return _report_out(report, source)


class DsmbIn(Schema):
    cutoff: str
    session: str = Field(description="open (pooled) or closed (by arm, unblinded roles only)")


class DsmbRunOut(Schema):
    id: int = Field(description="Poll GET .../dsmb-reports/{id}; download .../{id}/download")
    cutoff: str
    session: str
    status: str = Field(description="queued, running, done or failed")
    done: int
    total: int
    percent: int
    sha256: str = Field(description="The PDF's SHA-256 once done")
    size: int
    error: str
    created_at: datetime
    finished_at: datetime | None


def _run_out(run: ReportRun) -> DsmbRunOut:
    return DsmbRunOut(
        id=run.pk,
        cutoff=run.cutoff.name,
        session=run.session,
        status=run.status,
        done=run.done,
        total=run.total,
        percent=run.percent,
        sha256=run.sha256,
        size=run.size,
        error=run.error,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


@router.post(
    "/studies/{identifier}/dsmb-reports",
    response={202: DsmbRunOut},
    tags=["reports"],
    summary="Start a DSMB report of a cut-off as PDF (a background task)",
    description="403 for a blinded reader asking for the closed session, or someone who may not "
    "export the study's data; 400 for an unknown cut-off or session.",
)
def dsmb_create(request: HttpRequest, identifier: str, payload: DsmbIn) -> Status[DsmbRunOut]:
    user = request_user(request)
    study = study_for_request(request, identifier)
    cutoff = cutoff_named(user, study=study, name=payload.cutoff)
    run = dsmb_request(actor=user, study=study, cutoff=cutoff, session=payload.session)
    return Status(202, _run_out(run))


@router.get(
    "/studies/{identifier}/dsmb-reports",
    response=list[DsmbRunOut],
    tags=["reports"],
    summary="Your DSMB reports of the study",
)
def dsmb_list(request: HttpRequest, identifier: str) -> list[DsmbRunOut]:
    user = request_user(request)
    study = study_for_request(request, identifier)
    return [_run_out(run) for run in report_runs(user, study=study)]


@router.get(
    "/studies/{identifier}/dsmb-reports/{run_id}",
    response=DsmbRunOut,
    tags=["reports"],
    summary="How far one of your DSMB reports is",
)
def dsmb_status(request: HttpRequest, identifier: str, run_id: int) -> DsmbRunOut:
    user = request_user(request)
    study = study_for_request(request, identifier)
    return _run_out(report_run_of(user, study=study, run_id=run_id))


@router.get(
    "/studies/{identifier}/dsmb-reports/{run_id}/download",
    tags=["reports"],
    summary="The PDF of one of your finished DSMB reports",
    description="409 while the report is not done.",
)
def dsmb_download(request: HttpRequest, identifier: str, run_id: int) -> HttpResponseBase:
    user = request_user(request)
    study = study_for_request(request, identifier)
    run = report_run_of(user, study=study, run_id=run_id)
    path = report_file(run)
    if run.status != ReportStatus.DONE or not path.exists():
        raise HttpError(
            409,
            _("DSMB report %(number)s is %(status)s: download it once it is done.")
            % {"number": run.pk, "status": run.status},
        )
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{study.identifier}-{run.cutoff.name}-dsmb-{run.session}.pdf",
        content_type="application/pdf",
    )


# --- the centre's activity report -----------------------------------------------------------


class ActivityYearOut(Schema):
    year: int
    trials_open: int
    trials_including: int = Field(description="Trials with at least one inclusion that year")
    included: int
    randomised: int
    counts: dict[str, int] = Field(description="Registered columns (e.g. samples collected)")


class ActivityRowOut(Schema):
    study: str
    site: str
    centre: str
    year: int
    included: int
    randomised: int
    counts: dict[str, int]


class ActivityQualityOut(Schema):
    study: str
    site: str
    centre: str
    queries_open: int
    queries_answered: int
    queries_closed: int
    forms_expected: int
    forms_finished: int = Field(description="Expected forms complete or marked not done")
    completeness: float | None = Field(description="forms_finished / forms_expected")


class ActivityOut(Schema):
    year: int | None
    on: str = Field(description="The day the report was counted")
    studies: int = Field(description="Studies counted: those the reader may count")
    years: list[ActivityYearOut]
    rows: list[ActivityRowOut]
    quality: list[ActivityQualityOut]


@router.get(
    "/activity",
    response=ActivityOut,
    tags=["reports"],
    summary="The centre's activity report: inclusions per study, site and year",
    description="Across the installation's studies: trials open, patients included and "
    "randomised per study, site and year, queries by state and data completeness, counted "
    "for the studies and sites where a role of the reader grants view_activity (every study "
    "for a system administrator). No arm appears. Give year to count one year.",
)
def activity(request: HttpRequest, year: int | None = None) -> ActivityOut:
    names = [registered.name for registered in activity_counters()]
    report = activity_report(request_user(request), year=year)
    return ActivityOut(
        year=report.year,
        on=report.on.isoformat(),
        studies=report.studies,
        years=[
            ActivityYearOut(
                year=y.year,
                trials_open=y.trials_open,
                trials_including=y.trials_including,
                included=y.included,
                randomised=y.randomised,
                counts=dict(zip(names, y.counts, strict=True)),
            )
            for y in report.years
        ],
        rows=[
            ActivityRowOut(
                study=row.study,
                site=row.site,
                centre=row.centre,
                year=row.year,
                included=row.included,
                randomised=row.randomised,
                counts=dict(zip(names, row.counts, strict=True)),
            )
            for row in report.rows
        ],
        quality=[
            ActivityQualityOut(
                study=q.study,
                site=q.site,
                centre=q.centre,
                queries_open=q.queries_open,
                queries_answered=q.queries_answered,
                queries_closed=q.queries_closed,
                forms_expected=q.forms_expected,
                forms_finished=q.forms_finished,
                completeness=q.completeness,
            )
            for q in report.quality
        ],
    )
