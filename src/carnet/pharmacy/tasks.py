"""The pharmacy's periodic job: each day, every kit-mode study's sites are checked and a site
running short gets one resupply proposal to the depot, through the outbox.

Idempotent: a site is proposed at most once a day (the proposals' unique constraint) and not
again while its last proposal is open (no shipment to it since), so a job run twice, or run
again after a worker died, sends nothing twice.
"""

from __future__ import annotations

from datetime import date, timedelta

from django_tasks import task

from carnet.accounts.models import StudySite
from carnet.audit.services import SystemActor
from carnet.pharmacy.plan import pharmacy_plan
from carnet.pharmacy.resupply import resupply_propose
from carnet.studies.models import Study
from carnet.worker.services import register_periodic_job

WORKER = SystemActor(label="carnet worker: pharmacy resupply")


def resupply_check(*, on: date | None = None) -> int:
    """Propose the resupplies due at every site of every kit-mode study today (or ``on``);
    return how many were proposed."""
    proposed = 0
    for study in Study.objects.filter(current_version__isnull=False).select_related(
        "current_version"
    ):
        plan = pharmacy_plan(study)
        if plan is None or not plan.kits:
            continue
        sites = list(StudySite.objects.filter(study=study, activated_on__isnull=False))
        if sites:
            proposed += len(
                resupply_propose(actor=WORKER, study=study, sites=sites, on=on, skip_open=True)
            )
    return proposed


@task()
def resupply_daily() -> int:
    """The worker's daily resupply check (see `resupply_check`)."""
    return resupply_check()


def register() -> None:
    register_periodic_job("pharmacy-resupply", resupply_daily, every=timedelta(days=1))
