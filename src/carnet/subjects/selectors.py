"""Reads on subjects, always scoped to the sites where the actor may view subjects."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied, require, site_scope
from carnet.accounts.roles import Action
from carnet.core.errors import ValidationError
from carnet.studies.definition.model import StudyDefinition
from carnet.studies.models import Study
from carnet.subjects.eligibility import CriterionResult, eligibility_items, evaluate_criteria
from carnet.subjects.environments import Environment, environment_written, test_view_asked
from carnet.subjects.models import ScreeningEntry, Subject
from carnet.subjects.schedule import (
    Occurrence,
    SubjectDates,
    WindowStatus,
    next_visit,
    subject_schedule,
)
from carnet.subjects.services import site_today, subject_settings
from carnet.subjects.statuses import ACTIVE, StudyStatus, WithdrawalKind

# Subjects a follow-up campaign looks for: still followed, or lost and worth looking for again.
CAMPAIGN_STATUSES = ACTIVE | {StudyStatus.LOST_TO_FOLLOW_UP}


def environment_seen(actor: User, *, study: Study) -> str:
    """Return the environment (test or production) whose subjects the actor is looking at.

    The one place that decides it: a study in test mode shows its test data; otherwise the
    production data, unless this request asked for the test view (the page's switch, the API's
    ``?environment=test``). Whoever may view the study's subjects may look at its test data,
    within the same sites: test patients are not real, and testing is everyone's job.
    """
    if environment_written(study) == Environment.TEST or test_view_asked(study):
        return Environment.TEST
    return Environment.PRODUCTION


def _scoped(actor: User, study: Study, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Keep the rows of the environment the actor looks at, at the sites where they may view
    subjects; refuse one who may nowhere.

    ``queryset`` holds subjects or screening-log lines (both carry their environment).
    """
    scope = site_scope(actor, Action.VIEW_SUBJECTS, study=study)
    if scope.empty:
        raise PermissionDenied(
            _("You may not view subjects of %(study)s.") % {"study": study.identifier}
        )
    queryset = queryset.filter(environment=environment_seen(actor, study=study))
    if scope.all_sites:
        return queryset
    return queryset.filter(site_id__in=scope.site_ids)


def subjects_visible(actor: User, *, study: Study) -> QuerySet[Subject]:
    """Return the study's subjects at the sites where the actor may view subjects."""
    subjects = Subject.objects.filter(study=study).select_related("site", "site__centre", "study")
    return _scoped(actor, study, subjects).order_by("identifier")


def subject_for_actor(actor: User, *, study: Study, identifier: str) -> Subject:
    """Return one subject; an unknown subject and one at another site look the same."""
    # Not through subjects_visible: the study is the caller's, and one row needs no order.
    subjects = Subject.objects.filter(study=study, identifier=identifier)
    subject = _scoped(actor, study, subjects.select_related("site", "site__centre")).first()
    if subject is None:
        raise PermissionDenied(
            _("There is no subject '%(identifier)s' you may see.") % {"identifier": identifier}
        )
    subject.study = study  # the caller's, with what it already read (its current version)
    return subject


def site_by_code(actor: User, *, study: Study, code: str, action: Action) -> StudySite:
    """Return a site of the study where the actor may do ``action``."""
    site = StudySite.objects.filter(study=study, code=code).select_related("centre").first()
    scope = site_scope(actor, action, study=study)
    if site is None or not scope.allows(site):
        raise PermissionDenied(
            _("You may not do this at site '%(code)s' (%(action)s).")
            % {"code": code, "action": action.value}
        )
    return site


def _definition(study: Study) -> StudyDefinition | None:
    return study.current_version.parsed() if study.current_version else None


def subject_dates(subject: Subject) -> SubjectDates:
    """Return what the schedule needs to know of a subject."""
    visits: dict[str, dict[int, date]] = {}
    for event, number, day in subject.visits.values_list("event", "occurrence", "visit_on"):
        visits.setdefault(event, {})[number] = day
    follow_up_ends = None
    if subject.study_status not in ACTIVE and subject.study_status != StudyStatus.SCREENED:
        follow_up_ends = subject.study_status_on
    stop = subject.withdrawals.filter(kind=WithdrawalKind.FOLLOW_UP).first()
    if stop is not None:
        follow_up_ends = min(follow_up_ends or stop.withdrawn_on, stop.withdrawn_on)
    return SubjectDates(
        inclusion=subject.included_on,
        randomisation=subject.randomised_on,
        end_of_treatment=subject.end_of_treatment_on,
        follow_up_ends=follow_up_ends,
        treatment_events=frozenset(subject_settings(subject.study).treatment_events),
        visits=visits,
    )


