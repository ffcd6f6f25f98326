"""The worker's part of the documents for the trial master file: a site's casebook archive."""

from __future__ import annotations

from django_tasks import task

from carnet.interop.casebook_services import casebook_archive_execute
from carnet.interop.documents_models import CasebookArchive


@task()
def casebook_archive_run(run_id: int) -> dict[str, object]:
    """Make one queued site archive; return its status (idempotent: a done run stays)."""
    run = casebook_archive_execute(
        run=CasebookArchive.objects.select_related("study", "site", "requested_by").get(pk=run_id)
    )
    return {"status": run.status, "subjects": run.subjects_done}
