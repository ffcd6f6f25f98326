"""The quality app's periodic job: the daily digest of open queries to the sites that want it."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from carnet.quality.notifications import digests_send
from carnet.worker.services import register_periodic_job


@task()
def queries_digest() -> int:
    """Write today's digest of open queries to each site of the studies that want one."""
    return digests_send()


def register() -> None:
    register_periodic_job("queries-digest", queries_digest, every=timedelta(days=1))
