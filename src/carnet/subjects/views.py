"""Subjects pages: list, registration wizard, subject page, screening log, overdue visits and
follow-up campaign.

Thin on purpose: each view finds the study and the subject among those the person may see (an
unknown and a forbidden one are the same 404), calls the selectors and services the API calls,
and shows a refusal next to the field it names. No rule of the domain is decided here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied, may, site_scope
from carnet.accounts.roles import Action
from carnet.accounts.selectors import sites_visible, study_for_actor
from carnet.core.clock import utc_today
from carnet.core.errors import CarnetError
from carnet.studies.definition.model import StudyDefinition
from carnet.studies.models import Study
from carnet.subjects import scheduling, selectors, services
from carnet.subjects.eligibility import (
    CriterionResult,
    criterion_outcome,
    detail_text,
    outcome_text,
)
from carnet.subjects.environments import SESSION_KEY, session_test_view
from carnet.subjects.forms import (
    OFF_TREATMENT_LABELS,
    SEX_LABELS,
    STUDY_STATUS_LABELS,
    TREATMENT_STATUS_LABELS,
    WINDOW_LABELS,
    WITHDRAWAL_SHORT,
    CampaignForm,
    ConsentForm,
    IdentityForm,
    InclusionForm,
    NewsForm,
    ReviewForm,
    ScreeningEntryForm,
    SiteFilterForm,
    StudyStatusForm,
    SubjectFilterForm,
    TransferForm,
    TreatmentStatusForm,
    VisitForm,
    WithdrawalForm,
    label_text,
    language,
    refusal_to_form,
)
from carnet.subjects.models import Subject
from carnet.subjects.overdue_sources import overdue_sections
from carnet.subjects.schedule import Occurrence
from carnet.subjects.services import IneligibleError
from carnet.subjects.statuses import EligibilityReviewStatus, status_reason_text

# --- finding things the person may see ------------------------------------------------------


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _study(request: HttpRequest, identifier: str, action: Action = Action.VIEW_SUBJECTS) -> Study:
    """Return the study when the person may do ``action`` somewhere in it; 404 otherwise."""
    try:
        study = study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if not may(_user(request), action, study=study):
        raise Http404("No such page.")
    return study


def _subject(request: HttpRequest, study: Study, identifier: str) -> Subject:
    try:
        return selectors.subject_for_actor(_user(request), study=study, identifier=identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _definition(study: Study) -> StudyDefinition | None:
    return study.current_version.parsed() if study.current_version else None


def _subject_url(subject: Subject, page: str = "subject") -> str:
    """Return the address of the subject's page, or of another of its pages named ``page``."""
    return reverse(f"subjects:{page}", args=[subject.study.identifier, subject.identifier])


# --- what the templates show ----------------------------------------------------------------


def _event_labels(definition: StudyDefinition | None) -> dict[str, str]:
    if definition is None:
        return {}
    return {event.name: label_text(event.label) for event in definition.events}


def _occurrence(o: Occurrence, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "event": labels.get(o.event, o.event),
        "number": o.number,
        "target": o.target,
        "earliest": o.earliest,
        "latest": o.latest,
        "done_on": o.done_on,
        "status": o.status.value,
        "status_label": WINDOW_LABELS[o.status],
    }


def _subject_row(summary: selectors.SubjectSummary, labels: dict[str, str]) -> dict[str, Any]:
    s = summary.subject
    return {
        "subject": s,
        "study_status": STUDY_STATUS_LABELS.get(s.study_status, s.study_status),
        "treatment_status": TREATMENT_STATUS_LABELS.get(s.treatment_status, s.treatment_status),
        "next_visit": _occurrence(summary.next_visit, labels) if summary.next_visit else None,
        "overdue": len(summary.overdue),
    }


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _controls(
    request: HttpRequest, page: selectors.ListPage[Any], sorts: Iterable[str], sort: str
) -> dict[str, Any]:
    """Return the links of a list's pager and column headers: plain links keeping the filters,
    so they work without JavaScript."""

    def link(**changes: Any) -> str:
        query = request.GET.copy()
        for name, value in changes.items():
            query[name] = str(value)
        return "?" + query.urlencode()

    current, descending = sort.removeprefix("-"), sort.startswith("-")
    headers = {}
    for key in sorts:
        active = key == current
        headers[key] = {
            # A second click on the sorted column reverses it.
            "url": link(sort=f"-{key}" if active and not descending else key, page=1),
            "aria": ("descending" if descending else "ascending") if active else "none",
            "mark": (" ▼" if descending else " ▲") if active else "",
        }
    last = page.pages
    return {
        "page": page,
        "first": link(page=1) if page.number > 2 else None,
        "previous": link(page=page.number - 1) if page.has_previous else None,
        "next": link(page=page.number + 1) if page.has_next else None,
        "last": link(page=last) if page.number < last - 1 else None,
        "sort": headers,
    }


