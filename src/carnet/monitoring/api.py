"""API of monitoring: the study's monitoring plan, SDV progress per site and per monitor, a
subject's SDV (read, and verify an item, a form, a visit or the whole casebook in one call), and
monitoring visits. No logic here: selectors and services decide. No value is ever returned:
the SDV state names items only, so blinding holds by construction."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import get_language
from ninja import Field, Router, Schema
from ninja.responses import Status

from carnet.accounts.permissions import request_user
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_request
from carnet.monitoring import selectors
from carnet.monitoring.models import MonitoringVisit
from carnet.monitoring.services import (
    monitoring_plan_set,
    monitoring_visit_close,
    monitoring_visit_create,
    monitoring_visit_update,
    sdv_verify,
)
from carnet.subjects.selectors import subject_for_actor

router = Router(tags=["monitoring"])


class MonitoringPlanOut(Schema):
    rule: str = Field(description="all, critical, first_patients or random_share")
    first_patients: int = Field(description="first_patients: patients per site fully verified")
    share_percent: int = Field(description="random_share: share of each site's patients drawn")
    seed: str = Field(description="random_share: the same seed draws the same patients")
    updated_by: str
    updated_at: datetime | None


class MonitoringPlanIn(Schema):
    rule: str = Field(description="all, critical, first_patients or random_share")
    first_patients: int = 3
    share_percent: int = 20
    seed: str = "carnet"


class SdvSiteOut(Schema):
    site: str
    required: int = Field(description="Item values the plan requires to verify")
    verified: int
    outstanding: int


class SdvMonitorOut(Schema):
    monitor: str
    verified: int = Field(description="Verifications in force")
    reset: int = Field(description="Verifications a later change reset")
    subjects: int


class SdvProgressOut(Schema):
    sites: list[SdvSiteOut]
    monitors: list[SdvMonitorOut]


class SdvItemOut(Schema):
    item: str
    row: int = Field(description="Repeat key; 0 outside repeating groups")
    required: bool = Field(description="The plan requires its verification")
    verified: bool
    verified_by: str
    verified_at: datetime | None
    reset: bool = Field(description="A change reset its last verification")
    reset_reason: str


class SdvFormOut(Schema):
    event: str
    occurrence: int
    form: str
    repeat: int
    items: list[SdvItemOut]


class SdvVerifyIn(Schema):
    event: str = Field("", description="A visit (with occurrence); empty: the whole casebook")
    occurrence: int | None = None
    form: str = Field("", description="A form of the visit (with repeat)")
    repeat: int | None = None
    item: str = Field("", description="One item of the form (with row)")
    row: int | None = None


class SdvVerifiedOut(Schema):
    verified: int = Field(description="How many item values this call verified")
    items: list[str]
    visit: int | None = Field(description="The monitoring visit the SDV joined")


class MonitoringVisitOut(Schema):
    id: int
    site: str
    monitor: str
    visit_date: date
    subjects: list[str]
    findings: str
    follow_up: str
    open: bool
    closed_at: datetime | None
    verified: int = Field(description="Item values verified during the visit")
    reset_since: int = Field(description="Of those, how many a later change reset")


class MonitoringVisitIn(Schema):
    site: str
    visit_date: date
    subjects: list[str] = []
    findings: str = ""
    follow_up: str = ""


class MonitoringVisitRecordIn(Schema):
    findings: str
    follow_up: str
    subjects: list[str] = Field([], description="Subjects reviewed to add")


def _plan_record(plan: selectors.Plan) -> dict[str, Any]:
    return {
        "rule": plan.rule,
        "first_patients": plan.first_patients,
        "share_percent": plan.share_percent,
        "seed": plan.seed,
        "updated_by": plan.updated_by,
        "updated_at": plan.updated_at,
    }


def _visit_record(visit: MonitoringVisit) -> dict[str, Any]:
    report = selectors.visit_report(visit)
    return {
        "id": visit.pk,
        "site": visit.site.code,
        "monitor": visit.monitor_name,
        "visit_date": visit.visit_date,
        "subjects": report.subjects,
        "findings": visit.findings,
        "follow_up": visit.follow_up,
        "open": visit.is_open,
        "closed_at": visit.closed_at,
        "verified": report.verified,
        "reset_since": report.reset_since,
    }


@router.get(
    "/{identifier}/monitoring/plan",
    response=MonitoringPlanOut,
    summary="The study's monitoring plan: which entered items monitors verify",
)
def monitoring_plan_read(request: HttpRequest, identifier: str) -> Any:
    study = study_for_request(request, identifier)
    return _plan_record(selectors.plan_for_actor(request_user(request), study))


@router.put(
    "/{identifier}/monitoring/plan",
    response=MonitoringPlanOut,
    summary="Set the study's monitoring plan (data managers; audited)",
)
def monitoring_plan_write(request: HttpRequest, identifier: str, body: MonitoringPlanIn) -> Any:
    study = study_for_request(request, identifier)
    monitoring_plan_set(actor=request_user(request), study=study, **body.dict())
    return _plan_record(selectors.plan_of(study))


@router.get(
    "/{identifier}/monitoring/progress",
    response=SdvProgressOut,
    summary="SDV progress per site and per monitor, at the sites I cover",
)
def sdv_progress(request: HttpRequest, identifier: str) -> Any:
    study = study_for_request(request, identifier)
    actor = request_user(request)
    sites = selectors.sdv_progress_by_site(actor, study)
    return {
        "sites": [
            {
                "site": s.site,
                "required": s.required,
                "verified": s.verified,
                "outstanding": s.outstanding,
            }
            for s in sites
        ],
        "monitors": [vars(m) for m in selectors.sdv_progress_by_monitor(actor, study)],
    }


@router.get(
    "/{identifier}/subjects/{subject}/sdv",
    response=list[SdvFormOut],
    summary="The SDV of a subject's entered items, form by form (no values)",
)
def sdv_read(request: HttpRequest, identifier: str, subject: str) -> list[Any]:
    study = study_for_request(request, identifier)
    found = subject_for_actor(request_user(request), study=study, identifier=subject)
    return [
        {
            "event": state.instance.event,
            "occurrence": state.instance.occurrence,
            "form": state.instance.form,
            "repeat": state.instance.repeat,
            "items": [
                {
                    "item": item.item,
                    "row": item.row,
                    "required": item.required,
                    "verified": item.verified,
                    "verified_by": item.verification.verified_by_name if item.verification else "",
                    "verified_at": item.verification.verified_at if item.verification else None,
                    "reset": item.last_reset is not None,
                    "reset_reason": item.last_reset.reset_reason if item.last_reset else "",
                }
                for item in state.items
            ],
        }
        for state in selectors.sdv_states(found, language=get_language() or "en")
    ]


@router.post(
    "/{identifier}/subjects/{subject}/sdv",
    response={201: SdvVerifiedOut},
    summary="Verify an item, a form, a visit or the whole casebook in one call (monitors)",
)
def sdv_write(request: HttpRequest, identifier: str, subject: str, body: SdvVerifyIn) -> Status:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    found = subject_for_actor(actor, study=study, identifier=subject)
    done = sdv_verify(actor=actor, subject=found, **body.dict())
    return Status(
        201,
        {
            "verified": len(done),
            "items": [
                f"{v.form_instance.event}#{v.form_instance.occurrence} {v.form_instance.form} "
                f"{v.item}" + (f"[{v.row}]" if v.row else "")
                for v in done
            ],
            "visit": done[0].visit_id if done else None,
        },
    )


@router.get(
    "/{identifier}/monitoring/visits",
    response=list[MonitoringVisitOut],
    summary="The study's monitoring visits at the sites I cover, latest first",
)
def monitoring_visit_list(request: HttpRequest, identifier: str) -> list[Any]:
    study = study_for_request(request, identifier)
    visits = selectors.visits_of_study(request_user(request), study)[:500]
    return [_visit_record(visit) for visit in visits]


@router.post(
    "/{identifier}/monitoring/visits",
    response={201: MonitoringVisitOut},
    summary="Open a monitoring visit of a site (its monitors; audited)",
)
def monitoring_visit_open(request: HttpRequest, identifier: str, body: MonitoringVisitIn) -> Status:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    site = selectors.site_for(actor, study, body.site, Action.MONITOR)
    visit = monitoring_visit_create(
        actor=actor,
        study=study,
        site=site,
        visit_date=body.visit_date,
        subjects=body.subjects,
        findings=body.findings,
        follow_up=body.follow_up,
    )
    return Status(201, _visit_record(visit))


@router.get(
    "/{identifier}/monitoring/visits/{visit_id}",
    response=MonitoringVisitOut,
    summary="A monitoring visit and the SDV done during it",
)
def monitoring_visit_read(request: HttpRequest, identifier: str, visit_id: int) -> Any:
    study = study_for_request(request, identifier)
    return _visit_record(selectors.visit_of_study(request_user(request), study, visit_id))


@router.put(
    "/{identifier}/monitoring/visits/{visit_id}",
    response=MonitoringVisitOut,
    summary="Record an open visit's findings, follow-up actions and subjects (its monitor)",
)
def monitoring_visit_record(
    request: HttpRequest, identifier: str, visit_id: int, body: MonitoringVisitRecordIn
) -> Any:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    visit = selectors.visit_of_study(actor, study, visit_id)
    visit = monitoring_visit_update(actor=actor, visit=visit, **body.dict())
    return _visit_record(visit)


@router.post(
    "/{identifier}/monitoring/visits/{visit_id}/close",
    response=MonitoringVisitOut,
    summary="Close a visit: its report becomes final (its monitor; audited)",
)
def monitoring_visit_finish(request: HttpRequest, identifier: str, visit_id: int) -> Any:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    visit = selectors.visit_of_study(actor, study, visit_id)
    return _visit_record(monitoring_visit_close(actor=actor, visit=visit))
