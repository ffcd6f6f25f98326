"""The worker's part of the reports: DSMB reports."""

from __future__ import annotations

from django_tasks import task

from carnet.reports.models import ReportRun
from carnet.reports.services import dsmb_execute


@task()
def dsmb_report_run(run_id: int) -> dict[str, object]:
    """Make one queued DSMB report; return its status and the PDF's hash (idempotent)."""
    run = dsmb_execute(
        run=ReportRun.objects.select_related("study", "cutoff", "requested_by").get(pk=run_id)
    )
    return {"status": run.status, "sha256": run.sha256}
