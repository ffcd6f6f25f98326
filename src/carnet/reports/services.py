"""DSMB reports made by the worker: asked for on the page, the API or the command, their
progress written as they go, their PDF kept for the person who asked.

`dsmb_request` refuses at once what the report would refuse (the closed session to a blinded
reader, a cut-off of another study); `dsmb_execute` is the worker's part and may run twice (a
report already done is left as it is).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.interop.models import Cutoff
from carnet.reports.datasets import may_report, require_unblinded
from carnet.reports.models import ReportRun, ReportSession, ReportStatus
from carnet.reports.rendering import report_pdf
from carnet.reports.selectors import report_of
from carnet.studies.models import Study

STEPS = 3  # dataset and analyses, figures and document, PDF


def report_folder() -> Path:
    """Return the folder of the PDFs the worker made (under the data directory)."""
    return Path(settings.DATA_DIR) / "reports"


def report_file(run: ReportRun) -> Path:
    return report_folder() / f"{run.pk}.pdf"


def dsmb_request(*, actor: User, study: Study, cutoff: Cutoff, session: str) -> ReportRun:
    """Queue a DSMB report of the cut-off for the worker and return its run.

    The closed session (by arm) is refused at once to a blinded reader."""
    from carnet.reports.tasks import dsmb_report_run
    from carnet.worker.services import enqueue_after_commit

    if session not in ReportSession.values:
        raise ValidationError(
            _("session: %(session)r is not open or closed.") % {"session": session}
        )
    if cutoff.study_id != study.pk:
        raise ValidationError(_("cutoff: this cut-off belongs to another study."))
    if session == ReportSession.CLOSED:
        require_unblinded(actor, study=study)
    else:
        may_report(actor, study=study)
    with transaction.atomic():
        run = ReportRun.objects.create(
            study=study, cutoff=cutoff, requested_by=actor, session=session, total=STEPS
        )
        enqueue_after_commit(dsmb_report_run, run.pk)
    return run


def _progress(run: ReportRun, done: int, step: str) -> None:
    # Each step its own write, so the page polling the run sees it.
    ReportRun.objects.filter(pk=run.pk).update(done=done, step=step)


def dsmb_execute(*, run: ReportRun) -> ReportRun:
    """Make a queued DSMB report; a report already done is left as it is."""
    if run.status == ReportStatus.DONE:
        return run
    ReportRun.objects.filter(pk=run.pk).update(status=ReportStatus.RUNNING, done=0)
    kind = "dsmb-closed" if run.session == ReportSession.CLOSED else "dsmb-open"
    try:
        _progress(run, 0, "analysis dataset")
        report, source = report_of(
            actor=run.requested_by, study=run.study, cutoff=run.cutoff, kind=kind
        )
        _progress(run, 1, "document")
        title = f"{report.title}: {run.study.identifier}, cut-off {run.cutoff.name}"
        pdf = report_pdf([report], source, title=title)
        _progress(run, 2, "PDF")
        output = report_file(run)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")
        partial.write_bytes(pdf)
        partial.replace(output)
    except Exception as error:
        ReportRun.objects.filter(pk=run.pk).update(
            status=ReportStatus.FAILED, error=str(error)[:2000], finished_at=utc_now()
        )
        raise
    ReportRun.objects.filter(pk=run.pk).update(
        status=ReportStatus.DONE,
        done=STEPS,
        step="",
        sha256=sha256_hex(pdf),
        size=len(pdf),
        finished_at=utc_now(),
    )
    run.refresh_from_db()
    return run
