"""Reads of the imports asked for on the page: each person sees their own runs."""

from __future__ import annotations

from carnet.accounts.models import User
from carnet.capture.bulk.run_models import ImportRun
from carnet.studies.models import Study


def import_run_of(*, actor: User, study: Study, run_id: int) -> ImportRun | None:
    """Return one of the person's imports into the study; None for anyone else's."""
    return ImportRun.objects.filter(study=study, requested_by=actor, pk=run_id).first()


def import_run_last(*, actor: User, study: Study) -> ImportRun | None:
    """Return the person's latest import into the study, if any."""
    return ImportRun.objects.filter(study=study, requested_by=actor).first()
