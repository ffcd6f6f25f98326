"""Making an export: the study's datasets at a cut-off, one form at a time, into a zip.

Memory stays flat: the subjects, visits and version steps are read once (small), then each
form's values are read, reduced to their state at the cut-off, written and let go before the
next form is read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import IO, Any

import polars as pl
from django.utils.translation import gettext as _

from carnet.accounts.blinding import Blinding, blinding_of
from carnet.accounts.models import StudySite
from carnet.accounts.permissions import Actor, PermissionDenied, SiteScope, site_scope
from carnet.accounts.roles import Action
from carnet.audit.services import SystemActor
from carnet.core.canonical_json import canonical_json
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.interop.codebook import Codebook
from carnet.interop.datasets import (
    IMPUTATION_RULE,
    Column,
    ExportPlan,
    captured_dates,
    dataset_frame,
    export_plan,
    form_values_at,
    last_news_with,
    reader_inputs,
    subject_columns,
    subject_dataset,
    values_at_cutoff,
    with_labels,
)
from carnet.interop.extra_datasets import EXTRA_DATASETS
from carnet.interop.models import Cutoff
from carnet.interop.services import export_record, may_export
from carnet.interop.writers import (
    FORMATS,
    Programs,
    ZipExport,
    csv_bytes,
    parquet_bytes,
    readstat_bytes,
    sas_names,
    xpt_bytes,
)
from carnet.studies.models import Study

# Called after each dataset: (datasets done, datasets in all, name of the one just written).
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ExportMade:
    """What an export wrote: its files, the manifest's hash and the plan it followed."""

    plan: ExportPlan
    files: list[tuple[str, str, int | None]]  # name, SHA-256, rows
    manifest_sha256: str


def _reader(actor: Actor, study: Study, unblinded: bool) -> tuple[Blinding, SiteScope, set[str]]:
    """Return what this reader may export: blinding, sites, site codes; refuse what they may not."""
    may_export(actor, study=study)
    if isinstance(actor, SystemActor):
        return Blinding(unblinded=unblinded), SiteScope(True, frozenset()), set()
    blinding = blinding_of(actor, study=study)
    if unblinded and not blinding.unblinded:
        raise PermissionDenied(
            _("An unblinded export needs an unblinded role in %(study)s (you are blinded).")
            % {"study": study.identifier}
        )
    scope = site_scope(actor, Action.EXPORT, study=study)
    codes = set(
        StudySite.objects.filter(study=study, pk__in=scope.site_ids).values_list("code", flat=True)
    )
    return Blinding(unblinded=unblinded), scope, codes


@dataclass(frozen=True)
class RowFilter:
    """Which rows of the form datasets an export keeps: events, and a range of visit dates
    (a row without a visit date is left out of a range)."""

    events: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        if self.events:
            frame = frame.filter(pl.col("event").is_in(list(self.events)))
        if self.since is not None:
            frame = frame.filter(pl.col("visit_date") >= self.since)
        if self.until is not None:
            frame = frame.filter(pl.col("visit_date") <= self.until)
        return frame


def _row_filter(
    plan: ExportPlan, events: list[str] | None, since: date | None, until: date | None
) -> RowFilter:
    """Return the rows asked for, refusing an event the study does not have or an empty range."""
    unknown = sorted(set(events or ()) - set(plan.events))
    if unknown:
        raise ValidationError(
            _("events: %(events)s: no such event in this study (it has %(known)s).")
            % {"events": ", ".join(unknown), "known": ", ".join(plan.events)}
        )
    if since is not None and until is not None and since > until:
        raise ValidationError(
            _("since: %(since)s is after until (%(until)s).")
            % {"since": since.isoformat(), "until": until.isoformat()}
        )
    return RowFilter(tuple(sorted(set(events or ()))), since, until)


