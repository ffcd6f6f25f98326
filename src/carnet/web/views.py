"""The front page, the health check and the favicon."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from carnet import __version__
from carnet.accounts.models import User
from carnet.accounts.permissions import may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import my_memberships_in, my_studies, sites_visible
from carnet.accounts.sign_in import (
    lockouts_list,
    recovery_codes_left,
    two_factor_enrolled,
    two_factor_required,
)
from carnet.quality.selectors import site_query_counts
from carnet.studies.selectors import study_has_draft


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def home(request: HttpRequest) -> HttpResponse:
    """Return the front page: for a signed-in person, their studies and what waits for them."""
    if not request.user.is_authenticated:
        return render(request, "web/landing.html")
    user = _user(request)
    studies = []
    tasks: list[tuple[str, str]] = []
    for study in my_studies(user):
        roles = sorted({m.get_role_display() for m in my_memberships_in(user, study)})
        sites = [f"{s.code} {s.centre.code}" for s in sites_visible(user, study=study)]
        version = study.current_version
        # The title in the reader's language, as the study file gives it in both.
        title = version.parsed().title.text(_definition_language()) if version else ""
        studies.append({"study": study, "title": title, "roles": roles, "sites": sites})
        if may(user, Action.MANAGE_STUDY, study=study) and study_has_draft(study):
            tasks.append(
                (
                    _("A draft version of %(study)s awaits publication.")
                    % {"study": study.identifier},
                    reverse("studies:study", args=[study.identifier]),
                )
            )
    tasks.extend(_query_tasks(user))
    if two_factor_required(user) and not two_factor_enrolled(user):
        tasks.append((_("Set up your second sign-in factor."), reverse("accounts:two_factor")))
    elif two_factor_enrolled(user) and recovery_codes_left(user) < 3:
        tasks.append(
            (_("Few recovery codes are left: make new ones."), reverse("accounts:account"))
        )
    if user.is_superuser:
        locked = len(lockouts_list())
        if locked:
            tasks.append(
                (
                    _("%(count)s account(s) locked after failed sign-ins.") % {"count": locked},
                    reverse("accounts:admin_lockouts"),
                )
            )
    return render(request, "web/home.html", {"studies": studies, "tasks": tasks})


def _query_tasks(user: User) -> list[tuple[str, str]]:
    """Return the queries waiting for the person: open ones at the sites that answer them,
    answered ones for those who close them (one grouped count per study)."""
    tasks = []
    for counts in site_query_counts(actor=user):
        study = counts.study
        url = reverse("quality:queries", args=[study.identifier])
        if counts.open and may(user, Action.ANSWER_QUERY, study=study):
            tasks.append(
                (
                    ngettext(
                        "%(count)d open query waits for your site's answer in %(study)s.",
                        "%(count)d open queries wait for your site's answer in %(study)s.",
                        counts.open,
                    )
                    % {"count": counts.open, "study": study.identifier},
                    f"{url}?state=open",
                )
            )
        if counts.answered and may(user, Action.CLOSE_QUERY, study=study):
            tasks.append(
                (
                    ngettext(
                        "%(count)d answered query waits to be closed in %(study)s.",
                        "%(count)d answered queries wait to be closed in %(study)s.",
                        counts.answered,
                    )
                    % {"count": counts.answered, "study": study.identifier},
                    f"{url}?state=answered",
                )
            )
    return tasks


def _definition_language() -> str:
    """Return the language of the page as study files name them: "fr" or "en"."""
    return "fr" if (get_language() or "en").startswith("fr") else "en"


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """Return 200 when the database answers, 503 otherwise (no detail leaks to the caller)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "version": __version__})


def favicon(request: HttpRequest) -> HttpResponse:
    """Send browsers that ask for /favicon.ico to Carnet's icon among the static files.

    Temporary (302), not permanent: in production the static file's name carries its hash,
    and a browser that kept a permanent redirect would ask for last release's file."""
    return HttpResponseRedirect(static("web/favicon.svg"))
