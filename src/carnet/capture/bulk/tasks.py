"""The worker's part of imports asked for on the page."""

from __future__ import annotations

from django_tasks import task

from carnet.capture.bulk.run_models import ImportRun
from carnet.capture.bulk.runs import import_run_execute


@task()
def import_run_task(run_id: int) -> dict[str, object]:
    """Run one queued import; return its status and counts (a finished run stays as it is)."""
    run = import_run_execute(
        run=ImportRun.objects.select_related("study", "requested_by").get(pk=run_id)
    )
    return {"status": run.status, "values_changed": run.outcome.get("values_changed", 0)}
