"""The whole-study re-check page: a button for data managers, and the run's progress bar."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.quality.recheck_models import RecheckStatus
from carnet.quality.recheck_selectors import recheck_run, recheck_runs
from carnet.quality.rechecks import recheck_request
from carnet.studies.models import Study

FINISHED = (RecheckStatus.DONE, RecheckStatus.FAILED)


def _study(request: HttpRequest, identifier: str) -> tuple[User, Study]:
    """Return the person and the study when they manage its data; 404 otherwise, as for a
    study they may not see."""
    user = request.user
    assert isinstance(user, User)
    try:
        study = study_for_actor(user, identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    # A re-check opens and closes queries at every site: a data manager of the whole study.
    if not site_scope(user, Action.MANAGE_DATA, study=study).all_sites:
        raise Http404("No such page.")
    return user, study


@login_required
@require_http_methods(["GET", "POST"])
def rechecks_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the latest re-check of the study; a POST queues a new one (data managers)."""
    user, study = _study(request, identifier)
    if request.method == "POST":
        recheck_request(actor=user, study=study, reason=request.POST.get("reason", "")[:500])
        return redirect("quality:rechecks", identifier=study.identifier)
    runs = recheck_runs(actor=user, study=study)
    last_run = runs[0] if runs else None
    return render(
        request,
        "quality/rechecks.html",
        {
            "study": study,
            "last_run": last_run,
            "last_run_finished": last_run is not None and last_run.status in FINISHED,
        },
    )


@login_required
@require_GET
def recheck_progress(request: HttpRequest, identifier: str, run_id: int) -> HttpResponse:
    """Return a run's progress bar (the page asks again every second until it is done)."""
    user, study = _study(request, identifier)
    run = recheck_run(actor=user, study=study, run_id=run_id)
    if run is None:
        raise Http404
    finished = run.status in FINISHED
    return render(
        request,
        "quality/_recheck_progress.html",
        {"study": study, "run": run, "finished": finished},
    )
