"""The centre's activity report: across every study of the installation the reader may count,
trials open, patients included and randomised per study, site and year, queries by state and
data completeness (the share of expected forms finished).

Every figure is counted by the database (GROUP BY study, site and year): nothing here reads a
subject's row in Python, so a study of 10,000 patients costs a few aggregate queries. Only the
production patients count (test patients are kept apart). No arm is ever read: the report is
the same for a blinded and an unblinded reader.

Other apps add columns through `register_activity_counter` (the biobank's samples collected):
a counter returns its counts per (study id, site id, year), also counted by the database.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, Exists, Max, Min, OuterRef, Q
from django.db.models.functions import ExtractYear
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import Actor, SiteScope, site_scope, studies_visible
from carnet.accounts.roles import Action
from carnet.audit.services import SystemActor
from carnet.capture.models import FormInstance
from carnet.capture.selectors import FINISHED
from carnet.core.clock import utc_today
from carnet.core.errors import ValidationError
from carnet.quality.models import Query, QueryState
from carnet.studies.models import Study, StudyMode
from carnet.subjects.environments import Environment
from carnet.subjects.models import PlannedVisit, Subject
from carnet.subjects.schedule import Settled

# A counter receives the ids of the studies counted and the year asked for (None: every year)
# and returns its counts per (study id, site id, year of the thing counted).
ActivityCounter = Callable[[Sequence[int], int | None], Mapping[tuple[int, int, int], int]]


@dataclass(frozen=True)
class RegisteredCounter:
    name: str
    label: str  # the column's heading (a lazy translation, read when the page is drawn)
    counter: ActivityCounter


_COUNTERS: dict[str, RegisteredCounter] = {}
# The years one may ask for (a date's year lookup fails far outside them).
FIRST_YEAR, LAST_YEAR = 1900, 2200


def register_activity_counter(name: str, counter: ActivityCounter, *, label: str) -> None:
    """Add a column to the activity report (e.g. ``samples``, "Samples collected").

    Apps register from an `AppConfig.ready()`; registering a name again replaces its counter.
    The counter must count in the database and return only non-zero counts."""
    _COUNTERS[name] = RegisteredCounter(name, label, counter)


def unregister_activity_counter(name: str) -> None:
    """Remove a column (tests register their own and take it away)."""
    _COUNTERS.pop(name, None)


def activity_counters() -> list[RegisteredCounter]:
    return list(_COUNTERS.values())


@dataclass(frozen=True)
class ActivityRow:
    """Patients included and randomised at one site of one study in one year."""

    study: str
    site: str
    centre: str
    year: int
    included: int
    randomised: int
    counts: tuple[int, ...] = ()  # the registered counters', in their order


@dataclass(frozen=True)
class QualityRow:
    """Queries by state and data completeness at one site of one study."""

    study: str
    site: str
    centre: str
    queries_open: int
    queries_answered: int
    queries_closed: int
    forms_expected: int
    forms_finished: int

    @property
    def completeness(self) -> float | None:
        """Return the share of expected forms finished (None when nothing is expected yet)."""
        if not self.forms_expected:
            return None
        return min(1.0, self.forms_finished / self.forms_expected)

    @property
    def completeness_text(self) -> str:
        return percent(self.completeness)


@dataclass(frozen=True)
class YearSummary:
    """What the centre reports for one year, across the studies counted."""

    year: int
    trials_open: int
    trials_including: int
    included: int
    randomised: int
    counts: tuple[int, ...] = ()


@dataclass
class ActivityReport:
    """The activity report as one reader may see it."""

    year: int | None
    on: date
    studies: int  # studies counted (those the reader may count)
    counters: list[str]  # headings of the registered columns
    years: list[YearSummary] = field(default_factory=list)
    rows: list[ActivityRow] = field(default_factory=list)
    quality: list[QualityRow] = field(default_factory=list)


def activity_scopes(actor: Actor) -> dict[int, SiteScope]:
    """Return, per study id, the sites whose activity the actor may count.

    A command (the system) and a system administrator count every study and site of the
    installation; anyone else only the studies where a role of theirs grants VIEW_ACTIVITY,
    and only at the sites that role covers."""
    every = SiteScope(all_sites=True, site_ids=frozenset())
    if isinstance(actor, SystemActor):
        return dict.fromkeys(Study.objects.values_list("pk", flat=True), every)
    assert isinstance(actor, User)
    scopes = {}
    for study in studies_visible(actor).order_by("identifier"):
        scope = site_scope(actor, Action.VIEW_ACTIVITY, study=study)
        if not scope.empty:
            scopes[study.pk] = scope
    return scopes


def _allowed(scopes: Mapping[int, SiteScope], study_id: int, site_id: int) -> bool:
    scope = scopes.get(study_id)
    return scope is not None and scope.allows(site_id)


def _by_year(
    study_ids: list[int], column: str, year: int | None
) -> dict[tuple[int, int, int], int]:
    """Return the production patients per (study, site, year of ``column``), counted in SQL."""
    subjects = Subject.objects.filter(
        study_id__in=study_ids, environment=Environment.PRODUCTION, **{f"{column}__isnull": False}
    )
    if year is not None:
        subjects = subjects.filter(**{f"{column}__year": year})
    rows = (
        subjects.annotate(year=ExtractYear(column))
        .order_by()
        .values("study_id", "site_id", "year")
        .annotate(n=Count("id"))
        .values_list("study_id", "site_id", "year", "n")
    )
    return {(study, site, int(y)): n for study, site, y, n in rows}


def _queries(study_ids: list[int], year: int | None) -> dict[tuple[int, int], dict[str, int]]:
    """Return the production patients' queries per (study, site) and state (raised in ``year``
    when one is given); cancelled queries are not counted."""
    queries = Query.objects.filter(
        study_id__in=study_ids,
        subject__environment=Environment.PRODUCTION,
        state__in=[QueryState.OPEN, QueryState.ANSWERED, QueryState.CLOSED],
    )
    if year is not None:
        queries = queries.filter(opened_at__year=year)
    found: dict[tuple[int, int], dict[str, int]] = {}
    rows = (
        queries.order_by()
        .values("study_id", "site_id", "state")
        .annotate(n=Count("id"))
        .values_list("study_id", "site_id", "state", "n")
    )
    for study, site, state, n in rows:
        found.setdefault((study, site), {})[state] = n
    return found


def _expected_visits(today: date) -> Q:
    """Return the planned visits whose forms are expected by ``today``: those done, those the
    inclusion closed (screening), and those still awaited whose window has closed."""
    awaited = Q(settled=Settled.OPEN, target__isnull=False)
    closed = Q(latest__lt=today) | Q(latest__isnull=True, target__lt=today)
    return Q(done_on__isnull=False) | Q(settled=Settled.BEFORE_INCLUSION) | (awaited & closed)


def _event_forms(studies: Sequence[Study]) -> dict[int, dict[str, frozenset[str]]]:
    """Return per study the forms of each event, as its current version defines them."""
    found: dict[int, dict[str, frozenset[str]]] = {}
    for study in studies:
        definition = study.current_version.parsed() if study.current_version else None
        events = definition.events if definition is not None else ()
        found[study.pk] = {event.name: frozenset(event.forms) for event in events}
    return found


def _completeness(
    studies: Sequence[Study], year: int | None, today: date
) -> dict[tuple[int, int], tuple[int, int]]:
    """Return per (study, site) the forms expected and the forms finished (complete or marked
    not done), of the production patients (included in ``year`` when one is given).

    The database counts the expected visits per event and the finished forms per event and form;
    Python multiplies by the number of forms of each event (a few rows per study and site)."""
    ids = [study.pk for study in studies]
    forms = _event_forms(studies)
    patients = Q(subject__environment=Environment.PRODUCTION)
    if year is not None:
        patients &= Q(subject__included_on__year=year)
    planned = PlannedVisit.objects.filter(patients, _expected_visits(today), study_id__in=ids)
    found: dict[tuple[int, int], tuple[int, int]] = {}
    visits = (
        planned.order_by()
        .values("study_id", "subject__site_id", "event")
        .annotate(n=Count("id"))
        .values_list("study_id", "subject__site_id", "event", "n")
    )
    for study, site, event, n in visits:
        expected, finished = found.get((study, site), (0, 0))
        found[(study, site)] = (expected + n * len(forms[study].get(event, ())), finished)
    # A form counts once per visit (its first instance), and only at a visit expected.
    at_expected_visit = PlannedVisit.objects.filter(
        _expected_visits(today),
        subject_id=OuterRef("subject_id"),
        event=OuterRef("event"),
        number=OuterRef("occurrence"),
    )
    instances = FormInstance.objects.filter(
        patients,
        Exists(at_expected_visit),
        subject__study_id__in=ids,
        environment=Environment.PRODUCTION,
        status__in=sorted(FINISHED),
        repeat=1,
    )
    finished_forms = (
        instances.order_by()
        .values("subject__study_id", "subject__site_id", "event", "form")
        .annotate(n=Count("id"))
        .values_list("subject__study_id", "subject__site_id", "event", "form", "n")
    )
    for study, site, event, form, n in finished_forms:
        if form not in forms[study].get(event, ()):
            continue  # a form an amendment took away from the event is no longer expected
        expected, finished = found.get((study, site), (0, 0))
        found[(study, site)] = (expected, finished + n)
    return found


def _open_trials(studies: Sequence[Study], years: Sequence[int], today: date) -> dict[int, int]:
    """Return per year the trials open: a site activated by the end of the year (by today for
    the current year), and the study in production now, or including patients that year or
    later (a study frozen or locked since was open then)."""
    ids = [study.pk for study in studies]
    first_activation = dict(
        StudySite.objects.filter(study_id__in=ids, activated_on__isnull=False)
        .order_by()
        .values("study_id")
        .annotate(first=Min("activated_on"))
        .values_list("study_id", "first")
    )
    last_inclusion = dict(
        Subject.objects.filter(study_id__in=ids, environment=Environment.PRODUCTION)
        .order_by()
        .values("study_id")
        .annotate(last=Max("included_on"))
        .values_list("study_id", "last")
    )
    in_production = {study.pk for study in studies if study.mode == StudyMode.PRODUCTION}
    found = {}
    for year in years:
        end = min(date(year, 12, 31), today)
        found[year] = sum(
            1
            for study in ids
            if first_activation.get(study) is not None
            and first_activation[study] <= end
            and (
                study in in_production
                or (last_inclusion.get(study) is not None and last_inclusion[study].year >= year)
            )
        )
    return found


def _sites(study_ids: list[int]) -> dict[int, tuple[int, str, str]]:
    """Return per site id its study id, code and centre's name."""
    return {
        pk: (study, code, centre)
        for pk, study, code, centre in StudySite.objects.filter(study_id__in=study_ids)
        .order_by()
        .values_list("pk", "study_id", "code", "centre__name")
    }


