"""Reads of whole-study re-check runs, for the data managers of the study."""

from __future__ import annotations

from carnet.accounts.models import User
from carnet.accounts.permissions import require
from carnet.accounts.roles import Action
from carnet.quality.recheck_models import RecheckRun
from carnet.studies.models import Study


def recheck_runs(*, actor: User, study: Study, limit: int = 5) -> list[RecheckRun]:
    """Return the study's latest re-check runs, newest first (data managers of the study)."""
    require(actor, Action.MANAGE_DATA, study=study)
    return list(RecheckRun.objects.filter(study=study).select_related("requested_by")[:limit])


def recheck_run(*, actor: User, study: Study, run_id: int) -> RecheckRun | None:
    """Return one re-check run of the study, or None when it has no such run."""
    require(actor, Action.MANAGE_DATA, study=study)
    return RecheckRun.objects.filter(study=study, pk=run_id).first()