def _criterion(c: dict[str, Any], definition: StudyDefinition | None) -> dict[str, Any]:
    """Return a criterion as a page shows it: what its result means, in the person's words."""
    label = c["label"]
    outcome = criterion_outcome(c["kind"], c["met"], c["detail"])
    return {
        "name": c["name"],
        "kind": _("inclusion") if c["kind"] == "inclusion" else _("exclusion"),
        "label": (label["fr"] or label["en"])
        if language() == "fr"
        else (label["en"] or label["fr"]),
        "met": c["met"],
        "outcome": outcome,
        "outcome_text": outcome_text(outcome),
        "detail": detail_text(c["detail"], definition),
    }


def _criteria(
    results: Iterable[CriterionResult], definition: StudyDefinition | None
) -> list[dict[str, Any]]:
    return [_criterion(result.as_json(), definition) for result in results]


def _stored_criteria(subject: Subject, definition: StudyDefinition | None) -> list[dict[str, Any]]:
    return [_criterion(c, definition) for c in subject.eligibility.get("criteria", [])]


# --- subject list ---------------------------------------------------------------------------


@login_required
@require_GET
def subject_list_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return one page of the subjects the person may see: filtered by site, statuses, overdue
    visits and a search, sorted by any column."""
    study = _study(request, identifier)
    user = _user(request)
    scheduling.schedule_rebuild(study=study, wrong_only=True)
    form = SubjectFilterForm(request.GET or None, sites=sites_visible(user, study=study))
    rows: list[dict[str, Any]] = []
    status = 200
    sort = request.GET.get("sort", "identifier")
    found = selectors.ListPage[selectors.SubjectSummary]([], 0, 1, selectors.PER_PAGE)
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if form.is_bound else {}
        found = selectors.subject_list(
            user,
            study=study,
            site=data.get("site") or None,
            study_status=data.get("study_status") or None,
            treatment_status=data.get("treatment_status") or None,
            overdue=True if data.get("overdue") else None,
            search=data.get("q") or "",
            sort=sort,
            page=_page_number(request),
        )
        labels = _event_labels(_definition(study))
        rows = [_subject_row(summary, labels) for summary in found]
    return render(
        request,
        "subjects/subject_list.html",
        {
            "study": study,
            "form": form,
            "rows": rows,
            "list": _controls(request, found, selectors.SUBJECT_ORDERS, sort),
            "may_include": may(user, Action.INCLUDE_SUBJECT, study=study),
        },
        status=status,
    )


# --- registration wizard --------------------------------------------------------------------


def _inclusion_form(
    request: HttpRequest, study: Study, data: Any = None, initial: dict[str, Any] | None = None
) -> InclusionForm:
    return InclusionForm(
        data,
        initial=initial,
        sites=sites_visible(_user(request), study=study, action=Action.INCLUDE_SUBJECT),
        definition=_definition(study),
        items=selectors.eligibility_questions(study),
    )


def _only_what_eligibility_needs(form: InclusionForm) -> None:
    """Keep the errors that matter to a check of eligibility: the items and the date."""
    needed = {
        "included_on",
        *form.answering_fields,
        *(field.name for field in form.item_fields()),
    }
    for name in [name for name in form.errors if name not in needed]:
        del form.errors[name]


@login_required
@require_http_methods(["GET", "POST"])
def subject_new_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Register a patient: check eligibility (writes nothing), then include."""
    study = _study(request, identifier, Action.INCLUDE_SUBJECT)
    user = _user(request)
    criteria: list[dict[str, Any]] | None = None
    eligible: bool | None = None
    status = 200
    if request.method == "GET":
        sites = list(sites_visible(user, study=study, action=Action.INCLUDE_SUBJECT))
        today = services.site_today(sites[0]) if sites else utc_today()
        form = _inclusion_form(
            request, study, initial={"included_on": today, "consented_on": today}
        )
    else:
        form = _inclusion_form(request, study, request.POST)
        step = request.POST.get("step", "check")
        if step != "include":
            _only_what_eligibility_needs(form)
        if form.errors:
            status = 400
        elif step == "include":
            try:
                site = selectors.site_by_code(
                    user, study=study, code=form.cleaned_data["site"], action=Action.INCLUDE_SUBJECT
                )
                subject = services.subject_include(
                    actor=user,
                    study=study,
                    site=site,
                    included_on=form.cleaned_data["included_on"],
                    eligibility=form.eligibility_values(),
                    consent=services.ConsentGiven(
                        form_version=form.cleaned_data["consent_version"],
                        consented_on=form.cleaned_data["consented_on"],
                        biobank=form.cleaned_data["biobank"],
                        future_research=form.cleaned_data["future_research"],
                        genetic_analysis=form.cleaned_data["genetic_analysis"],
                        sharing=form.cleaned_data["sharing"],
                    ),
                    sex=form.cleaned_data["sex"],
                    age=form.cleaned_data["age"],
                    screening_number=form.cleaned_data["screening_number"],
                )
            except IneligibleError as error:
                criteria, eligible, status = _criteria(error.failed, form.definition), False, 400
                form.add_error(None, _("Not included: the patient is not eligible."))
            except CarnetError as error:
                form.refuse(error)
                status = 400
            else:
                if subject.eligibility_review == EligibilityReviewStatus.PENDING:
                    text = _(
                        "%(subject)s is registered; the central eligibility review must "
                        "approve before anything else is entered."
                    )
                else:
                    text = _("%(subject)s is included.")
                messages.success(request, text % {"subject": subject.identifier})
                return HttpResponseRedirect(_subject_url(subject))
        else:
            try:
                results = selectors.eligibility_evaluate(
                    user,
                    study=study,
                    values=form.eligibility_values(),
                    on=form.cleaned_data["included_on"],
                )
            except CarnetError as error:
                form.refuse(error)
                status = 400
            else:
                criteria = _criteria(results, form.definition)
                eligible = all(r.met for r in results)
    context = {"study": study, "form": form, "criteria": criteria, "eligible": eligible}
    if getattr(request, "htmx", False) and request.POST.get("step") == "check":
        # The "check eligibility" button asks for the result panel only.
        return render(request, "subjects/eligibility_result.html", context)
    return render(request, "subjects/subject_new.html", context, status=status)


