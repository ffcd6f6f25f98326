"""The database lock page of a study: the checklist as it stands (waive an item), the lock's
signatures in turn (sign the next step), the snapshot at lock and the signed unlock. Thin:
selectors decide what the person sees (unknown and forbidden are the same 404), services what
they may do; a refusal is shown on the page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, person_asking, site_scope
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_access, study_for_actor
from carnet.core.errors import CarnetError
from carnet.database_lock import selectors, services
from carnet.database_lock.models import STEPS
from carnet.database_lock.services import step_name
from carnet.randomization.study_unblinding import (
    STUDY_UNBLINDING_MEANING,
    may_unblind_study,
    study_unblinding_of,
)
from carnet.studies.models import Study


def _user(request: HttpRequest) -> User:
    return person_asking(request.user)


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        study = study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if not selectors.may_view(_user(request), study):
        raise Http404("No such page.")
    return study


def _page(study: Study) -> str:
    return reverse("database_lock:page", args=[study.identifier])


def _context(user: User, study: Study) -> dict[str, Any]:
    lock = selectors.current_lock(study)
    step = selectors.next_step(lock) if lock is None or lock.status == "signing" else ""
    signed = selectors.signatures_of(lock) if lock is not None else {}
    states = selectors.checklist_state(study)
    return {
        "study": study,
        "items": states,
        "blocking": any(state.blocking for state in states),
        "lock": lock,
        "steps": [(s, step_name(s), signed.get(s)) for s in STEPS],
        "next_step": step,
        "next_step_name": step_name(step) if step else "",
        "may_sign": bool(step) and selectors.may_sign_step(user, study, step),
        "manage": site_scope(user, Action.MANAGE_DATA, study=study).all_sites,
        "signing": study_access(user, study),
        "lock_meaning": _("I authorise this database lock."),
        "history": [old for old in selectors.locks_of(study) if lock is None or old.pk != lock.pk],
        "unblinding": study_unblinding_of(study),
        # Offered once locked; before, the action would only be refused.
        "may_unblind": lock is not None
        and lock.status == "locked"
        and study.unblinded_at is None
        and may_unblind_study(user, study),
        "unblind_meaning": STUDY_UNBLINDING_MEANING,
        "may_read_archive": selectors.may_read_archive(user, study),
    }


@login_required
@require_GET
def lock_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the study's database lock: checklist, signatures, snapshot, unlock."""
    study = _study(request, identifier)
    return render(request, "database_lock/page.html", _context(_user(request), study))


def _done(request: HttpRequest, study: Study, work: Any, success: str) -> HttpResponse:
    try:
        work()
    except CarnetError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, success)
    return HttpResponseRedirect(_page(study))


@login_required
@require_POST
def waive_action(request: HttpRequest, identifier: str) -> HttpResponse:
    study = _study(request, identifier)
    return _done(
        request,
        study,
        lambda: services.checklist_waive(
            actor=_user(request),
            study=study,
            item=request.POST.get("item", ""),
            reason=request.POST.get("reason", ""),
        ),
        _("The item is waived."),
    )


@login_required
@require_POST
def sign_action(request: HttpRequest, identifier: str) -> HttpResponse:
    study = _study(request, identifier)
    return _done(
        request,
        study,
        lambda: services.database_lock_sign(
            actor=_user(request),
            study=study,
            password=request.POST.get("password", ""),
            totp_code=request.POST.get("totp_code", ""),
            meaning=request.POST.get("meaning", ""),
        ),
        _("Your signature is recorded."),
    )


@login_required
@require_POST
def unlock_action(request: HttpRequest, identifier: str) -> HttpResponse:
    study = _study(request, identifier)
    return _done(
        request,
        study,
        lambda: services.database_lock_unlock(
            actor=_user(request),
            study=study,
            reason=request.POST.get("reason", ""),
            password=request.POST.get("password", ""),
            totp_code=request.POST.get("totp_code", ""),
            meaning=request.POST.get("meaning", ""),
        ),
        _("The database lock is lifted."),
    )


@login_required
@require_POST
def unblind_action(request: HttpRequest, identifier: str) -> HttpResponse:
    study = _study(request, identifier)
    return _done(
        request,
        study,
        lambda: services.database_lock_unblind(
            actor=_user(request),
            study=study,
            reason=request.POST.get("reason", ""),
            password=request.POST.get("password", ""),
            totp_code=request.POST.get("totp_code", ""),
            meaning=request.POST.get("meaning", ""),
        ),
        _("The study is unblinded: its people now see the arms."),
    )


def _archived_lock(request: HttpRequest, identifier: str, number: int) -> Any:
    study = _study(request, identifier)
    if not selectors.may_read_archive(_user(request), study):
        raise Http404("No such page.")
    try:
        return selectors.lock_of(study, number)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


@login_required
@require_GET
def archive_download(
    request: HttpRequest, identifier: str, number: int
) -> HttpResponseRedirect | FileResponse:
    """Return a lock's archived snapshot (the zip), checked against its recorded SHA-256."""
    lock = _archived_lock(request, identifier, number)
    try:
        path = services.archive_path(lock)
    except CarnetError as error:
        messages.error(request, str(error))
        return HttpResponseRedirect(_page(lock.study))
    response = FileResponse(path.open("rb"), as_attachment=True, filename=lock.archive_name)
    response["X-Checksum-SHA256"] = lock.archive_sha256
    return response


@login_required
@require_GET
def archive_checksums(request: HttpRequest, identifier: str, number: int) -> HttpResponse:
    """Return a lock's hashes as `sha256sum -c` reads them."""
    lock = _archived_lock(request, identifier, number)
    response = HttpResponse(services.archive_checksum_text(lock), content_type="text/plain")
    response["Content-Disposition"] = f'attachment; filename="{lock.archive_name}.sha256"'
    return response