def _filtered(plan: ExportPlan, *, forms: list[str] | None, sites: list[str] | None) -> ExportPlan:
    """Return the plan kept to the forms and sites asked for, refusing names it does not know."""
    if forms:
        known = {dataset.form for dataset in plan.datasets}
        unknown = sorted(set(forms) - known)
        if unknown:
            raise ValidationError(
                _("forms: %(forms)s: no such form in this export (it has %(known)s).")
                % {"forms": ", ".join(unknown), "known": ", ".join(sorted(known))}
            )
        plan = replace(plan, datasets=tuple(d for d in plan.datasets if d.form in forms))
    if sites:
        allowed = set(sites) if plan.sites is None else set(sites) & plan.sites
        plan = replace(plan, sites=frozenset(allowed))
    return plan


@dataclass
class DatasetWriter:
    """Writes each dataset in the export's format into the archive, and its codebook entry."""

    archive: ZipExport
    file_format: str
    day: date
    title: str
    study: str
    members: dict[str, str]  # dataset -> its 8-character XPT member name
    labels: dict[str, str]  # dataset -> its label
    programs: Programs = field(init=False)
    codebook: Codebook = field(init=False)
    # The short names of an XPT, Stata or SPSS export, written in the manifest (docs/exports.md).
    short_names: dict[str, dict[str, str]] = field(default_factory=dict)
    # The warehouse layout's schema of each dataset, written in its manifest.
    schemas: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.programs = Programs(self.title)
        self.codebook = Codebook(self.title)

    def write(self, name: str, frame: pl.DataFrame, columns: tuple[Column, ...]) -> None:
        files_before = len(self.archive.files)
        file_name = self._write(name, frame, columns)
        if len(self.archive.files) > files_before:
            file_name = self.archive.files[files_before].name
        label = self.labels.get(name, "One row per subject")
        self.codebook.add(name, label, file_name, frame.height, columns)

    def _write(self, name: str, frame: pl.DataFrame, columns: tuple[Column, ...]) -> str:
        """Write the dataset; return where (for the codebook)."""
        archive, file_format = self.archive, self.file_format
        if file_format == "csv":
            archive.add(f"{name}.csv", csv_bytes(frame), frame.height)
            self.programs.add(name, frame, columns)
        elif file_format in {"dta", "sav"}:
            content, names = readstat_bytes(frame, columns, file_format, self.day)
            renamed = {column: short for column, short in names.items() if column != short}
            if renamed:
                self.short_names[name] = renamed
            archive.add(f"{name}.{file_format}", content, frame.height)
        elif file_format == "parquet":
            archive.add(f"{name}.parquet", parquet_bytes(frame, columns), frame.height)
        elif file_format == "warehouse":
            return self._partitions(name, frame, columns)
        else:
            member = self.members[name]
            given = {
                c.name: c.item.sas_name for c in columns if c.item is not None and c.role == "value"
            }
            names = sas_names([c.name for c in columns], given)
            self.short_names[member] = {"dataset": name, **names}
            archive.add(
                f"{member.lower()}.xpt",
                xpt_bytes(frame, columns, member, names, self.day),
                frame.height,
            )
        return ""

    def _partitions(self, name: str, frame: pl.DataFrame, columns: tuple[Column, ...]) -> str:
        """Write the dataset as Parquet partitions ``study=/site=/form=`` (study and site are
        in the path, not in the files, as Hive partitioning has it)."""
        kept = tuple(column for column in columns if column.name not in {"study", "site"})
        self.schemas[name] = {
            "rows": frame.height,
            "columns": [{"name": c.name, "type": str(c.dtype), "label": c.label} for c in kept],
        }
        folder = f"study={self.study}/site={{site}}/form={name}"
        if frame.is_empty():
            return folder.format(site="*")
        for (site,), part in sorted(frame.partition_by("site", as_dict=True).items()):
            self.archive.add(
                folder.format(site=site) + "/part-0.parquet",
                parquet_bytes(part.drop("study", "site"), kept),
                part.height,
            )
        return folder.format(site="*")


