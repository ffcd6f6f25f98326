"""Reads for the documents of the trial master file: study versions of a CRF, site archives."""

from __future__ import annotations

from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite
from carnet.accounts.permissions import Actor, PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.audit.services import SystemActor
from carnet.core.errors import ValidationError
from carnet.interop.casebook_services import casebook_archive_allowed
from carnet.interop.documents_models import CasebookArchive
from carnet.studies.models import Study, StudyVersion, VersionStatus


def crf_version(study: Study, number: int | None = None) -> StudyVersion:
    """Return the published study version ``number`` (the current one by default)."""
    if number is None:
        if study.current_version is None:
            raise ValidationError(
                _("%(study)s has no published version: there is no CRF yet.")
                % {"study": study.identifier}
            )
        return study.current_version
    found = (
        StudyVersion.objects.filter(study=study, number=number)
        .exclude(status=VersionStatus.DRAFT)
        .first()
    )
    if found is None:
        raise ValidationError(
            _("version: %(study)s has no published version %(number)s.")
            % {"study": study.identifier, "number": number}
        )
    return found


def study_site(study: Study, code: str) -> StudySite:
    """Return the study's site with that code, or refuse naming the codes there are."""
    found = StudySite.objects.filter(study=study, code=code).select_related("centre").first()
    if found is None:
        codes = ", ".join(StudySite.objects.filter(study=study).values_list("code", flat=True))
        raise ValidationError(
            _("site: %(study)s has no site %(code)r (it has: %(codes)s).")
            % {"study": study.identifier, "code": code, "codes": codes}
        )
    return found


def archive_runs(
    actor: Actor, *, study: Study, site: StudySite, limit: int = 5
) -> list[CasebookArchive]:
    """Return the site's latest casebook archives, newest first, for who may make them."""
    casebook_archive_allowed(actor, study=study, site=site)
    return list(CasebookArchive.objects.filter(study=study, site=site)[:limit])


def archive_run(actor: Actor, *, study: Study, run_id: int) -> CasebookArchive | None:
    """Return one casebook archive of the study, if the actor may take its site's archives."""
    run = CasebookArchive.objects.filter(study=study, pk=run_id).select_related("site").first()
    if run is not None:
        casebook_archive_allowed(actor, study=study, site=run.site)
    return run


def archive_runs_visible(actor: Actor, *, study: Study) -> list[CasebookArchive]:
    """Return the latest casebook archives of every site whose subjects the actor may see;
    refuse someone who sees the subjects of no site."""
    if isinstance(actor, SystemActor):
        return list(CasebookArchive.objects.filter(study=study).select_related("site")[:50])
    scope = site_scope(actor, Action.VIEW_SUBJECTS, study=study)
    if scope.empty:
        raise PermissionDenied(
            _("You may not do this here (%(action)s).") % {"action": Action.VIEW_SUBJECTS.value}
        )
    runs = CasebookArchive.objects.filter(study=study).select_related("site")
    if not scope.all_sites:
        runs = runs.filter(site_id__in=scope.site_ids)
    return list(runs[:50])
