"""Reads of the interop app: a study's cut-offs, for those who may export its data."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import Actor, PermissionDenied
from carnet.core.errors import ValidationError
from carnet.interop.models import Cutoff, ExportRun
from carnet.interop.services import may_export
from carnet.studies.models import Study


def cutoffs_of(actor: Actor, *, study: Study) -> QuerySet[Cutoff]:
    """Return the study's cut-offs, oldest first."""
    may_export(actor, study=study)
    return Cutoff.objects.filter(study=study).order_by("seq", "name")


def cutoff_named(actor: Actor, *, study: Study, name: str) -> Cutoff:
    """Return the study's cut-off named ``name``, or refuse naming the ones there are."""
    found = cutoffs_of(actor, study=study).filter(name=name).first()
    if found is None:
        names = ", ".join(cutoffs_of(actor, study=study).values_list("name", flat=True))
        raise ValidationError(
            _("cutoff: %(study)s has no cut-off named %(name)r (it has: %(names)s).")
            % {"study": study.identifier, "name": name, "names": names or _("none")}
        )
    return found


def export_runs(actor: User, *, study: Study, limit: int = 10) -> list[ExportRun]:
    """Return the exports the actor asked for in the study, newest first."""
    may_export(actor, study=study)
    return list(
        ExportRun.objects.filter(study=study, requested_by=actor).select_related("cutoff")[:limit]
    )


def export_run_of(actor: User, *, study: Study, run_id: int) -> ExportRun:
    """Return one export the actor asked for; refuse anyone else's (it carries its reader's
    blinding and sites)."""
    may_export(actor, study=study)
    run = (
        ExportRun.objects.filter(study=study, requested_by=actor, pk=run_id)
        .select_related("cutoff")
        .first()
    )
    if run is None:
        raise PermissionDenied(
            _("There is no export %(number)s of yours in %(study)s.")
            % {"number": run_id, "study": study.identifier}
        )
    return run