def activity_report(actor: Actor, *, year: int | None = None) -> ActivityReport:
    """Return the activity report of the studies and sites the actor may count, for one year or
    (``year`` None) every year with an inclusion or a randomisation."""
    if year is not None and not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValidationError(_("year: give a year such as 2026, or nothing for every year."))
    today = utc_today()
    scopes = activity_scopes(actor)
    studies = list(
        Study.objects.filter(pk__in=list(scopes))
        .select_related("current_version")
        .order_by("identifier")
    )
    ids = [study.pk for study in studies]
    names = {study.pk: study.identifier for study in studies}
    sites = _sites(ids)
    included = _by_year(ids, "included_on", year)
    randomised = _by_year(ids, "randomised_on", year)
    counters = activity_counters()
    counted = [dict(registered.counter(ids, year)) for registered in counters]
    keys = {*included, *randomised, *(key for counts in counted for key in counts)}
    keys = {key for key in keys if key[1] in sites and _allowed(scopes, key[0], key[1])}
    if year is not None:
        keys = {key for key in keys if key[2] == year}
    rows = [
        ActivityRow(
            study=names[study],
            site=sites[site][1],
            centre=sites[site][2],
            year=y,
            included=included.get((study, site, y), 0),
            randomised=randomised.get((study, site, y), 0),
            counts=tuple(counts.get((study, site, y), 0) for counts in counted),
        )
        for study, site, y in keys
    ]
    rows.sort(key=lambda row: (row.year, row.study, row.site))
    years = [year] if year is not None else sorted({row.year for row in rows})
    report = ActivityReport(
        year=year,
        on=today,
        studies=len(studies),
        counters=[registered.label for registered in counters],
        rows=rows,
    )
    open_trials = _open_trials(studies, years, today)
    for y in years:
        mine = [row for row in rows if row.year == y]
        report.years.append(
            YearSummary(
                year=y,
                trials_open=open_trials[y],
                trials_including=len({row.study for row in mine if row.included}),
                included=sum(row.included for row in mine),
                randomised=sum(row.randomised for row in mine),
                counts=tuple(sum(row.counts[i] for row in mine) for i in range(len(counters))),
            )
        )
    queries = _queries(ids, year)
    completeness = _completeness(studies, year, today)
    for study, site in sorted(
        {*queries, *completeness}, key=lambda key: (names[key[0]], sites[key[1]][1])
    ):
        if not _allowed(scopes, study, site):
            continue
        states = queries.get((study, site), {})
        expected, finished = completeness.get((study, site), (0, 0))
        report.quality.append(
            QualityRow(
                study=names[study],
                site=sites[site][1],
                centre=sites[site][2],
                queries_open=states.get(QueryState.OPEN, 0),
                queries_answered=states.get(QueryState.ANSWERED, 0),
                queries_closed=states.get(QueryState.CLOSED, 0),
                forms_expected=expected,
                forms_finished=finished,
            )
        )
    return report