class WrittenInTurn:
    """Writes each dataset on a thread of its own while the caller builds the next one.

    Building (Polars) and writing (the format's encoder, zlib) both let go of the GIL, so the two
    run at once on two cores. One dataset is written while one is built: memory holds two at
    most. Datasets are written in the order given, so the archive's bytes do not change; the
    progress is told on the caller's thread, once a dataset is written (telling it may write to
    the database, whose connection belongs to the caller's thread).
    """

    def __init__(
        self,
        write: Callable[[str, pl.DataFrame, tuple[Column, ...]], None],
        progress: Progress | None,
        total: int,
    ) -> None:
        self._write = write
        self._progress = progress
        self._total = total
        self._done = 0
        self._pending: tuple[Future[None], str] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-writer")

    def __enter__(self) -> WrittenInTurn:
        return self

    def __call__(self, name: str, frame: pl.DataFrame, columns: tuple[Column, ...]) -> None:
        self._wait()
        self._pending = (self._thread.submit(self._write, name, frame, columns), name)

    def _wait(self) -> None:
        if self._pending is None:
            return
        written, name = self._pending
        self._pending = None
        written.result()
        self._done += 1
        if self._progress:
            self._progress(self._done, self._total, name)

    def __exit__(self, *failed: object) -> None:
        try:
            if failed[0] is None:
                self._wait()
        finally:
            self._thread.shutdown(wait=True)


