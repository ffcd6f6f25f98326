"""Imports asked for on the page: queued with their files, run by the worker, followed on the
page by a progress bar.

A page request is stopped after a minute (`carnet serve --timeout`); importing a large export
takes longer. The page therefore only queues the import: the worker runs it through the same
`files_import` as the command line and the API, all or nothing, and tells how far it is.

The import runs in one transaction, which on SQLite holds the database's only write lock until
it ends: its progress cannot be written to the database meanwhile. The worker writes it to a
small file of the data directory instead (the directory uploaded documents live in, shared by
the web and worker processes), which the page reads while the run is running.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.capture.bulk.csv_files import files_import, read_limited
from carnet.capture.bulk.engine import ImportOutcome, ImportRefused, Problem, import_allowed
from carnet.capture.bulk.run_models import ImportRun, ImportRunFile, ImportStatus
from carnet.core.clock import utc_now
from carnet.core.errors import CarnetError, ValidationError
from carnet.studies.models import Study

# The problems a run keeps to show: the first thousand (a file with more has a systematic fault
# that the first ones name); all of them are counted.
PROBLEMS_KEPT = 1_000
FINISHED = (ImportStatus.DONE, ImportStatus.REFUSED, ImportStatus.FAILED)


def import_run_request(
    *,
    actor: User,
    study: Study,
    files: Sequence[tuple[str, IO[bytes]]],
    reason: str,
    dry_run: bool,
) -> ImportRun:
    """Queue an import (or a dry run) of CSV files for the worker; return its run.

    What can be refused at once is: no file, no reason (a dry run too, as `files_import` asks),
    a file past the size limit, someone who may not import into the study."""
    from carnet.capture.bulk.tasks import import_run_task
    from carnet.worker.services import enqueue_after_commit

    if not import_allowed(actor, study):
        raise PermissionDenied(
            _("You may not import data into %(study)s.") % {"study": study.identifier}
        )
    if not files:
        raise ValidationError(_("Choose at least one CSV file to import."))
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Say why you import these data: a reason is required."))
    contents = []
    for name, stream in files:
        try:
            contents.append((name, read_limited(stream, name)))
        finally:
            stream.close()
    with transaction.atomic():
        run = ImportRun.objects.create(
            study=study,
            requested_by=actor,
            reason=reason[:500],
            dry_run=dry_run,
            language=translation.get_language() or "",
            files_named=", ".join(name for name, _content in contents)[:1000],
        )
        ImportRunFile.objects.bulk_create(
            ImportRunFile(run=run, position=position, name=name[:255], content=content)
            for position, (name, content) in enumerate(contents)
        )
        enqueue_after_commit(import_run_task, run.pk)
    return run


def import_run_execute(*, run: ImportRun) -> ImportRun:
    """Run a queued import and record what it found; a finished run is left as it is.

    A run the worker left running (it stopped in the middle) is run again: the import is all or
    nothing, so it wrote nothing then, and the same import run twice changes nothing anyway."""
    if run.status in FINISHED:
        return run
    run.status, run.started_at = ImportStatus.RUNNING, utc_now()
    run.save(update_fields=["status", "started_at"])
    progress_file = _progress_file(run.pk)

    def progress(done: int, total: int) -> None:
        _progress_write(progress_file, done, total)

    files = [(file.name, io.BytesIO(bytes(file.content))) for file in run.files.all()]
    try:
        with translation.override(run.language or settings.LANGUAGE_CODE):
            try:
                outcome = files_import(
                    actor=run.requested_by,
                    study=run.study,
                    files=files,
                    reason=run.reason,
                    dry_run=run.dry_run,
                    progress=progress,
                )
            except ImportRefused as refused:
                return _finish(run, ImportStatus.REFUSED, problems=refused.problems)
            except (CarnetError, PermissionDenied) as refusal:
                return _finish(run, ImportStatus.REFUSED, error=str(refusal))
    except Exception as error:
        _finish(run, ImportStatus.FAILED, error=str(error))
        raise
    finally:
        progress_file.unlink(missing_ok=True)
    return _finish(run, ImportStatus.DONE, outcome=outcome, problems=outcome.problems)


def import_run_progress(run: ImportRun) -> tuple[int, int]:
    """Return (records done, records in all) of a run: from the worker's progress file while it
    runs, (0, 0) before it knows."""
    if run.status != ImportStatus.RUNNING:
        return (1, 1) if run.status in FINISHED else (0, 0)
    try:
        done, total = _progress_file(run.pk).read_text().split()
        return int(done), int(total)
    except (OSError, ValueError):
        return 0, 0


def _finish(
    run: ImportRun,
    status: str,
    *,
    outcome: ImportOutcome | None = None,
    problems: Sequence[Problem] = (),
    error: str = "",
) -> ImportRun:
    run.status, run.finished_at, run.error = status, utc_now(), error[:2000]
    run.problems = [
        {"source": p.source, "place": p.place, "message": p.message}
        for p in problems[:PROBLEMS_KEPT]
    ]
    run.problems_total = len(problems)
    if outcome is not None:
        run.outcome = {
            "records": outcome.records,
            "instances_changed": outcome.instances_changed,
            "values_changed": outcome.values_changed,
            "soft_checks": outcome.soft_checks,
            "audit_events": outcome.audit_events,
            "subjects_created": outcome.subjects_created,
        }
    with transaction.atomic():
        run.save(
            update_fields=[
                "status", "finished_at", "error", "problems", "problems_total", "outcome"
            ]
        )  # fmt: skip
        # The files' values are now in the study's tables, or nowhere: no copy is kept.
        ImportRunFile.objects.filter(run=run).delete()
    return run


def _progress_file(run_id: int) -> Path:
    return Path(settings.DATA_DIR) / "runs" / f"import-{run_id}.progress"


def _progress_write(path: Path, done: int, total: int) -> None:
    """Write the progress whole: the page never reads half a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(f"{done} {total}")
    os.replace(partial, path)
