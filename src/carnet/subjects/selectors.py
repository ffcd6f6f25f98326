"""Reads on subjects, always scoped to the sites where the actor may view subjects."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

from django.db.models import Case, DateField, F, Q, QuerySet, Value, When
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied, require, site_scope
from carnet.accounts.roles import Action
from carnet.core.clock import utc_today
from carnet.core.errors import ValidationError
from carnet.db.prepared import Prepared
from carnet.studies.definition.model import StudyDefinition
from carnet.studies.models import Study
from carnet.subjects.eligibility import CriterionResult, eligibility_items, evaluate_criteria
from carnet.subjects.environments import Environment, environment_written, test_view_asked
from carnet.subjects.models import (
    Consent,
    PlannedVisit,
    ScheduleSummary,
    ScreeningEntry,
    StatusChange,
    Subject,
    Withdrawal,
)
from carnet.subjects.schedule import (
    Occurrence,
    Planned,
    Settled,
    WindowStatus,
    next_visit,
    occurrence_status,
    overdue,
    planned_occurrences,
    schedule_on,
)
from carnet.subjects.scheduling import subject_dates
from carnet.subjects.services import site_today
from carnet.subjects.statuses import ACTIVE, StudyStatus

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


def _subject_named(study_id: int, identifier: str, environment: str) -> QuerySet[Subject]:
    return Subject.objects.filter(
        study_id=study_id, identifier=identifier, environment=environment
    ).select_related("site", "site__centre")


def _subject_named_at(
    study_id: int, identifier: str, environment: str, site_id: int
) -> QuerySet[Subject]:
    return _subject_named(study_id, identifier, environment).filter(site_id=site_id)


# Read by every request about one subject (each save): compiled once (carnet/db/prepared.py).
_SUBJECT_NAMED = Prepared(_subject_named, int, str, str)
_SUBJECT_NAMED_AT = Prepared(_subject_named_at, int, str, str, int)


def subject_for_actor(actor: User, *, study: Study, identifier: str) -> Subject:
    """Return one subject; an unknown subject and one at another site look the same."""
    # Not through subjects_visible: the study is the caller's, and one row needs no order.
    scope = site_scope(actor, Action.VIEW_SUBJECTS, study=study)
    if scope.empty:
        raise PermissionDenied(
            _("You may not view subjects of %(study)s.") % {"study": study.identifier}
        )
    environment = str(environment_seen(actor, study=study))
    subject: Subject | None
    if scope.all_sites:
        subject = _SUBJECT_NAMED.first(study.pk, identifier, environment)
    elif len(scope.site_ids) == 1:
        (site_id,) = scope.site_ids
        subject = _SUBJECT_NAMED_AT.first(study.pk, identifier, environment, site_id)
    else:
        subjects = _subject_named(study.pk, identifier, environment)
        subject = subjects.filter(site_id__in=scope.site_ids).first()
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


T = TypeVar("T")
# Rows per page of the lists, unless the person asks for another size within these bounds.
PER_PAGE = 50
PER_PAGE_MAX = 500


@dataclass(frozen=True)
class ListPage(Generic[T]):
    """One page of a list: its rows, how many match in all, and where it stands."""

    rows: list[T]
    total: int
    number: int
    per_page: int | None  # None: every row on one page (the API, exports)
    # True when more rows match than were counted: ``total`` is then a lower bound.
    capped: bool = False

    def __iter__(self) -> Iterator[T]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def pages(self) -> int:
        if not self.per_page:
            return 1
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages or (self.capped and len(self.rows) == self.per_page)


def _paged(
    queryset: QuerySet[Any], page: int, per_page: int | None, *, count_limit: int | None = None
) -> tuple[list[Any], int, int]:
    """Return the rows of one page, the total and the page number (kept within the pages).

    With ``count_limit``, counting stops there (the total is then that limit, and the caller
    says "more than"), so a list whose rows grow with the study still answers in bounded time.
    """
    if count_limit is None or not per_page:
        total = queryset.count()
    else:
        total = queryset[: count_limit + 1].count()
    if not per_page:
        return list(queryset), total, 1
    per_page = min(max(per_page, 1), PER_PAGE_MAX)
    last = max(1, -(-total // per_page))
    if count_limit is not None and total > count_limit:
        last = max(last, page)  # beyond the counted rows, a page answers while it has rows
    number = min(max(page, 1), last)
    start = (number - 1) * per_page
    return list(queryset[start : start + per_page]), total, number


def _ordering(sort: str, orders: dict[str, tuple[Any, ...]], default: str) -> list[Any]:
    """Return the ORDER BY of a sort key ("site", or "-site" for descending)."""
    key = sort.removeprefix("-")
    if key not in orders:
        key, sort = default, default
    result = []
    for field in orders[key]:
        if isinstance(field, str):
            result.append(F(field).desc() if sort.startswith("-") else F(field).asc())
        else:
            result.append(field)
    return result


def _today_by_site(study: Study, today: date | None, site_field: str = "site_id") -> Any:
    """Return an SQL expression for today's date at each row's site (each centre's time zone)."""
    if today is not None:
        return Value(today, output_field=DateField())
    days: dict[date, list[int]] = {}
    for found in StudySite.objects.filter(study=study).select_related("centre"):
        days.setdefault(site_today(found), []).append(found.pk)
    if len(days) == 1:
        return Value(next(iter(days)), output_field=DateField())
    return Case(
        *(When(**{f"{site_field}__in": pks}, then=Value(day)) for day, pks in days.items()),
        default=Value(utc_today()),
        output_field=DateField(),
    )


def _latest_today(study: Study, today: date | None) -> date:
    """Return the latest of today's dates at the study's sites (a bound an index can use)."""
    if today is not None:
        return today
    sites = StudySite.objects.filter(study=study).select_related("centre")
    return max((site_today(site) for site in sites), default=utc_today())


def _site_days(subjects: Iterable[Subject], today: date | None) -> dict[int, date]:
    days: dict[int, date] = {}
    for subject in subjects:
        if subject.site_id not in days:
            days[subject.site_id] = today or site_today(subject.site)
    return days


def _stored(subject: Subject) -> list[Planned] | None:
    """Return the subject's stored schedule, or None when it is behind the study's version."""
    summary = ScheduleSummary.objects.filter(subject=subject).first()
    if summary is None or summary.study_version_id != subject.study.current_version_id:
        return None
    if summary.planned_through < utc_today():
        return None
    return [
        Planned(
            v.event,
            v.number,
            v.target,
            v.earliest,
            v.latest,
            v.done_on,
            Settled(v.settled),
            v.unbounded,
        )
        for v in PlannedVisit.objects.filter(subject=subject)
    ]


def subject_occurrences(
    subject: Subject, *, today: date | None = None, definition: StudyDefinition | None = None
) -> list[Occurrence]:
    """Return the subject's schedule as it stands today at their site.

    From the stored schedule the lists read; planned afresh (nothing written) when it is behind.
    """
    day = today or site_today(subject.site)
    planned = _stored(subject)
    if planned is None:
        definition = definition or _definition(subject.study)
        if definition is None:
            return []
        planned = planned_occurrences(definition, subject_dates(subject), through=day)
    return schedule_on(planned, today=day)


@dataclass(frozen=True)
class SubjectSummary:
    """What the subject header and list show."""

    subject: Subject
    next_visit: Occurrence | None
    overdue: list[Occurrence]


def subject_summary(subject: Subject, *, today: date | None = None) -> SubjectSummary:
    """Return the header of one subject: statuses, date of last news, next visit."""
    occurrences = subject_occurrences(subject, today=today)
    return SubjectSummary(subject, next_visit(occurrences), overdue(occurrences))


def _occurrence(visit: PlannedVisit, today: date) -> Occurrence:
    planned = Planned(
        visit.event,
        visit.number,
        visit.target,
        visit.earliest,
        visit.latest,
        visit.done_on,
        Settled(visit.settled),
        visit.unbounded,
    )
    return Occurrence(
        visit.event,
        visit.number,
        visit.target,
        visit.earliest,
        visit.latest,
        visit.done_on,
        occurrence_status(planned, today),
    )


def _awaited() -> Q:
    return Q(done_on__isnull=True, settled=Settled.OPEN.value, target__isnull=False)


SUBJECT_ORDERS: dict[str, tuple[Any, ...]] = {
    "identifier": ("identifier",),
    "site": ("site__code", "identifier"),
    "status": ("study_status", "identifier"),
    "treatment": ("treatment_status", "identifier"),
    "included": ("included_on", "identifier"),
    "last_news": ("last_news_on", "identifier"),
    "next_visit": (
        F("schedule_summary__next_target").asc(nulls_last=True),
        "identifier",
    ),
}


def subject_list(
    actor: User,
    *,
    study: Study,
    site: str | None = None,
    study_status: list[str] | None = None,
    treatment_status: list[str] | None = None,
    overdue: bool | None = None,
    search: str = "",
    sort: str = "identifier",
    page: int = 1,
    per_page: int | None = PER_PAGE,
    today: date | None = None,
) -> ListPage[SubjectSummary]:
    """Return one page of the subjects the actor may see, filtered by site, statuses, overdue
    visits and a search on the identifier or screening number, sorted as asked.

    Filters, counts, sorts and pages in SQL on the stored schedules: the time it takes does not
    grow with the number of subjects beyond what the database does with its indexes."""
    subjects = subjects_visible(actor, study=study)
    if site:
        subjects = subjects.filter(site__code=site)
    if study_status:
        subjects = subjects.filter(study_status__in=study_status)
    if treatment_status:
        subjects = subjects.filter(treatment_status__in=treatment_status)
    if search.strip():
        text = search.strip()
        subjects = subjects.filter(
            Q(identifier__icontains=text) | Q(screening_number__icontains=text)
        )
    if overdue is not None:
        late = Q(schedule_summary__first_awaited_latest__lt=_latest_today(study, today)) & Q(
            schedule_summary__first_awaited_latest__lt=_today_by_site(study, today)
        )
        subjects = subjects.filter(late) if overdue else subjects.exclude(late)
    subjects = subjects.select_related("schedule_summary").order_by(
        *_ordering(sort, SUBJECT_ORDERS, "identifier")
    )
    rows, total, number = _paged(subjects, page, per_page)
    days = _site_days(rows, today)
    late_visits: dict[int, list[Occurrence]] = {subject.pk: [] for subject in rows}
    site_of = {subject.pk: subject.site_id for subject in rows}
    if rows:
        # Plain tuples, not model instances: a page of subjects long in follow-up can hold a
        # thousand and more overdue visits (every scan and call of years in follow-up), and
        # building a PlannedVisit and its Subject for each took most of the page's time.
        for subject_id, event, number, target, earliest, latest in PlannedVisit.objects.filter(
            _awaited(), subject_id__in=late_visits, latest__lt=max(days.values())
        ).values_list("subject_id", "event", "number", "target", "earliest", "latest"):
            if latest is not None and latest < days[site_of[subject_id]]:
                # Awaited and its window closed before the site's today: overdue, by definition.
                late_visits[subject_id].append(
                    Occurrence(event, number, target, earliest, latest, None, WindowStatus.OVERDUE)
                )
    summaries = []
    for subject in rows:
        stored = getattr(subject, "schedule_summary", None)
        following = None
        if stored is not None and stored.next_target is not None:
            following = _occurrence(
                PlannedVisit(
                    event=stored.next_event,
                    number=stored.next_number or 1,
                    target=stored.next_target,
                    earliest=stored.next_earliest,
                    latest=stored.next_latest,
                ),
                days[subject.site_id],
            )
        overdue_visits = sorted(
            late_visits[subject.pk], key=lambda o: (o.target or date.max, o.event, o.number)
        )
        summaries.append(SubjectSummary(subject, following, overdue_visits))
    return ListPage(summaries, total, number, per_page)


@dataclass(frozen=True)
class OverdueVisit:
    subject: Subject
    occurrence: Occurrence
    days_overdue: int


# Past this many overdue visits, the list says "more than 1,000" rather than counting them all.
OVERDUE_COUNT_LIMIT = 1000
OVERDUE_ORDERS: dict[str, tuple[Any, ...]] = {
    # The index's own order: the first page needs no sort of every overdue visit.
    "days": ("latest", "id"),
    "site": ("subject__site__code", "latest", "subject__identifier", "event", "number"),
    "subject": ("subject__identifier", "latest", "event", "number"),
    "event": ("event", "number", "latest", "subject__identifier"),
}


def overdue_list(
    actor: User,
    *,
    study: Study,
    site: str | None = None,
    search: str = "",
    sort: str = "days",
    page: int = 1,
    per_page: int | None = None,
    today: date | None = None,
) -> ListPage[OverdueVisit]:
    """Return the overdue visits, the longest overdue first (or as sorted: by site, subject,
    event): a visit still awaited whose window closed before today at the subject's site."""
    visible = subjects_visible(actor, study=study)
    if site:
        visible = visible.filter(site__code=site)
    if search.strip():
        visible = visible.filter(identifier__icontains=search.strip())
    visits = (
        PlannedVisit.objects.filter(_awaited(), study=study, subject__in=visible.values("pk"))
        # The plain bound first, so the partial index narrows the rows; then each site's day.
        .filter(latest__lt=_latest_today(study, today))
        .filter(latest__lt=_today_by_site(study, today, "subject__site_id"))
        .select_related("subject", "subject__site", "subject__site__centre")
    )
    visits = visits.order_by(*_ordering(sort, OVERDUE_ORDERS, "days"))
    rows, total, number = _paged(visits, page, per_page, count_limit=OVERDUE_COUNT_LIMIT)
    days = _site_days([v.subject for v in rows], today)
    overdue_rows = []
    for visit in rows:
        day = days[visit.subject.site_id]
        assert visit.latest is not None
        overdue_rows.append(
            OverdueVisit(visit.subject, _occurrence(visit, day), (day - visit.latest).days)
        )
    capped = bool(per_page) and total > OVERDUE_COUNT_LIMIT
    if capped:
        total = OVERDUE_COUNT_LIMIT
    return ListPage(overdue_rows, total, number, per_page, capped)


def overdue_counts(
    actor: User, *, study: Study, sites: Iterable[StudySite], today: date | None = None
) -> dict[int, int]:
    """Return the number of overdue visits of each of ``sites`` the actor sees, by site id,
    each counted up to ``OVERDUE_COUNT_LIMIT`` + 1 (more reads as "more than" the limit), as
    `overdue_list` counts them: one statement a site, bounded whatever the study's size."""
    latest = _latest_today(study, today)
    by_site = _today_by_site(study, today, "subject__site_id")
    visible = subjects_visible(actor, study=study)
    found = {}
    for site in sites:
        visits = (
            PlannedVisit.objects.filter(
                _awaited(), study=study, subject__in=visible.filter(site=site).values("pk")
            )
            .filter(latest__lt=latest)
            .filter(latest__lt=by_site)
            .order_by()
        )
        found[site.pk] = visits[: OVERDUE_COUNT_LIMIT + 1].count()
    return found


def months_before(day: date, months: int) -> date:
    """Return the same day ``months`` months earlier (the month's last day when it is shorter).

    Before the calendar's first day, the first day: no news can be older than that."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    if year < date.min.year:
        return date.min
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


CAMPAIGN_ORDERS: dict[str, tuple[Any, ...]] = {
    "site": ("site__code", "last_news_on", "identifier"),
    "last_news": ("last_news_on", "identifier"),
    "identifier": ("identifier",),
    "status": ("study_status", "identifier"),
}


def follow_up_campaign(
    actor: User,
    *,
    study: Study,
    months: int,
    on: date,
    site: str | None = None,
    search: str = "",
    study_status: list[str] | None = None,
    sort: str = "site",
    page: int = 1,
    per_page: int | None = None,
) -> ListPage[Subject]:
    """Return the followed subjects whose date of last news is older than ``months`` before
    ``on``: the ones a follow-up campaign asks sites for news of (one page of them)."""
    if months < 1:
        raise ValidationError(
            "months: " + _("%(months)s is not a number of months (1 or more).") % {"months": months}
        )
    cutoff = months_before(on, months)
    subjects = subjects_visible(actor, study=study).filter(
        study_status__in=CAMPAIGN_STATUSES, last_news_on__lt=cutoff
    )
    if site:
        subjects = subjects.filter(site__code=site)
    if study_status:
        subjects = subjects.filter(study_status__in=study_status)
    if search.strip():
        subjects = subjects.filter(identifier__icontains=search.strip())
    subjects = subjects.order_by(*_ordering(sort, CAMPAIGN_ORDERS, "site"))
    rows, total, number = _paged(subjects, page, per_page)
    return ListPage(rows, total, number, per_page)


SCREENING_ORDERS: dict[str, tuple[Any, ...]] = {
    "site": ("site__code", "screened_on", "pk"),
    "screened": ("screened_on", "pk"),
    "number": ("screening_number", "pk"),
    "age": ("age", "pk"),
}


def screening_log(
    actor: User,
    *,
    study: Study,
    site: str | None = None,
    search: str = "",
    sort: str = "site",
    page: int = 1,
    per_page: int | None = None,
) -> ListPage[ScreeningEntry]:
    """Return one page of the screening log lines at the sites the actor may see, searched by
    screening number or reason not included."""
    entries = ScreeningEntry.objects.filter(study=study).select_related("site")
    entries = _scoped(actor, study, entries)
    if site:
        entries = entries.filter(site__code=site)
    if search.strip():
        text = search.strip()
        entries = entries.filter(
            Q(screening_number__icontains=text) | Q(reason_not_included__icontains=text)
        )
    entries = entries.order_by(*_ordering(sort, SCREENING_ORDERS, "site"))
    rows, total, number = _paged(entries, page, per_page)
    return ListPage(rows, total, number, per_page)


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


@dataclass(frozen=True)
class SubjectRecord:
    """What a subject's page lists of the subject's life in the study, oldest first."""

    consents: list[Consent]
    withdrawals: list[Withdrawal]
    status_changes: list[StatusChange]


def subject_record(subject: Subject) -> SubjectRecord:
    """Return the subject's consents, withdrawals and status changes, each oldest first.

    The subject is one the caller found through subject_for_actor: its reads are scoped there.
    """
    return SubjectRecord(
        consents=list(subject.consents.order_by("consented_on", "pk")),
        withdrawals=list(subject.withdrawals.order_by("withdrawn_on", "pk")),
        status_changes=list(subject.status_changes.order_by("on", "pk")),
    )