def export_write(
    *,
    actor: Actor,
    study: Study,
    cutoff: Cutoff,
    file_format: str,
    target: IO[bytes],
    unblinded: bool = False,
    forms: list[str] | None = None,
    sites: list[str] | None = None,
    events: list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    labels: bool = False,
    progress: Progress | None = None,
) -> ExportMade:
    """Write the study's datasets at the cut-off into ``target`` (a zip) and record the export.

    The zip holds one file per dataset, the subject dataset, the SAS and R programs (CSV) and
    manifest.json (every file's SHA-256 and rows, the cut-off, the study version, the options).
    Nothing in it depends on when it is made: the same cut-off gives the same bytes.
    """
    if file_format not in FORMATS:
        raise ValidationError(
            _("format: %(format)r is not one of %(formats)s.")
            % {"format": file_format, "formats": ", ".join(FORMATS)}
        )
    if cutoff.study_id != study.pk:
        raise ValidationError(_("cutoff: this cut-off belongs to another study."))
    blinding, scope, codes = _reader(actor, study, unblinded)
    plan = _filtered(
        export_plan(study=study, cutoff=cutoff, blinding=blinding, scope=scope, site_codes=codes),
        forms=forms,
        sites=sites,
    )
    rows = _row_filter(plan, events, since, until)
    if labels:
        plan = with_labels(plan)
    subjects, visits, versions = reader_inputs(study, cutoff, randomised_design=plan.randomised)
    if plan.sites is not None:
        subjects = subjects.filter(pl.col("site").is_in(sorted(plan.sites)))
    # In English whatever the reader's language: the same cut-off gives the same bytes.
    title = (
        f"Carnet export of {study.identifier} at cut-off {cutoff.name} (audit event #{cutoff.seq})"
    )
    archive = ZipExport(target, cutoff.cut_on)
    # The datasets other apps add (coded terms) go into whole exports, not those kept to forms.
    extras = list(EXTRA_DATASETS) if not forms else []
    total = len(plan.datasets) + len(extras) + 1
    writer = DatasetWriter(
        archive=archive,
        file_format=file_format,
        day=cutoff.cut_on,
        title=title,
        study=study.identifier,
        members=sas_names(
            ["subjects", *(dataset.name for dataset in plan.datasets), *(e.name for e in extras)]
        ),
        labels={
            **{dataset.name: dataset.label for dataset in plan.datasets},
            **{extra.name: extra.label for extra in extras},
        },
    )
    news: list[pl.DataFrame] = []
    form_names = list(dict.fromkeys(dataset.form for dataset in plan.datasets))
    with (
        tempfile.TemporaryDirectory(prefix="carnet-export-") as folder,
        WrittenInTurn(writer.write, progress, total) as write,
    ):
        changes = values_at_cutoff(study, cutoff, Path(folder))
        for form in form_names:
            # Unordered: each dataset is sorted by its keys once built.
            values = form_values_at(changes, form, in_order=False)
            news.append(captured_dates(plan, form, values, cutoff.cut_on))
            for dataset in (d for d in plan.datasets if d.form == form):
                frame = rows.apply(
                    dataset_frame(
                        dataset, values, subjects=subjects, visits=visits, versions=versions
                    )
                )
                write(dataset.name, frame, dataset.columns)
            del values
        # The datasets other apps add, for the subjects this reader sees.
        readable = (
            set(subjects["subject"].cast(pl.String).to_list()) if plan.sites is not None else None
        )
        for extra in extras:
            extra_frame, extra_columns = extra.rows(study, cutoff, readable)
            write(extra.name, extra_frame, extra_columns)
        # The subject dataset last: its date of last news counts the dates captured in every form.
        captured = pl.concat(news) if news else pl.DataFrame()
        subject_frame = subject_dataset(plan, last_news_with(subjects, captured))
        write("subjects", subject_frame, subject_columns(subject_frame))
    if file_format == "csv":
        archive.add(f"{study.identifier}.sas", writer.programs.sas().encode("utf-8"))
        archive.add(f"{study.identifier}.R", writer.programs.r().encode("utf-8"))
    archive.add(
        "codebook.html",
        writer.codebook.html(
            [
                f"Cut-off {cutoff.name}: audit event #{cutoff.seq}, hash {cutoff.head_hash}, "
                f"cut-off date {cutoff.cut_on.isoformat()}; study version {plan.version}.",
                "Partial dates: " + IMPUTATION_RULE + ".",
                "Arm and arm-revealing items: "
                + ("included (unblinded export)." if blinding.unblinded else "left out (blinded)."),
            ]
        ).encode("utf-8"),
    )
    options = {
        "format": file_format,
        "unblinded": blinding.unblinded,
        "sites": sorted(plan.sites) if plan.sites is not None else "all",
        "forms": sorted({dataset.form for dataset in plan.datasets}) if forms else "all",
        "events": list(rows.events) or "all",
        "visits_since": rows.since.isoformat() if rows.since else None,
        "visits_until": rows.until.isoformat() if rows.until else None,
        "values": "labels" if labels else "codes",
        "environment": "production",
    }
    manifest = {
        "study": study.identifier,
        "study_version": plan.version,
        "cutoff": {
            "name": cutoff.name,
            "seq": cutoff.seq,
            "hash": cutoff.head_hash,
            "cut_on": cutoff.cut_on.isoformat(),
            "reason": cutoff.reason,
        },
        "options": options,
        "partial_dates": IMPUTATION_RULE,
        **({"sas_names": writer.short_names} if file_format == "xpt" else {}),
        **({"short_names": writer.short_names} if file_format in {"dta", "sav"} else {}),
        **(
            {
                "audit_head": {"seq": cutoff.seq, "hash": cutoff.head_hash},
                "datasets": writer.schemas,
            }
            if file_format == "warehouse"
            else {}
        ),
        "files": [
            {"name": f.name, "sha256": f.sha256, "bytes": f.size, "rows": f.rows}
            for f in archive.files
        ],
    }
    manifest_bytes = canonical_json(manifest).encode("utf-8")
    archive.add("manifest.json", manifest_bytes)
    archive.close()
    digest = sha256_hex(manifest_bytes)
    export_record(actor=actor, study=study, cutoff=cutoff, options=options, manifest_sha256=digest)
    return ExportMade(
        plan=plan,
        files=[(f.name, f.sha256, f.rows) for f in archive.files],
        manifest_sha256=digest,
    )


def export_to_path(
    *,
    actor: Actor,
    study: Study,
    cutoff: Cutoff,
    file_format: str,
    output: Path,
    unblinded: bool = False,
    forms: list[str] | None = None,
    sites: list[str] | None = None,
    events: list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    labels: bool = False,
    progress: Progress | None = None,
) -> ExportMade:
    """Write the export to a file; on any refusal or failure, no file is left behind."""
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("wb") as target:
            made = export_write(
                actor=actor,
                study=study,
                cutoff=cutoff,
                file_format=file_format,
                target=target,
                unblinded=unblinded,
                forms=forms,
                sites=sites,
                events=events,
                since=since,
                until=until,
                labels=labels,
                progress=progress,
            )
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return made
