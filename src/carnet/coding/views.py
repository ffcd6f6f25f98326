"""Coding pages: the installation's dictionary versions (an administrator loads one), the
coder's queue of a study (with its targets and dictionary versions), a
term's page (search the dictionary, choose, comment, or raise a coder query to the site) and
recoding against another version (the impact listed before anything changes). Thin: selectors
decide what the person sees (unknown and forbidden are the same 404), services what they do."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may, person_asking
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.coding import selectors, services
from carnet.coding.models import CodedTerm, DictionaryKind, TermStatus
from carnet.coding.uploads import UploadedDictionaryFile, dictionary_upload
from carnet.core.errors import CarnetError
from carnet.studies.models import Study


def _user(request: HttpRequest) -> User:
    return person_asking(request.user)


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        study = study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if not may(_user(request), Action.VIEW_SUBJECTS, study=study):
        raise Http404("No such page.")
    return study


def _term(request: HttpRequest, study: Study, pk: int) -> CodedTerm:
    return selectors.term_for_actor(_user(request), study, pk)


@login_required
@require_http_methods(["GET"])
def queue_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """The coder's queue: the terms waiting (or of a status), the targets, the versions."""
    study = _study(request, identifier)
    user = _user(request)
    status = request.GET.get("status", "pending")
    if status not in {"pending", "all", *TermStatus.values}:
        status = "pending"
    terms = selectors.terms_for_actor(user, study, status="" if status == "all" else status)
    return render(
        request,
        "coding/queue.html",
        {
            "study": study,
            "terms": terms[:500],
            "status": status,
            "statuses": ["pending", "all", *TermStatus.values],
            "counts": selectors.status_counts(user, study),
            "targets": selectors.targets_of(study),
            "dictionaries": selectors.dictionaries_list(),
            "coder": may(user, Action.CODE_TERMS, study=study),
        },
    )


@login_required
@require_http_methods(["GET"])
def term_page(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    """A term: its coding and history, the dictionary search, the coder's choice and query."""
    study = _study(request, identifier)
    term = _term(request, study, pk)
    q = request.GET.get("q", term.verbatim if term.status == TermStatus.UNCODED else "")
    return render(
        request,
        "coding/term.html",
        {
            "study": study,
            "term": term,
            "q": q,
            "results": selectors.dictionary_search(term.target.dictionary, q) if q else [],
            "meddra": term.target.dictionary.kind == "meddra",
            "decisions": selectors.decisions_of(term),
            "coder": may(_user(request), Action.CODE_TERMS, study=study),
            "problem": request.GET.get("problem", ""),
        },
    )


def _back(study: Study, term: CodedTerm, problem: str = "") -> HttpResponseRedirect:
    url = reverse("coding:term", args=[study.identifier, term.pk])
    if problem:
        from urllib.parse import urlencode

        url += "?" + urlencode({"problem": problem})
    return HttpResponseRedirect(url)


@login_required
@require_POST
def code_action(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    study = _study(request, identifier)
    term = _term(request, study, pk)
    try:
        services.term_code(
            actor=_user(request),
            term=term,
            code=request.POST.get("code", ""),
            comment=request.POST.get("comment", ""),
        )
    except CarnetError as error:
        return _back(study, term, str(error))
    return _back(study, term)


@login_required
@require_POST
def query_action(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    study = _study(request, identifier)
    term = _term(request, study, pk)
    try:
        services.term_query(actor=_user(request), term=term, text=request.POST.get("text", ""))
    except CarnetError as error:
        return _back(study, term, str(error))
    return _back(study, term)


@login_required
@require_http_methods(["GET", "POST"])
def recode_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Choose a coded item and a version: the impact first; applied on POST with a reason."""
    study = _study(request, identifier)
    user = _user(request)
    if not may(user, Action.CODE_TERMS, study=study):
        raise Http404("No such page.")
    data = request.POST if request.method == "POST" else request.GET
    targets = list(selectors.targets_of(study))
    target = next((t for t in targets if str(t.pk) == data.get("target", "")), None)
    versions = selectors.dictionaries_list(target.dictionary.kind) if target else []
    dictionary = next((d for d in versions if str(d.pk) == data.get("version", "")), None)
    impact, problem, done = None, "", False
    if target is not None and dictionary is not None:
        try:
            if request.method == "POST":
                impact = services.recode_apply(
                    actor=user, target=target, dictionary=dictionary, reason=data.get("reason", "")
                )
                done = True
            else:
                impact = services.recode_impact(actor=user, target=target, dictionary=dictionary)
        except CarnetError as error:
            problem = str(error)
            impact = services.recode_impact(actor=user, target=target, dictionary=dictionary)
    return render(
        request,
        "coding/recode.html",
        {
            "study": study,
            "targets": targets,
            "target": target,
            "versions": versions,
            "dictionary": dictionary,
            "impact": impact,
            "problem": problem,
            "done": done,
        },
        status=400 if problem else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def dictionaries_page(request: HttpRequest) -> HttpResponse:
    """The installation's dictionary versions; an administrator loads one from its files or a
    zip (all or nothing; a malformed line named with its file and line)."""
    user = _user(request)
    if not user.is_superuser:
        raise Http404("No such page.")
    problem, loaded = "", None
    if request.method == "POST":
        try:
            loaded = dictionary_upload(
                actor=user,
                kind=request.POST.get("kind", ""),
                version=request.POST.get("version", ""),
                files=[
                    UploadedDictionaryFile(f.name or "", f.read())
                    for f in request.FILES.getlist("files")
                ],
            )
        except CarnetError as error:
            problem = str(error)
    return render(
        request,
        "coding/dictionaries.html",
        {
            "dictionaries": selectors.dictionaries_list(),
            "kinds": DictionaryKind.choices,
            "loaded": loaded,
            "problem": problem,
            "posted": request.POST if problem else {},
        },
        status=400 if problem else 200,
    )
