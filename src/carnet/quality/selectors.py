"""Reads of queries, always scoped to the sites where the actor may see subjects, and shown
through the blinding policy (a blinded person never reads an arm-revealing value)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.blinding import Blinding, blinding_of
from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied, may, site_scope, studies_visible
from carnet.accounts.roles import Action
from carnet.capture.models import FormInstance, ItemValue
from carnet.capture.rules import study_rules
from carnet.core.clock import utc_now
from carnet.quality.automatic import acknowledged_check_keys as acknowledged_check_keys
from carnet.quality.models import ACTIVE_STATES, Query, QueryMessage, QueryState
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.selectors import environment_seen

__all__ = [
    "QueryFilters",
    "acknowledged_check_keys",
    "casebook_query_counts",
    "form_query_counts",
    "queries_list",
    "query_get",
    "query_rows",
    "query_settings",
    "query_thread",
    "site_query_counts",
]


@dataclass(frozen=True)
class QueryFilters:
    """What a query list is narrowed to; empty fields filter nothing."""

    site: str = ""  # site code
    subject: str = ""  # subject identifier
    form: str = ""
    state: str = ""  # a state, or "active" (open or answered)
    kind: str = ""
    raised_by: str = ""  # user name
    min_days: int | None = None  # open at least that many days
    form_instance_id: int | None = None
    item: str = ""
    row: int | None = None


def _visible(actor: User, study: Study) -> QuerySet[Query]:
    """Return the queries of the sites the actor covers, on the patients of the environment
    they look at: production patients, or the test (UAT) patients in the test view."""
    scope = site_scope(actor, Action.VIEW_SUBJECTS, study=study)
    if scope.empty:
        raise PermissionDenied(_("You may not see this study's queries."))
    queries = Query.objects.filter(
        study=study, subject__environment=environment_seen(actor, study=study)
    )
    if scope.all_sites:
        return queries
    return queries.filter(site_id__in=scope.site_ids)


def queries_list(
    *, actor: User, study: Study, filters: QueryFilters | None = None
) -> QuerySet[Query]:
    """Return the study's queries the actor may see (the sites they cover), filtered, the
    oldest first."""
    filters = filters or QueryFilters()
    queries = _visible(actor, study)
    if filters.site:
        queries = queries.filter(site__code=filters.site)
    if filters.subject:
        queries = queries.filter(subject__identifier=filters.subject)
    if filters.form:
        queries = queries.filter(form=filters.form)
    if filters.state == "active":
        queries = queries.filter(state__in=ACTIVE_STATES)
    elif filters.state:
        queries = queries.filter(state=filters.state)
    if filters.kind:
        queries = queries.filter(kind=filters.kind)
    if filters.raised_by:
        queries = queries.filter(raised_by__username=filters.raised_by)
    if filters.min_days is not None:
        queries = queries.filter(
            state__in=ACTIVE_STATES, opened_at__lte=utc_now() - timedelta(days=filters.min_days)
        )
    if filters.form_instance_id is not None:
        queries = queries.filter(form_instance_id=filters.form_instance_id)
    if filters.item:
        queries = queries.filter(item=filters.item)
    if filters.row is not None:
        queries = queries.filter(row=filters.row)
    return queries.select_related("site", "subject", "check_result").order_by("opened_at", "pk")


def query_get(*, actor: User, study: Study, pk: int) -> Query:
    """Return one query the actor may see; refuse alike whether it exists or not."""
    found = (
        _visible(actor, study)
        .select_related("study", "site", "subject", "check_result")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise PermissionDenied(_("There is no such query you may see."))
    return found


def query_thread(*, query: Query) -> list[QueryMessage]:
    """Return the messages of a query (already read through `query_get`), oldest first."""
    return list(query.messages.order_by("created_at", "pk"))


def _items_of(study: Study, forms: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Any]:
    """Return the item definitions (by study version id, form) the rows name."""
    from carnet.studies.models import StudyVersion

    found: dict[tuple[int, str], Any] = {}
    versions = {version_id for version_id, _form in forms}
    for version in StudyVersion.objects.filter(pk__in=versions):
        for name, rules in study_rules(version).forms.items():
            found[(version.pk, name)] = rules.items
    return found


def query_rows(
    *, actor: User, study: Study, queries: Iterable[Query], language: str
) -> list[dict[str, Any]]:
    """Return the queries as a list or an export shows them: place, state, age, text, and the
    item's current value through the blinding policy."""
    return _rows(blinding_of(actor, study=study), study, list(queries), language)


