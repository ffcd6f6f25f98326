"""Exports made by the worker: asked for on the page or the API, their progress written as
they go, their zip kept for the person who asked.

`export_request` checks everything a person could get wrong (rights, cut-off, format, filters)
before anything is queued, so a refusal is answered at once; `export_execute` is the worker's
part and may run twice (a run already done is left as it is).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.interop.datasets import export_plan
from carnet.interop.exports import _filtered, _reader, _row_filter, export_to_path
from carnet.interop.models import Cutoff, ExportRun, ExportStatus
from carnet.interop.writers import FORMATS
from carnet.studies.models import Study

# What an export run may be: the datasets' formats, and CDISC ODM 1.3.2 (a zip of one XML file).
ODM_FORMATS = ("odm", "odm-transactional")
RUN_FORMATS = (*FORMATS, *ODM_FORMATS)


@dataclass(frozen=True)
class ExportOptions:
    """What an export holds, as asked for: the options of `export_write`."""

    file_format: str = "csv"
    unblinded: bool = False
    forms: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    since: date | None = None
    until: date | None = None
    labels: bool = False

    def as_json(self) -> dict[str, Any]:
        kept = asdict(self)
        kept["since"] = self.since.isoformat() if self.since else None
        kept["until"] = self.until.isoformat() if self.until else None
        return kept

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportOptions:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        for key in ("since", "until"):
            if known.get(key):
                known[key] = date.fromisoformat(known[key])
        return cls(**known)


def export_folder() -> Path:
    """Return the folder of the zips the worker made (under the data directory)."""
    return Path(settings.DATA_DIR) / "exports"


def export_file(run: ExportRun) -> Path:
    return export_folder() / f"{run.pk}.zip"


def _check(*, actor: User, study: Study, cutoff: Cutoff, options: ExportOptions) -> int:
    """Refuse what the export would refuse; return how many datasets it will write."""
    if options.file_format not in RUN_FORMATS:
        raise ValidationError(
            _("format: %(format)r is not one of %(formats)s.")
            % {"format": options.file_format, "formats": ", ".join(RUN_FORMATS)}
        )
    if cutoff.study_id != study.pk:
        raise ValidationError(_("cutoff: this cut-off belongs to another study."))
    blinding, scope, codes = _reader(actor, study, options.unblinded)
    if options.file_format in ODM_FORMATS:
        filters = (options.forms, options.sites, options.events, options.since, options.until)
        if any(filters) or options.labels:
            raise ValidationError(
                _(
                    "An ODM export holds the whole study at the cut-off (the sites you may "
                    "export): it takes no forms, sites, events, dates or labels."
                )
            )
        return 1
    plan = _filtered(
        export_plan(study=study, cutoff=cutoff, blinding=blinding, scope=scope, site_codes=codes),
        forms=options.forms or None,
        sites=options.sites or None,
    )
    _row_filter(plan, options.events or None, options.since, options.until)
    return len(plan.datasets) + 1


def export_request(
    *, actor: User, study: Study, cutoff: Cutoff, options: ExportOptions
) -> ExportRun:
    """Queue an export for the worker and return its run, whose progress it updates.

    Refused at once, with the export's own reasons, when the person may not export it."""
    from carnet.interop.tasks import export_run
    from carnet.worker.services import enqueue_after_commit

    total = _check(actor=actor, study=study, cutoff=cutoff, options=options)
    with transaction.atomic():
        run = ExportRun.objects.create(
            study=study,
            cutoff=cutoff,
            requested_by=actor,
            options={**options.as_json(), "study": study.identifier},
            total=total,
        )
        enqueue_after_commit(export_run, run.pk)
    return run


def export_execute(*, run: ExportRun) -> ExportRun:
    """Make a queued export, writing its progress as it goes (each write its own commit, so
    the page sees it); a run already done is left as it is (a task may run twice)."""
    if run.status == ExportStatus.DONE:
        return run
    ExportRun.objects.filter(pk=run.pk).update(status=ExportStatus.RUNNING, done=0)

    def progress(done: int, total: int, _name: str) -> None:
        ExportRun.objects.filter(pk=run.pk).update(done=done, total=total)

    options = ExportOptions.from_json(run.options)
    output = export_file(run)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        digest = _make(run, options, output, progress)
    except Exception as error:
        ExportRun.objects.filter(pk=run.pk).update(
            status=ExportStatus.FAILED, error=str(error)[:2000], finished_at=utc_now()
        )
        raise
    ExportRun.objects.filter(pk=run.pk).update(
        status=ExportStatus.DONE,
        manifest_sha256=digest,
        size=output.stat().st_size,
        finished_at=utc_now(),
    )
    run.refresh_from_db()
    return run


def _make(run: ExportRun, options: ExportOptions, output: Path, progress: Any) -> str:
    """Write the run's file; return its manifest's SHA-256 (an ODM file's own, for ODM)."""
    if options.file_format in ODM_FORMATS:
        from carnet.interop.odm.export import odm_zip_to_path

        made = odm_zip_to_path(
            actor=run.requested_by,
            study=run.study,
            cutoff=run.cutoff,
            output=output,
            mode="transactional" if options.file_format == "odm-transactional" else "snapshot",
            unblinded=options.unblinded,
        )
        progress(1, 1, "odm")
        return made.sha256
    return export_to_path(
        actor=run.requested_by,
        study=run.study,
        cutoff=run.cutoff,
        file_format=options.file_format,
        output=output,
        unblinded=options.unblinded,
        forms=options.forms or None,
        sites=options.sites or None,
        events=options.events or None,
        since=options.since,
        until=options.until,
        labels=options.labels,
        progress=progress,
    ).manifest_sha256