def subject_occurrences(
    subject: Subject, *, today: date | None = None, definition: StudyDefinition | None = None
) -> list[Occurrence]:
    """Return the subject's schedule as it stands today at their site."""
    definition = definition or _definition(subject.study)
    if definition is None:
        return []
    day = today or site_today(subject.site)
    return subject_schedule(definition, subject_dates(subject), today=day)


@dataclass(frozen=True)
class SubjectSummary:
    """What the subject header and list show."""

    subject: Subject
    next_visit: Occurrence | None
    overdue: list[Occurrence]


def _summaries(
    subjects: Iterable[Subject], study: Study, today: date | None
) -> list[SubjectSummary]:
    definition = _definition(study)
    result = []
    for subject in subjects:
        occurrences = subject_occurrences(subject, today=today, definition=definition)
        overdue = [o for o in occurrences if o.status == WindowStatus.OVERDUE]
        if subject.study_status not in ACTIVE:
            overdue = []  # nobody chases a visit of a subject who has left
        result.append(SubjectSummary(subject, next_visit(occurrences), overdue))
    return result


def subject_summary(subject: Subject, *, today: date | None = None) -> SubjectSummary:
    """Return the header of one subject: statuses, date of last news, next visit."""
    return _summaries([subject], subject.study, today)[0]


def subject_list(
    actor: User,
    *,
    study: Study,
    site: str | None = None,
    study_status: list[str] | None = None,
    treatment_status: list[str] | None = None,
    overdue: bool | None = None,
    today: date | None = None,
) -> list[SubjectSummary]:
    """Return the subjects the actor may see, filtered by site, statuses and overdue visits."""
    subjects = subjects_visible(actor, study=study)
    if site:
        subjects = subjects.filter(site__code=site)
    if study_status:
        subjects = subjects.filter(study_status__in=study_status)
    if treatment_status:
        subjects = subjects.filter(treatment_status__in=treatment_status)
    summaries = _summaries(subjects, study, today)
    if overdue is not None:
        summaries = [s for s in summaries if bool(s.overdue) == overdue]
    return summaries


@dataclass(frozen=True)
class OverdueVisit:
    subject: Subject
    occurrence: Occurrence
    days_overdue: int


def overdue_list(
    actor: User, *, study: Study, site: str | None = None, today: date | None = None
) -> list[OverdueVisit]:
    """Return every overdue visit of followed subjects, by site, then oldest first."""
    rows = []
    subjects = subjects_visible(actor, study=study).filter(study_status__in=ACTIVE)
    if site:
        subjects = subjects.filter(site__code=site)
    for summary in _summaries(subjects, study, today):
        day = today or site_today(summary.subject.site)
        for occurrence in summary.overdue:
            assert occurrence.latest is not None
            rows.append(OverdueVisit(summary.subject, occurrence, (day - occurrence.latest).days))
    return sorted(rows, key=lambda r: (r.subject.site.code, -r.days_overdue, r.subject.identifier))


def months_before(day: date, months: int) -> date:
    """Return the same day ``months`` months earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def follow_up_campaign(
    actor: User, *, study: Study, months: int, on: date, site: str | None = None
) -> QuerySet[Subject]:
    """Return the followed subjects whose date of last news is older than ``months`` before
    ``on``: the ones a follow-up campaign asks sites for news of."""
    if months < 1:
        raise ValidationError(f"months: {months} is not a number of months (1 or more).")
    cutoff = months_before(on, months)
    subjects = subjects_visible(actor, study=study).filter(
        study_status__in=CAMPAIGN_STATUSES, last_news_on__lt=cutoff
    )
    if site:
        subjects = subjects.filter(site__code=site)
    return subjects.order_by("site__code", "last_news_on", "identifier")


def screening_log(
    actor: User, *, study: Study, site: str | None = None
) -> QuerySet[ScreeningEntry]:
    """Return the screening log lines at the sites the actor may see."""
    entries = ScreeningEntry.objects.filter(study=study).select_related("site")
    entries = _scoped(actor, study, entries)
    if site:
        entries = entries.filter(site__code=site)
    return entries.order_by("site__code", "screened_on", "pk")


def eligibility_evaluate(
    actor: User, *, study: Study, values: dict[str, Any], on: date
) -> list[CriterionResult]:
    """Return each criterion's result for the values given, without recording anything."""
    require(actor, Action.INCLUDE_SUBJECT, study=study)
    definition = _definition(study)
    if definition is None:
        return []
    return evaluate_criteria(definition, values, clock=lambda: on)


def eligibility_questions(study: Study) -> list[str]:
    """Return the item names a registration must give for the criteria."""
    definition = _definition(study)
    return eligibility_items(definition) if definition else []