def _rows(
    blinding: Blinding, study: Study, queries: list[Query], language: str
) -> list[dict[str, Any]]:
    now = utc_now()
    form_ids = {q.form_instance_id for q in queries if q.form_instance_id and q.item}
    values = {
        (v["form_instance_id"], v["item"], v["row"]): v
        for v in ItemValue.objects.filter(form_instance_id__in=form_ids).values(
            "form_instance_id", "item", "row", "text", "missing_code", "study_version_id"
        )
    }
    versions = dict(
        FormInstance.objects.filter(pk__in=form_ids).values_list("pk", "study_version_id")
    )
    items = _items_of(study, {(versions[pk], "") for pk in versions})
    rows = []
    for query in queries:
        value = ""
        if query.item and query.form_instance_id in versions:
            stored = values.get((query.form_instance_id, query.item, query.row))
            item = items.get((versions[query.form_instance_id], query.form), {}).get(query.item)
            if stored is not None:
                value = _value_text(blinding, item, dict(stored))
        end = query.closed_at if not query.active and query.closed_at else now
        rows.append(
            {
                "query": query,
                "id": query.pk,
                "site": query.site.code,
                "subject": query.subject.identifier,
                "event": query.event,
                "occurrence": query.occurrence,
                "form": query.form,
                "item": query.item,
                "row": query.row,
                "kind": query.kind,
                "scope": query.scope,
                "state": query.state,
                "resolution": query.resolution,
                "text": _query_text(query, language),
                "value": value,
                "raised_by": query.raised_by_label,
                "opened_at": query.opened_at,
                "days_open": (end - query.opened_at).days,
            }
        )
    return rows


def _value_text(blinding: Blinding, item: Any, stored: dict[str, Any]) -> str:
    return blinding.text(item, stored["text"]) or stored["missing_code"]


def _query_text(query: Query, language: str) -> str:
    """Return a query's question: an edit check's message in the reader's language."""
    if query.check_result is not None and language == "fr":
        return query.check_result.message_fr or query.text
    return query.text


def form_query_counts(*, actor: User, form_instance: FormInstance) -> dict[tuple[str, int], int]:
    """Return the waiting queries of a form instance by (item, row); ("", 0) for the form's own."""
    subject = form_instance.subject
    if not may(actor, Action.VIEW_SUBJECTS, study=subject.study, site=subject.site):
        return {}
    return {
        (item, row): count
        for item, row, count in Query.objects.filter(
            form_instance=form_instance, state__in=ACTIVE_STATES
        )
        .order_by()
        .values_list("item", "row")
        .annotate(count=Count("pk"))
    }


def casebook_query_counts(*, actor: User, subject: Subject) -> dict[int, int]:
    """Return the waiting queries of a subject by form instance id (one indexed query)."""
    if not may(actor, Action.VIEW_SUBJECTS, study=subject.study, site=subject.site):
        return {}
    return dict(
        Query.objects.filter(subject=subject, state__in=ACTIVE_STATES, form_instance__isnull=False)
        .order_by()
        .values_list("form_instance_id")
        .annotate(count=Count("pk"))
    )


@dataclass(frozen=True)
class SiteCount:
    study: Study
    site: StudySite | None  # None: every site the actor covers
    open: int
    answered: int


def site_query_counts(*, actor: User) -> list[SiteCount]:
    """Return, per study the actor takes part in, the waiting queries at the sites they cover:
    what a site's or a data manager's home shows (one grouped query per study)."""
    found = []
    for study in studies_visible(actor):
        if site_scope(actor, Action.VIEW_SUBJECTS, study=study).empty:
            continue
        queries = _visible(actor, study)
        counts = dict(
            queries.filter(state__in=ACTIVE_STATES)
            .order_by()
            .values_list("state")
            .annotate(count=Count("pk"))
        )
        if counts:
            found.append(
                SiteCount(
                    study=study,
                    site=None,
                    open=counts.get(QueryState.OPEN, 0),
                    answered=counts.get(QueryState.ANSWERED, 0),
                )
            )
    return found


def answerable_here(actor: User, query: Query) -> bool:
    """Return whether the actor answers this query (the site's staff)."""
    return may(actor, Action.ANSWER_QUERY, study=query.study, site=query.site)