# --- one subject ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Abilities:
    review: bool
    consent: bool
    status: bool
    enter: bool
    transfer: bool
    identity: bool


def _abilities(user: User, subject: Subject) -> _Abilities:
    study, site = subject.study, subject.site
    scope = site_scope(user, Action.VIEW_IDENTITY, study=study)
    return _Abilities(
        review=subject.eligibility_review == EligibilityReviewStatus.PENDING
        and may(user, Action.REVIEW_ELIGIBILITY, study=study, site=site),
        consent=may(user, Action.RECORD_CONSENT, study=study, site=site),
        status=may(user, Action.CHANGE_STATUS, study=study, site=site),
        enter=may(user, Action.ENTER_DATA, study=study, site=site),
        transfer=may(user, Action.TRANSFER_SUBJECT, study=study, site=site),
        # Only the subject's own site, never a central role (the service says the same).
        identity=services.subject_settings(study).identity_vault
        and not scope.all_sites
        and scope.allows(site),
    )


def _transfer_sites(user: User, subject: Subject) -> list[StudySite]:
    """Return the other sites the person may move the subject to."""
    sites = sites_visible(user, study=subject.study, action=Action.TRANSFER_SUBJECT)
    return [site for site in sites if site.pk != subject.site_id]


def _action_forms(user: User, subject: Subject) -> dict[str, forms.Form]:
    definition = _definition(subject.study)
    return {
        "review": ReviewForm(),
        "consent": ConsentForm(),
        "withdrawal": WithdrawalForm(),
        "study_status": StudyStatusForm(current=subject.study_status),
        "treatment_status": TreatmentStatusForm(current=subject.treatment_status),
        "visit": VisitForm(definition=definition),
        "news": NewsForm(),
        "transfer": TransferForm(sites=_transfer_sites(user, subject)),
    }


