"""The worker's part of exports."""

from __future__ import annotations

from django_tasks import task

from carnet.interop.models import ExportRun
from carnet.interop.runs import export_execute


@task()
def export_run(run_id: int) -> dict[str, object]:
    """Make one queued export; return its status and manifest hash (idempotent)."""
    run = export_execute(
        run=ExportRun.objects.select_related("study", "cutoff", "requested_by").get(pk=run_id)
    )
    return {"status": run.status, "manifest": run.manifest_sha256}