def query_filter_choices(*, actor: User, study: Study) -> dict[str, list[str]]:
    """Return what a query list's filters offer: the sites, forms and raisers in view."""
    queries = _visible(actor, study).order_by()

    def distinct(found: QuerySet[Query], field: str) -> list[str]:
        # DISTINCT in the database: a handful of rows, not one per query of the study.
        return sorted(found.values_list(field, flat=True).distinct())

    return {
        "sites": distinct(queries, "site__code"),
        "forms": distinct(queries.exclude(form=""), "form"),
        "raisers": distinct(queries.filter(raised_by__isnull=False), "raised_by__username"),
    }


def form_instance_find(
    *, subject: Subject, event: str, occurrence: int, form: str, repeat: int = 1
) -> FormInstance | None:
    """Return a subject's saved form instance (already scoped through the subject), or None."""
    return (
        FormInstance.objects.filter(
            subject=subject,
            environment=subject.environment,
            event=event,
            occurrence=occurrence,
            form=form,
            repeat=repeat,
        )
        .select_related("study_version")
        .first()
    )


# The ages a workspace counts waiting queries in, in days: (label key, from, to or None).
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("week", 0, 7),
    ("month", 8, 30),
    ("quarter", 31, 90),
    ("older", 91, None),
)


@dataclass(frozen=True)
class SiteWork:
    """What waits at one site: queries by age, forms not finished, forms changed since the
    data review, subjects with a check unresolved, overdue visits."""

    site: StudySite
    queries_by_age: dict[str, int]
    answered: int
    forms_in_progress: int
    forms_to_review: int
    subjects_with_checks: int
    overdue_visits: int
    overdue_more: bool = False  # more overdue visits than counted (the list's count limit)
    to_review_more: bool = False  # more forms to review than counted (REVIEW_COUNT_LIMIT)


# A site's forms to review are counted up to this many (more reads "1000+"): the count then
# stops early where many forms wait, the case that would otherwise read every form.
REVIEW_COUNT_LIMIT = 1000


def _to_review_counts(forms: QuerySet[FormInstance], sites: list[StudySite]) -> dict[int, int]:
    """Return each site's forms changed since their data review (or never reviewed), counted
    up to REVIEW_COUNT_LIMIT + 1 from the index on (subject, status, version)."""
    from django.db.models import F, Q

    waiting = forms.exclude(status="not_started").filter(
        Q(data_review__isnull=True) | Q(data_review__version__lt=F("version"))
    )
    return {
        site.pk: waiting.filter(subject__site=site)[: REVIEW_COUNT_LIMIT + 1].count()
        for site in sites
    }


def workspace(*, actor: User, study: Study) -> list[SiteWork]:
    """Return the data manager's workspace: per site they cover, counts read by grouped,
    indexed queries (a handful per site, none per subject)."""
    from django.db.models import Q

    from carnet.subjects.selectors import OVERDUE_COUNT_LIMIT, overdue_counts

    if not may(actor, Action.MANAGE_DATA, study=study):
        raise PermissionDenied(_("You may not see this study's workspace."))
    scope = site_scope(actor, Action.MANAGE_DATA, study=study)
    sites = StudySite.objects.filter(study=study).order_by("code")
    if not scope.all_sites:
        sites = sites.filter(pk__in=scope.site_ids)
    now = utc_now()
    bands = {
        name: Count(
            "pk",
            filter=Q(opened_at__lte=now - timedelta(days=start))
            & (Q() if end is None else Q(opened_at__gt=now - timedelta(days=end + 1))),
        )
        for name, start, end in AGE_BANDS
    }
    # Test (UAT) patients are counted apart: in the test view only.
    environment = environment_seen(actor, study=study)
    queries = {
        row["site_id"]: row
        for row in Query.objects.filter(
            study=study, state__in=ACTIVE_STATES, subject__environment=environment
        )
        .order_by()
        .values("site_id")
        .annotate(**bands, answered=Count("pk", filter=Q(state=QueryState.ANSWERED)))
    }
    forms = FormInstance.objects.filter(
        subject__study=study, subject__environment=environment
    ).order_by()
    # Read through the index on (status, subject): the forms in progress, not every form.
    in_progress = dict(
        forms.filter(status="in_progress")
        .values_list("subject__site_id")
        .annotate(count=Count("pk"))
    )
    with_checks = dict(
        Query.objects.filter(
            study=study,
            kind="automatic",
            state__in=ACTIVE_STATES,
            subject__environment=environment,
        )
        .order_by()
        .values_list("site_id")
        .annotate(count=Count("subject_id", distinct=True))
    )
    covered = list(sites.select_related("centre"))
    overdue = overdue_counts(actor, study=study, sites=covered)
    to_review = _to_review_counts(forms, covered)
    found = []
    for site in covered:
        counts = queries.get(site.pk, {})
        found.append(
            SiteWork(
                site=site,
                queries_by_age={name: counts.get(name, 0) for name, _start, _end in AGE_BANDS},
                answered=counts.get("answered", 0),
                forms_in_progress=in_progress.get(site.pk, 0),
                forms_to_review=min(to_review[site.pk], REVIEW_COUNT_LIMIT),
                to_review_more=to_review[site.pk] > REVIEW_COUNT_LIMIT,
                subjects_with_checks=with_checks.get(site.pk, 0),
                overdue_visits=min(overdue.get(site.pk, 0), OVERDUE_COUNT_LIMIT),
                overdue_more=overdue.get(site.pk, 0) > OVERDUE_COUNT_LIMIT,
            )
        )
    return found