def _subject_page(
    request: HttpRequest,
    subject: Subject,
    *,
    bound: dict[str, forms.Form] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    definition = _definition(subject.study)
    labels = _event_labels(definition)
    summary = selectors.subject_summary(subject)
    occurrences = selectors.subject_occurrences(subject, definition=definition)
    abilities = _abilities(user, subject)
    action_forms = {**_action_forms(user, subject), **(bound or {})}
    record = selectors.subject_record(subject)
    return render(
        request,
        "subjects/subject.html",
        {
            "study": subject.study,
            "subject": subject,
            "row": _subject_row(summary, labels),
            "sex": SEX_LABELS.get(subject.sex, subject.sex),
            "off_treatment_reason": OFF_TREATMENT_LABELS.get(subject.off_treatment_reason, ""),
            "review_pending": subject.eligibility_review == EligibilityReviewStatus.PENDING,
            "schedule": [_occurrence(o, labels) for o in occurrences],
            "consents": record.consents,
            "withdrawals": [
                {
                    "kind": WITHDRAWAL_SHORT.get(w.kind, w.kind),
                    "on": w.withdrawn_on,
                    "reason": w.reason,
                }
                for w in record.withdrawals
            ],
            "history": [
                {
                    "track": _("study") if c.track == "study" else _("treatment"),
                    "new": STUDY_STATUS_LABELS.get(c.new)
                    or TREATMENT_STATUS_LABELS.get(c.new, c.new),
                    "on": c.on,
                    "reason": status_reason_text(c.reason),
                }
                for c in record.status_changes
            ],
            "criteria": _stored_criteria(subject, definition),
            "can": abilities,
            "forms": action_forms,
            "transfer_sites": bool(action_forms["transfer"].fields["site"].choices),  # type: ignore[attr-defined]
        },
        status=status,
    )


@login_required
@require_GET
def subject_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Return a subject's header, consents, schedule and the actions the person may take."""
    study = _study(request, identifier)
    return _subject_page(request, _subject(request, study, subject))


Act = Callable[[User, Subject, dict[str, Any]], object]
FormFor = Callable[[Subject, Any], forms.Form]


def _act(
    request: HttpRequest,
    identifier: str,
    subject: str,
    *,
    name: str,
    form_for: FormFor,
    act: Act,
    done: str,
    aliases: dict[str, str] | None = None,
) -> HttpResponse:
    """Run one action of the subject page: bind its form, call the service, show the outcome."""
    study = _study(request, identifier)
    user = _user(request)
    found = _subject(request, study, subject)
    form = form_for(found, request.POST)
    if form.is_valid():
        try:
            act(user, found, form.cleaned_data)
        except PermissionDenied as error:
            form.add_error(None, str(error))
            return _subject_page(request, found, bound={name: form}, status=403)
        except CarnetError as error:
            refusal_to_form(form, error, aliases)
        else:
            messages.success(request, done)
            return HttpResponseRedirect(_subject_url(found))
    return _subject_page(request, found, bound={name: form}, status=400)


@login_required
@require_POST
def review_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Record the central eligibility review: approve or reject, a comment, a document."""
    study = _study(request, identifier)
    user = _user(request)
    found = _subject(request, study, subject)
    form = ReviewForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["document"]
        try:
            services.eligibility_review_decide(
                actor=user,
                subject=found,
                approved=form.cleaned_data["decision"] == "approve",
                comment=form.cleaned_data["comment"],
                document_name=upload.name if upload else "",
                # One byte more than allowed is enough for the service to refuse it.
                document=upload.read(services.DOCUMENT_MAX_BYTES + 1) if upload else None,
            )
        except PermissionDenied as error:
            form.add_error(None, str(error))
            return _subject_page(request, found, bound={"review": form}, status=403)
        except CarnetError as error:
            refusal_to_form(form, error, None)
        else:
            messages.success(request, _("The eligibility review is recorded."))
            return HttpResponseRedirect(_subject_url(found))
    return _subject_page(request, found, bound={"review": form}, status=400)


@login_required
@require_POST
def consent_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    return _act(
        request,
        identifier,
        subject,
        name="consent",
        form_for=lambda found, data: ConsentForm(data),
        act=lambda user, found, data: services.consent_record(actor=user, subject=found, **data),
        done=_("The consent is recorded."),
    )


@login_required
@require_POST
def withdrawal_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    return _act(
        request,
        identifier,
        subject,
        name="withdrawal",
        form_for=lambda found, data: WithdrawalForm(data),
        act=lambda user, found, data: services.consent_withdraw(actor=user, subject=found, **data),
        done=_("The withdrawal is recorded."),
    )


@login_required
@require_POST
def study_status_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    return _act(
        request,
        identifier,
        subject,
        name="study_status",
        form_for=lambda found, data: StudyStatusForm(data, current=found.study_status),
        act=lambda user, found, data: services.subject_change_status(
            actor=user, subject=found, **data
        ),
        done=_("The study status is changed."),
    )


@login_required
@require_POST
def treatment_status_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    return _act(
        request,
        identifier,
        subject,
        name="treatment_status",
        form_for=lambda found, data: TreatmentStatusForm(data, current=found.treatment_status),
        act=lambda user, found, data: services.subject_change_treatment(
            actor=user, subject=found, **data
        ),
        done=_("The treatment status is changed."),
        aliases=TreatmentStatusForm.ALIASES,
    )


@login_required
@require_POST
def visit_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    return _act(
        request,
        identifier,
        subject,
        name="visit",
        form_for=lambda found, data: VisitForm(data, definition=_definition(found.study)),
        act=lambda user, found, data: services.visit_record(actor=user, subject=found, **data),
        done=_("The visit date is recorded."),
    )


@login_required
@require_POST
def news_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    return _act(
        request,
        identifier,
        subject,
        name="news",
        form_for=lambda found, data: NewsForm(data),
        act=lambda user, found, data: services.news_record(actor=user, subject=found, **data),
        done=_("The news is recorded."),
    )


@login_required
@require_POST
def transfer_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    def transfer(actor: User, found: Subject, data: dict[str, Any]) -> object:
        to_site = selectors.site_by_code(
            actor, study=found.study, code=data["site"], action=Action.TRANSFER_SUBJECT
        )
        return services.subject_transfer(
            actor=actor, subject=found, to_site=to_site, on=data["on"], reason=data["reason"]
        )

    return _act(
        request,
        identifier,
        subject,
        name="transfer",
        form_for=lambda found, data: TransferForm(
            data, sites=_transfer_sites(_user(request), found)
        ),
        act=transfer,
        done=_("The subject is transferred."),
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def identity_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Show (audited) and store the subject's identity: their own site only, vault on only."""
    study = _study(request, identifier)
    user = _user(request)
    found = _subject(request, study, subject)
    if not _abilities(user, found).identity:
        raise Http404("No such page.")
    status = 200
    form = IdentityForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.identity_set(actor=user, subject=found, values=form.cleaned_data)
            except CarnetError as error:
                refusal_to_form(form, error)
            else:
                messages.success(request, _("The identity is stored, encrypted."))
                return HttpResponseRedirect(_subject_url(found, "identity"))
        status = 400
    values = services.identity_reveal(actor=user, subject=found) or {}
    if not form.is_bound:
        form = IdentityForm(initial=values)
    return render(
        request,
        "subjects/identity.html",
        {"study": study, "subject": found, "form": form, "values": values},
        status=status,
    )


# --- lists across subjects ------------------------------------------------------------------


def _screening_sites(user: User, study: Study) -> list[StudySite]:
    return list(sites_visible(user, study=study, action=Action.INCLUDE_SUBJECT))


@login_required
@require_http_methods(["GET", "POST"])
def screening_log_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the screening log of the sites the person may see; add a line to it."""
    study = _study(request, identifier)
    user = _user(request)
    sites = _screening_sites(user, study)
    status = 200
    if request.method == "POST":
        form = ScreeningEntryForm(request.POST, sites=sites)
        if not sites:
            raise Http404("No such page.")
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                site = selectors.site_by_code(
                    user, study=study, code=data.pop("site"), action=Action.INCLUDE_SUBJECT
                )
                services.screening_entry_add(actor=user, study=study, site=site, **data)
            except CarnetError as error:
                refusal_to_form(form, error)
            else:
                messages.success(request, _("The line is added to the screening log."))
                return HttpResponseRedirect(
                    reverse("subjects:screening_log", args=[study.identifier])
                )
        status = 400
    else:
        today = services.site_today(sites[0]) if sites else utc_today()
        form = ScreeningEntryForm(sites=sites, initial={"screened_on": today})
    search = SiteFilterForm(request.GET or None, sites=sites_visible(user, study=study))
    chosen = search.cleaned_data if search.is_bound and search.is_valid() else {}
    sort = request.GET.get("sort", "site")
    found = selectors.screening_log(
        user,
        study=study,
        site=chosen.get("site") or None,
        search=chosen.get("q") or "",
        sort=sort,
        page=_page_number(request),
        per_page=selectors.PER_PAGE,
    )
    entries = [{"entry": entry, "sex": SEX_LABELS.get(entry.sex, entry.sex)} for entry in found]
    return render(
        request,
        "subjects/screening_log.html",
        {
            "study": study,
            "form": form if sites else None,
            "search": search,
            "entries": entries,
            "list": _controls(request, found, selectors.SCREENING_ORDERS, sort),
        },
        status=status if not search.errors else 400,
    )


def _by_site(rows: list[dict[str, Any]]) -> list[tuple[StudySite, list[dict[str, Any]]]]:
    groups: dict[int, tuple[StudySite, list[dict[str, Any]]]] = {}
    for row in rows:
        site = row["site"]
        groups.setdefault(site.pk, (site, []))[1].append(row)
    return list(groups.values())


@login_required
@require_GET
def overdue_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the overdue visits of followed subjects, the longest overdue first (or as sorted),
    shown by site."""
    study = _study(request, identifier)
    user = _user(request)
    scheduling.schedule_rebuild(study=study, wrong_only=True)
    form = SiteFilterForm(request.GET or None, sites=sites_visible(user, study=study))
    chosen = form.cleaned_data if form.is_bound and form.is_valid() else {}
    labels = _event_labels(_definition(study))
    sort = request.GET.get("sort", "days")
    found = selectors.overdue_list(
        user,
        study=study,
        site=chosen.get("site") or None,
        search=chosen.get("q") or "",
        sort=sort,
        page=_page_number(request),
        per_page=selectors.PER_PAGE,
    )
    rows = [
        {
            "site": row.subject.site,
            "subject": row.subject,
            "visit": _occurrence(row.occurrence, labels),
            "days": row.days_overdue,
        }
        for row in found
    ]
    return render(
        request,
        "subjects/overdue.html",
        {
            "study": study,
            "form": form,
            "groups": _by_site(rows),
            "list": _controls(request, found, selectors.OVERDUE_ORDERS, sort),
            # What else is late (missing samples…): other apps' sections, counted in SQL.
            "sections": overdue_sections(user, study, site=chosen.get("site") or None),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def follow_up_campaign_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the followed subjects without news for more than N months before a date."""
    study = _study(request, identifier)
    user = _user(request)
    sites = sites_visible(user, study=study)
    data = request.GET if "months" in request.GET else None
    form = CampaignForm(data, sites=sites, initial={"months": 6, "on": utc_today()})
    months, on, site, search = 6, utc_today(), None, ""
    status = 200
    if form.is_bound:
        if form.is_valid():
            months, on = form.cleaned_data["months"], form.cleaned_data["on"]
            site = form.cleaned_data["site"] or None
            search = form.cleaned_data["q"] or ""
        else:
            status = 400
    rows: list[dict[str, Any]] = []
    sort = request.GET.get("sort", "site")
    subjects = selectors.ListPage[Subject]([], 0, 1, selectors.PER_PAGE)
    if status == 200:
        try:
            subjects = selectors.follow_up_campaign(
                user,
                study=study,
                months=months,
                on=on,
                site=site,
                search=search,
                sort=sort,
                page=_page_number(request),
                per_page=selectors.PER_PAGE,
            )
        except CarnetError as error:
            refusal_to_form(form, error)
            status = 400
        else:
            rows = [
                {
                    "site": s.site,
                    "subject": s,
                    "status": STUDY_STATUS_LABELS.get(s.study_status, s.study_status),
                }
                for s in subjects
            ]
    return render(
        request,
        "subjects/follow_up_campaign.html",
        {
            "study": study,
            "form": form,
            "groups": _by_site(rows),
            "months": months,
            "on": on,
            "cutoff": selectors.months_before(on, months),
            "list": _controls(request, subjects, selectors.CAMPAIGN_ORDERS, sort),
        },
        status=status,
    )


@login_required
@require_POST
def test_view_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Turn the test view of a study on or off for this session, then go back where one was."""
    study = _study(request, identifier)
    studies = set(session_test_view(request.session.get(SESSION_KEY)))
    if request.POST.get("on") == "1":
        studies.add(study.identifier)
    else:
        studies.discard(study.identifier)
    request.session[SESSION_KEY] = sorted(studies)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("studies:study", args=[identifier])
    return HttpResponseRedirect(back)