def percent(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.1f}%"


CSV_HEADER = (
    "section",
    "study",
    "site",
    "centre",
    "year",
    "trials_open",
    "trials_including",
    "included",
    "randomised",
)
QUALITY_HEADER = (
    "queries_open",
    "queries_answered",
    "queries_closed",
    "forms_expected",
    "forms_finished",
    "completeness",
)


def activity_csv(report: ActivityReport) -> str:
    """Return the report as one CSV table: a ``section`` column tells the yearly summary, the
    inclusions per study, site and year, and the queries and completeness per study and site."""
    names = [registered.name for registered in activity_counters()]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_HEADER, *names, *QUALITY_HEADER])
    blank_quality = [""] * len(QUALITY_HEADER)
    for summary in report.years:
        writer.writerow(
            [
                "summary",
                "",
                "",
                "",
                summary.year,
                summary.trials_open,
                summary.trials_including,
                summary.included,
                summary.randomised,
                *summary.counts,
                *blank_quality,
            ]
        )
    for row in report.rows:
        writer.writerow(
            [
                "inclusions",
                row.study,
                row.site,
                row.centre,
                row.year,
                "",
                "",
                row.included,
                row.randomised,
                *row.counts,
                *blank_quality,
            ]
        )
    for quality in report.quality:
        writer.writerow(
            [
                "quality",
                quality.study,
                quality.site,
                quality.centre,
                "" if report.year is None else report.year,
                "",
                "",
                "",
                "",
                *[""] * len(names),
                quality.queries_open,
                quality.queries_answered,
                quality.queries_closed,
                quality.forms_expected,
                quality.forms_finished,
                percent(quality.completeness),
            ]
        )
    return out.getvalue()