def forms_to_review(*, actor: User, study: Study, site: str = "", limit: int = 50) -> list[Any]:
    """Return the forms changed since their last data review (or never reviewed), the most
    recently changed first: where the data manager's review goes next."""
    from django.db.models import F, Q

    if not may(actor, Action.MANAGE_DATA, study=study):
        raise PermissionDenied(_("You may not see this study's workspace."))
    scope = site_scope(actor, Action.MANAGE_DATA, study=study)
    subjects = Subject.objects.filter(study=study, environment=environment_seen(actor, study=study))
    if not scope.all_sites:
        subjects = subjects.filter(site_id__in=scope.site_ids)
    if site:
        subjects = subjects.filter(site__code=site)
    # `subject_id + 0` keeps the database from reading the study's forms subject by subject
    # and sorting them all (150,000 at 10,000 patients): it walks the index on the change
    # time from the most recent and stops at the page's rows. Forms awaiting a review are
    # the recently changed ones, so the walk is short; it reads every form only when none
    # awaits.
    ids = list(
        FormInstance.objects.alias(subject_key=F("subject_id") + 0)
        .filter(subject_key__in=subjects.values("pk"))
        .exclude(status="not_started")
        .filter(Q(data_review__isnull=True) | Q(data_review__version__lt=F("version")))
        .order_by("-updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    return list(
        FormInstance.objects.filter(pk__in=ids)
        .select_related("subject", "subject__site")
        .order_by("-updated_at")
    )


def data_review_of(*, form_instance: FormInstance) -> Any:
    """Return the form's data review mark (read through a scoped form instance), or None."""
    from carnet.quality.models import DataReview

    return DataReview.objects.filter(form_instance=form_instance).first()


def queries_for_server(
    *, study: Study, filters: QueryFilters | None = None
) -> list[dict[str, Any]]:
    """Return a study's queries for the command line (run on the server, every site), rows as
    the lists show them; values through the blinding policy as a blinded person reads them:
    the account running the command holds no role that unblinds."""
    filters = filters or QueryFilters()
    queries = Query.objects.filter(study=study)
    if filters.site:
        queries = queries.filter(site__code=filters.site)
    if filters.state == "active":
        queries = queries.filter(state__in=ACTIVE_STATES)
    elif filters.state:
        queries = queries.filter(state=filters.state)
    if filters.kind:
        queries = queries.filter(kind=filters.kind)
    queries = queries.select_related("site", "subject", "check_result").order_by("opened_at", "pk")
    return _rows(Blinding(unblinded=False), study, list(queries), "en")


def query_export_rows(
    *, actor: User, study: Study, filters: QueryFilters, language: str, chunk: int = 1000
) -> Iterator[dict[str, Any]]:
    """Yield the filtered queries as `query_rows` shows them, a thousand at a time: an export
    of any size keeps its memory flat."""
    ids = list(queries_list(actor=actor, study=study, filters=filters).values_list("pk", flat=True))
    for start in range(0, len(ids), chunk):
        found = queries_list(actor=actor, study=study, filters=filters).filter(
            pk__in=ids[start : start + chunk]
        )
        yield from query_rows(actor=actor, study=study, queries=found, language=language)


def query_settings(*, study: Study) -> Any:
    """Return the study's query options (the defaults where none were set): a study already
    read through the caller's rights; the options reveal no patient."""
    from carnet.quality.automatic import query_settings_of

    return query_settings_of(study)
