"""API: subjects, the screening log, eligibility, consent, statuses, schedule and the vault.

Every endpoint finds the study through the person's rights (and their token's study) and the
subject among those they may see; the services check the right to act. No logic here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest
from ninja import Field, File, Form, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status

from carnet.accounts.models import StudySite
from carnet.accounts.permissions import request_user
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_request
from carnet.core.clock import utc_today
from carnet.subjects import selectors, services
from carnet.subjects.eligibility import CriterionResult, criterion_outcome
from carnet.subjects.models import Subject
from carnet.subjects.schedule import Occurrence

# API pages are larger than the pages' 50: scripts read whole lists, page after page.
PER_PAGE_API = 100

router = Router(tags=["subjects"])

SUBJECT = "/{identifier}/subjects/{subject}"


# --- schemas --------------------------------------------------------------------------------


class LabelOut(Schema):
    en: str
    fr: str


class CriterionOut(Schema):
    name: str
    kind: str = Field(description="inclusion: must hold; exclusion: must not apply")
    label: LabelOut
    met: bool = Field(description="true when the criterion lets the patient in")
    outcome: str = Field(
        description=(
            "What the result means: an inclusion criterion is met or not_met, an exclusion "
            "criterion absent or present; undetermined when a value is missing"
        )
    )
    detail: str = Field(description="Why the criterion failed; empty when met")


class OccurrenceOut(Schema):
    event: str
    occurrence: int
    target: date | None
    earliest: date | None
    latest: date | None
    done_on: date | None
    status: str = Field(description="upcoming, due, overdue, done, out_of_window, unscheduled")


class ConsentOut(Schema):
    form_version: str
    consented_on: date
    biobank: bool
    future_research: bool
    genetic_analysis: bool
    sharing: bool


class SubjectOut(Schema):
    identifier: str
    site: str
    included_on: date
    study_status: str
    study_status_on: date
    treatment_status: str
    treatment_status_on: date | None
    off_treatment_reason: str
    eligibility_review: str
    last_news_on: date = Field(description="Date of last news, from every dated record")
    next_visit: OccurrenceOut | None
    overdue_visits: int
    consent: ConsentOut | None = Field(description="The latest consent")
    withdrawals: list[str] = Field(description="Kinds of consent withdrawn")


class SubjectDetailOut(SubjectOut):
    eligibility: list[CriterionOut]


class ConsentIn(Schema):
    form_version: str
    consented_on: date
    biobank: bool = False
    future_research: bool = False
    genetic_analysis: bool = False
    sharing: bool = Field(default=False, description="Sharing samples outside the centre")


class InclusionIn(Schema):
    site: str = Field(description="The site's code in the study, e.g. 01")
    included_on: date
    consent: ConsentIn
    eligibility: dict[str, Any] = Field(
        description="Values of the items the criteria read, by item name (weight) or as the "
        "criterion writes them (baseline.weight)"
    )
    sex: str = "U"
    age: int | None = None
    screening_number: str = ""


class EligibilityIn(Schema):
    values: dict[str, Any]
    on: date | None = None


class EligibilityOut(Schema):
    eligible: bool
    items: list[str] = Field(description="The items the criteria read")
    criteria: list[CriterionOut]


class WithdrawalIn(Schema):
    kind: str = Field(description="treatment, follow_up or data_use")
    withdrawn_on: date
    reason: str = ""


class StatusIn(Schema):
    status: str
    on: date
    reason: str = Field("", description="Required for withdrawn, lost to follow-up, off treatment")


class VisitIn(Schema):
    event: str
    visit_on: date
    occurrence: int | None = None


class NewsIn(Schema):
    news_on: date
    source: str


class TransferIn(Schema):
    site: str
    on: date
    reason: str


class IdentityIn(Schema):
    last_name: str | None = None
    first_name: str | None = None
    birth_date: str | None = None
    national_id: str | None = None
    contact: str | None = None


class IdentityOut(Schema):
    enabled: bool = Field(description="Whether the study keeps identities at all")
    last_name: str = ""
    first_name: str = ""
    birth_date: str = ""
    national_id: str = ""
    contact: str = ""


class ScreeningIn(Schema):
    site: str
    screened_on: date
    age: int
    sex: str
    reason_not_included: str
    screening_number: str = ""


class ScreeningOut(Schema):
    site: str
    screening_number: str
    screened_on: date
    age: int
    sex: str
    reason_not_included: str


class OverdueOut(Schema):
    subject: str
    site: str
    visit: OccurrenceOut
    days_overdue: int


class CampaignOut(Schema):
    subject: str
    site: str
    study_status: str
    last_news_on: date


class ListPageOut(Schema):
    """Where one page of a list stands; `items` holds its rows."""

    page: int = Field(description="This page's number, from 1 (kept within the pages)")
    pages: int = Field(description="How many pages the list has at this page size")
    per_page: int
    total: int = Field(description="How many rows match in all")
    total_is_lower_bound: bool = Field(
        description="True when counting stopped early (long lists): more than `total` match"
    )


class SubjectPageOut(ListPageOut):
    items: list[SubjectOut]


class ScreeningPageOut(ListPageOut):
    items: list[ScreeningOut]


class OverduePageOut(ListPageOut):
    items: list[OverdueOut]


class CampaignPageOut(ListPageOut):
    items: list[CampaignOut]


class Paging(Schema):
    """The query parameters every list of the API shares."""

    page: int = Field(1, ge=1, description="The page to return, from 1")
    per_page: int = Field(
        PER_PAGE_API, ge=1, le=selectors.PER_PAGE_MAX, description="Rows per page"
    )
    search: str = Field("", description="Part of an identifier or screening number")
    sort: str = Field(
        "", description="A column key, `-key` for descending; each list documents its keys"
    )


def _page(rows: list[Any], found: selectors.ListPage[Any]) -> dict[str, Any]:
    return {
        "items": rows,
        "page": found.number,
        "pages": found.pages,
        "per_page": found.per_page or len(rows),
        "total": found.total,
        "total_is_lower_bound": found.capped,
    }


class SettingsIn(Schema):
    central_eligibility_review: bool = False
    identity_vault: bool = False
    treatment_events: list[str] = []


class SettingsOut(SettingsIn):
    pass


class ReviewOut(Schema):
    subject: str
    approved: bool
    study_status: str
    document_sha256: str


# --- conversions ----------------------------------------------------------------------------


def _occurrence(o: Occurrence) -> OccurrenceOut:
    return OccurrenceOut(
        event=o.event,
        occurrence=o.number,
        target=o.target,
        earliest=o.earliest,
        latest=o.latest,
        done_on=o.done_on,
        status=o.status.value,
    )


def _criterion(c: CriterionResult) -> CriterionOut:
    return CriterionOut(
        name=c.name,
        kind=c.kind,
        label=LabelOut(en=c.label_en, fr=c.label_fr),
        met=c.met,
        outcome=c.outcome,
        detail=c.detail,
    )


def _subject_out(summary: selectors.SubjectSummary, *, detail: bool = False) -> SubjectOut:
    s = summary.subject
    consent = s.consents.order_by("-consented_on", "-pk").first()
    fields: dict[str, Any] = {
        "identifier": s.identifier,
        "site": s.site.code,
        "included_on": s.included_on,
        "study_status": s.study_status,
        "study_status_on": s.study_status_on,
        "treatment_status": s.treatment_status,
        "treatment_status_on": s.treatment_status_on,
        "off_treatment_reason": s.off_treatment_reason,
        "eligibility_review": s.eligibility_review,
        "last_news_on": s.last_news_on,
        "next_visit": _occurrence(summary.next_visit) if summary.next_visit else None,
        "overdue_visits": len(summary.overdue),
        "consent": (
            ConsentOut(
                form_version=consent.form_version,
                consented_on=consent.consented_on,
                biobank=consent.biobank,
                future_research=consent.future_research,
                genetic_analysis=consent.genetic_analysis,
                sharing=consent.sharing,
            )
            if consent
            else None
        ),
        "withdrawals": list(s.withdrawals.values_list("kind", flat=True)),
    }
    if not detail:
        return SubjectOut(**fields)
    criteria = [
        CriterionOut(
            name=c["name"],
            kind=c["kind"],
            label=LabelOut(**c["label"]),
            met=c["met"],
            outcome=criterion_outcome(c["kind"], c["met"], c["detail"]),
            detail=c["detail"],
        )
        for c in s.eligibility.get("criteria", [])
    ]
    return SubjectDetailOut(**fields, eligibility=criteria)


def _subject(request: HttpRequest, identifier: str, subject: str) -> Subject:
    study = study_for_request(request, identifier)
    return selectors.subject_for_actor(request_user(request), study=study, identifier=subject)


def _detail(subject: Subject) -> SubjectOut:
    fresh = Subject.objects.select_related("site", "site__centre", "study").get(pk=subject.pk)
    return _subject_out(selectors.subject_summary(fresh), detail=True)


def _site(request: HttpRequest, identifier: str, code: str, action: Action) -> StudySite:
    study = study_for_request(request, identifier)
    return selectors.site_by_code(request_user(request), study=study, code=code, action=action)


# --- subjects -------------------------------------------------------------------------------


@router.get(
    "/{identifier}/subjects",
    response=SubjectPageOut,
    summary="Subjects I may see, filtered by site, statuses and overdue visits, one page",
    description="Sort keys: identifier (default), site, status, treatment, included, "
    "last_news, next_visit.",
)
def subject_list(
    request: HttpRequest,
    identifier: str,
    paging: Query[Paging],
    site: str | None = None,
    study_status: list[str] = Query([]),  # noqa: B008 (ninja's way of declaring a list)
    treatment_status: list[str] = Query([]),  # noqa: B008
    overdue: bool | None = None,
) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    found = selectors.subject_list(
        request_user(request),
        study=study,
        site=site,
        study_status=study_status,
        treatment_status=treatment_status,
        overdue=overdue,
        search=paging.search,
        sort=paging.sort or "identifier",
        page=paging.page,
        per_page=paging.per_page,
    )
    return _page([_subject_out(summary) for summary in found.rows], found)


@router.post(
    "/{identifier}/subjects",
    response={201: SubjectDetailOut},
    summary="Include a patient (eligibility evaluated, identifier given)",
)
def subject_include(
    request: HttpRequest, identifier: str, payload: InclusionIn
) -> Status[SubjectOut]:
    site = _site(request, identifier, payload.site, Action.INCLUDE_SUBJECT)
    subject = services.subject_include(
        actor=request_user(request),
        study=site.study,
        site=site,
        included_on=payload.included_on,
        eligibility=payload.eligibility,
        consent=services.ConsentGiven(**payload.consent.dict()),
        sex=payload.sex,
        age=payload.age,
        screening_number=payload.screening_number,
    )
    return Status(201, _detail(subject))


@router.post(
    "/{identifier}/eligibility",
    response=EligibilityOut,
    summary="Evaluate the eligibility criteria for some values, recording nothing",
)
def eligibility_evaluate(
    request: HttpRequest, identifier: str, payload: EligibilityIn
) -> EligibilityOut:
    study = study_for_request(request, identifier)
    results = selectors.eligibility_evaluate(
        request_user(request),
        study=study,
        values=payload.values,
        on=payload.on or utc_today(),
    )
    return EligibilityOut(
        eligible=all(r.met for r in results),
        items=selectors.eligibility_questions(study),
        criteria=[_criterion(r) for r in results],
    )


@router.get(SUBJECT, response=SubjectDetailOut, summary="A subject's header")
def subject_detail(request: HttpRequest, identifier: str, subject: str) -> SubjectOut:
    return _detail(_subject(request, identifier, subject))


@router.get(
    SUBJECT + "/schedule",
    response=list[OccurrenceOut],
    summary="A subject's event occurrences with their windows and status",
)
def subject_schedule(request: HttpRequest, identifier: str, subject: str) -> list[OccurrenceOut]:
    found = _subject(request, identifier, subject)
    return [_occurrence(o) for o in selectors.subject_occurrences(found)]


@router.post(
    SUBJECT + "/eligibility-review",
    response=ReviewOut,
    summary="Central eligibility review: approve or reject, with an anonymised document",
)
def eligibility_review(
    request: HttpRequest,
    identifier: str,
    subject: str,
    approved: Form[bool],
    comment: Form[str],
    document: File[UploadedFile] | None = None,
) -> ReviewOut:
    found = _subject(request, identifier, subject)
    review = services.eligibility_review_decide(
        actor=request_user(request),
        subject=found,
        approved=approved,
        comment=comment,
        document_name=(document.name or "") if document else "",
        document=document.read() if document else None,
    )
    found.refresh_from_db()
    return ReviewOut(
        subject=found.identifier,
        approved=review.approved,
        study_status=found.study_status,
        document_sha256=review.document_sha256,
    )


@router.post(SUBJECT + "/consents", response=SubjectDetailOut, summary="Record a new consent")
def consent_record(
    request: HttpRequest, identifier: str, subject: str, payload: ConsentIn
) -> SubjectOut:
    found = _subject(request, identifier, subject)
    services.consent_record(actor=request_user(request), subject=found, **payload.dict())
    return _detail(found)


@router.post(
    SUBJECT + "/withdrawals",
    response=SubjectDetailOut,
    summary="Withdraw consent: treatment, follow-up or data use",
)
def consent_withdraw(
    request: HttpRequest, identifier: str, subject: str, payload: WithdrawalIn
) -> SubjectOut:
    found = _subject(request, identifier, subject)
    services.consent_withdraw(actor=request_user(request), subject=found, **payload.dict())
    return _detail(found)


@router.post(SUBJECT + "/study-status", response=SubjectDetailOut, summary="Change study status")
def study_status_change(
    request: HttpRequest, identifier: str, subject: str, payload: StatusIn
) -> SubjectOut:
    found = _subject(request, identifier, subject)
    services.subject_change_status(actor=request_user(request), subject=found, **payload.dict())
    return _detail(found)


@router.post(
    SUBJECT + "/treatment-status", response=SubjectDetailOut, summary="Change treatment status"
)
def treatment_status_change(
    request: HttpRequest, identifier: str, subject: str, payload: StatusIn
) -> SubjectOut:
    found = _subject(request, identifier, subject)
    services.subject_change_treatment(actor=request_user(request), subject=found, **payload.dict())
    return _detail(found)


@router.post(SUBJECT + "/visits", response=SubjectDetailOut, summary="Record a visit's date")
def visit_record(
    request: HttpRequest, identifier: str, subject: str, payload: VisitIn
) -> SubjectOut:
    found = _subject(request, identifier, subject)
    services.visit_record(actor=request_user(request), subject=found, **payload.dict())
    return _detail(found)


@router.post(SUBJECT + "/news", response=SubjectDetailOut, summary="Record news of a subject")
def news_record(request: HttpRequest, identifier: str, subject: str, payload: NewsIn) -> SubjectOut:
    found = _subject(request, identifier, subject)
    services.news_record(actor=request_user(request), subject=found, **payload.dict())
    return _detail(found)


@router.post(
    SUBJECT + "/transfer", response=SubjectDetailOut, summary="Move a subject to another site"
)
def subject_transfer(
    request: HttpRequest, identifier: str, subject: str, payload: TransferIn
) -> SubjectOut:
    found = _subject(request, identifier, subject)
    to_site = _site(request, identifier, payload.site, Action.TRANSFER_SUBJECT)
    services.subject_transfer(
        actor=request_user(request),
        subject=found,
        to_site=to_site,
        on=payload.on,
        reason=payload.reason,
    )
    return _detail(found)


@router.get(
    SUBJECT + "/identity",
    response=IdentityOut,
    summary="A subject's identity (the subject's site only; each reading is audited)",
)
def identity_get(request: HttpRequest, identifier: str, subject: str) -> IdentityOut:
    found = _subject(request, identifier, subject)
    values = services.identity_reveal(actor=request_user(request), subject=found)
    return IdentityOut(enabled=False) if values is None else IdentityOut(enabled=True, **values)


@router.put(
    SUBJECT + "/identity",
    response=IdentityOut,
    summary="Store a subject's identity, encrypted (the subject's site only)",
)
def identity_put(
    request: HttpRequest, identifier: str, subject: str, payload: IdentityIn
) -> IdentityOut:
    found = _subject(request, identifier, subject)
    actor = request_user(request)
    services.identity_set(actor=actor, subject=found, values=payload.dict(exclude_unset=True))
    values = services.identity_reveal(actor=actor, subject=found)
    return IdentityOut(enabled=True, **(values or {}))


# --- lists across subjects ------------------------------------------------------------------


@router.get(
    "/{identifier}/screening-log",
    response=ScreeningPageOut,
    summary="The screening log (anonymous) at the sites I may see, one page",
    description="Sort keys: site (default), screened, number, age.",
)
def screening_log(
    request: HttpRequest, identifier: str, paging: Query[Paging], site: str | None = None
) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    found = selectors.screening_log(
        request_user(request),
        study=study,
        site=site,
        search=paging.search,
        sort=paging.sort or "site",
        page=paging.page,
        per_page=paging.per_page,
    )
    rows = [
        ScreeningOut(
            site=e.site.code,
            screening_number=e.screening_number,
            screened_on=e.screened_on,
            age=e.age,
            sex=e.sex,
            reason_not_included=e.reason_not_included,
        )
        for e in found.rows
    ]
    return _page(rows, found)


@router.post(
    "/{identifier}/screening-log",
    response={201: ScreeningOut},
    summary="Add a patient assessed and not included to the screening log",
)
def screening_entry_add(
    request: HttpRequest, identifier: str, payload: ScreeningIn
) -> Status[ScreeningOut]:
    site = _site(request, identifier, payload.site, Action.INCLUDE_SUBJECT)
    entry = services.screening_entry_add(
        actor=request_user(request),
        study=site.study,
        site=site,
        screened_on=payload.screened_on,
        age=payload.age,
        sex=payload.sex,
        reason_not_included=payload.reason_not_included,
        screening_number=payload.screening_number,
    )
    return Status(
        201,
        ScreeningOut(
            site=site.code,
            screening_number=entry.screening_number,
            screened_on=entry.screened_on,
            age=entry.age,
            sex=entry.sex,
            reason_not_included=entry.reason_not_included,
        ),
    )


@router.get(
    "/{identifier}/overdue",
    response=OverduePageOut,
    summary="Overdue visits of followed subjects, by site, one page",
    description="Sort keys: days (default: longest overdue first), site, subject, event. "
    "Counting stops at 1,000 (`total_is_lower_bound`).",
)
def overdue_list(
    request: HttpRequest, identifier: str, paging: Query[Paging], site: str | None = None
) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    found = selectors.overdue_list(
        request_user(request),
        study=study,
        site=site,
        search=paging.search,
        sort=paging.sort or "days",
        page=paging.page,
        per_page=paging.per_page,
    )
    rows = [
        OverdueOut(
            subject=row.subject.identifier,
            site=row.subject.site.code,
            visit=_occurrence(row.occurrence),
            days_overdue=row.days_overdue,
        )
        for row in found.rows
    ]
    return _page(rows, found)


@router.get(
    "/{identifier}/follow-up-campaign",
    response=CampaignPageOut,
    summary="Subjects without news for more than N months before a date, by site, one page",
    description="Sort keys: site (default), last_news, identifier, status.",
)
def follow_up_campaign(
    request: HttpRequest,
    identifier: str,
    paging: Query[Paging],
    months: int = Query(6, ge=1, le=240),  # as the page's field
    on: date | None = None,
    site: str | None = None,
) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    found = selectors.follow_up_campaign(
        request_user(request),
        study=study,
        months=months,
        on=on or utc_today(),
        site=site,
        search=paging.search,
        sort=paging.sort or "site",
        page=paging.page,
        per_page=paging.per_page,
    )
    rows = [
        CampaignOut(
            subject=s.identifier,
            site=s.site.code,
            study_status=s.study_status,
            last_news_on=s.last_news_on,
        )
        for s in found.rows
    ]
    return _page(rows, found)


@router.get(
    "/{identifier}/subject-settings",
    response=SettingsOut,
    summary="The study's subject options (central review, identity vault)",
)
def settings_get(request: HttpRequest, identifier: str) -> SettingsOut:
    study = study_for_request(request, identifier)
    found = services.subject_settings(study)
    return SettingsOut(
        central_eligibility_review=found.central_eligibility_review,
        identity_vault=found.identity_vault,
        treatment_events=list(found.treatment_events),
    )


@router.put(
    "/{identifier}/subject-settings", response=SettingsOut, summary="Set the subject options"
)
def settings_put(request: HttpRequest, identifier: str, payload: SettingsIn) -> SettingsOut:
    study = study_for_request(request, identifier)
    found = services.subject_settings_set(
        actor=request_user(request), study=study, **payload.dict()
    )
    return SettingsOut(
        central_eligibility_review=found.central_eligibility_review,
        identity_vault=found.identity_vault,
        treatment_events=list(found.treatment_events),
    )
