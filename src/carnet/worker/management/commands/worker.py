"""`carnet worker`: run background tasks and periodic jobs; `--status` shows where they stand."""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.crypto import get_random_string

from carnet.core.clock import utc_now
from carnet.worker.runner import Worker
from carnet.worker.selectors import WorkerStatus, worker_status


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "-"


def _every(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def status_lines(status: WorkerStatus) -> list[str]:
    """Return `--status` as lines of text."""
    waiting = status.queued - status.queued_due
    lines = [
        f"Queued: {status.queued} ({status.queued_due} due now, {waiting} waiting for their time)",
        f"Running: {len(status.running)}",
    ]
    lines += [
        f"  {line.name} {line.id} since {_when(line.at)} on worker {line.worker}"
        for line in status.running
    ]
    lines.append(f"Failed in the last 7 days: {status.failed_count}")
    lines += [
        f"  {line.name} {line.id} at {_when(line.at)}: {line.error}" for line in status.failed
    ]
    lines.append("Periodic jobs:")
    lines += [
        f"  {job.name}: every {_every(job.interval_seconds)}, last run {_when(job.last_run_at)}, "
        f"next run {_when(job.next_run_at)}"
        for job in status.jobs
    ] or ["  none yet (a worker creates them when it starts)"]
    alive = [line for line in status.workers if line.alive]
    lines.append(f"Workers running: {len(alive)}")
    lines += [
        f"  {line.worker_id}: pid {line.pid} on {line.host}, last seen {_when(line.last_seen_at)}"
        for line in alive
    ]
    lines += status.others
    return lines


class Command(BaseCommand):
    help = (
        "Run background tasks (e-mail, digests, schedule refreshes) and the periodic jobs, until "
        "stopped with Ctrl-C or SIGTERM (the task under way finishes first)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--status",
            action="store_true",
            help="Show the tasks queued, running and failed, the periodic jobs and the workers, "
            "then exit.",
        )
        parser.add_argument(
            "--once",
            action="store_true",
            help="Enqueue the periodic jobs that are due, run every task due now, then exit "
            "(for cron and tests).",
        )
        parser.add_argument(
            "--requeue-running",
            action="store_true",
            help="Put back in the queue every task marked running before starting, whatever its "
            "worker (use when you know no other worker runs). Without it, only the tasks of "
            "workers that are gone go back.",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=2.0,
            help="Seconds between two looks at an empty queue (default %(default)s).",
        )
        parser.add_argument(
            "--stop-with-parent",
            action="store_true",
            help="Stop when the process that started the worker ends.",
        )
        parser.add_argument(
            "--parent",
            type=int,
            metavar="PID",
            help="Stop when process PID, which started the worker, ends; also when it has ended "
            "before the worker is ready (`carnet serve` gives its own).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["status"]:
            for line in status_lines(worker_status(now=utc_now())):
                self.stdout.write(line)
            return
        if options["interval"] <= 0:
            raise CommandError("--interval must be more than 0 seconds.")
        worker = Worker(
            worker_id=get_random_string(32),
            out=self.stdout,
            interval=options["interval"],
            once=options["once"],
            parent=options["parent"] or (os.getppid() if options["stop_with_parent"] else None),
        )
        worker.run(requeue_running=options["requeue_running"])
