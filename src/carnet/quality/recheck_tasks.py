"""The worker's part of whole-study re-checks."""

from __future__ import annotations

from django_tasks import task

from carnet.quality.recheck_models import RecheckRun
from carnet.quality.rechecks import recheck_execute


@task()
def recheck_run(run_id: int) -> dict[str, object]:
    """Run one queued whole-study re-check; return its counts (idempotent: a done run stays)."""
    run = recheck_execute(run=RecheckRun.objects.select_related("study").get(pk=run_id))
    return {"status": run.status, "opened": run.outcome.get("opened", 0)}
