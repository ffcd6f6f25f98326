"""Per-form analysis datasets of the values at a cut-off, as Polars frames.

Each value is what the last `item.changed` event of its (form instance, item, repeat row) up to
the cut-off's sequence number says, so a dataset made from a cut-off today and in ten years is
the same. `ValueChanges` reads it as today's value with the changes made since the cut-off undone
from their own events (the tables equal the trail: `carnet audit verify --data`); `TrailReplay`,
the full replay of the trail, is the reference a test holds it equal to. The subject-level facts
come from the trail; facts that never change once written (which subject and environment a form
instance belongs to, a published study version) from the tables.

One dataset per form (its non-repeating groups) and one per repeating group; columns are the
union of the items of every version published at the cut-off, so an amendment adds columns and
never removes one. Identifying items never leave; arm-revealing ones leave only in an unblinded
export.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

import polars as pl
from django.db.models import Max, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.db.models.sql.constants import MULTI

from carnet.accounts.blinding import Blinding
from carnet.accounts.permissions import SiteScope
from carnet.audit.models import AuditEvent
from carnet.capture.models import FormInstance, ItemValue
from carnet.db.arrow import record_batches
from carnet.interop.models import Cutoff
from carnet.studies.definition.model import CodeList, Form, Item, StudyDefinition
from carnet.studies.models import Study, StudyVersion
from carnet.subjects.environments import Environment

# Rows read from the database at a time: the reduction to the last event keeps memory flat.
CHUNK = 50_000
# Chunks of current values set aside at a time (one Parquet file per form): 500,000 values,
# about 50 MB, so that a large study is not cut into thousands of small files.
CHUNKS_A_PART = 10
KEYS = ("study", "site", "subject", "event", "occurrence", "visit_date", "repeat")
# How a partial date is completed in its `<name>_imp` column (docs/exports.md says why).
IMPUTATION_RULE = (
    "a year alone is imputed to 1 July of that year, a year and month to the 15th of that "
    "month; a full date is itself"
)


@dataclass(frozen=True)
class Column:
    """One column of a dataset: its name, Polars type, label and, for items, where it comes from."""

    name: str
    dtype: pl.DataType
    label: str
    item: Item | None = None
    code_list: CodeList | None = None
    role: str = "key"  # key | value | missing | imputed | flag (a yes/no of the subject)
    # In an export "with labels": each code's label written instead of the code.
    decoded: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Dataset:
    """A form's dataset (its non-repeating groups) or a repeating group's."""

    name: str
    form: str
    label: str
    repeating_group: bool
    columns: tuple[Column, ...]

    @property
    def items(self) -> list[Column]:
        return [column for column in self.columns if column.role == "value"]


@dataclass(frozen=True)
class ExportPlan:
    """What an export of a study at a cut-off holds, as its reader may see it."""

    study: Study
    cutoff: Cutoff
    unblinded: bool
    version: int  # the study version current at the cut-off
    datasets: tuple[Dataset, ...]
    code_lists: dict[str, CodeList] = field(default_factory=dict)
    sites: frozenset[str] | None = None  # site codes the reader may export; None: all
    randomised: bool = True  # the study version at the cut-off randomises its subjects
    events: tuple[str, ...] = ()  # the events of every version at the cut-off


def _kind(item: Item) -> str:
    return item.result_type if item.type == "calculated" else item.type


def _dtype(item: Item, code_list: CodeList | None) -> pl.DataType:
    kind = _kind(item)
    if kind == "integer":
        return pl.Int64()
    if kind == "decimal":
        return pl.Float64()
    if kind == "date":
        return pl.Date()
    if kind == "datetime":
        return pl.Datetime("us")
    if kind == "boolean":
        return pl.Int8()
    if kind == "single_choice" and code_list is not None and code_list.type == "integer":
        return pl.Int64()
    return pl.String()


def _publications(study: Study, cutoff: Cutoff) -> list[tuple[int, int]]:
    """Return (seq, version number) of each publication of the study up to the cut-off, oldest
    first: read through the events' target (each names the version it published), not by a scan
    of the whole trail."""
    meta = StudyVersion._meta
    versions = [
        str(pk) for pk in StudyVersion.objects.filter(study=study).values_list("pk", flat=True)
    ]
    # By the target alone, so that the database walks the target index (given the chain and a
    # range of sequence numbers too, SQLite would rather scan the chain).
    rows = (
        AuditEvent.objects.filter(
            target_type=f"{meta.app_label}.{meta.model_name}", target_id__in=versions
        )
        .annotate(number=KT("new__current_version"))
        .order_by()
        .values_list("seq", "chain", "action", "number")
    )
    return sorted(
        (seq, int(number))
        for seq, chain, action, number in rows
        if chain == study.audit_chain and seq <= cutoff.seq and action == "study.version_published"
    )


def _versions_at(study: Study, cutoff: Cutoff) -> list[StudyVersion]:
    """Return the study versions published at the cut-off, oldest first."""
    wanted = {number for _seq, number in _publications(study, cutoff)}
    return list(StudyVersion.objects.filter(study=study, number__in=wanted).order_by("number"))


def _exported(item: Item, blinding: Blinding) -> bool:
    """Return whether an item may leave in this export (never identifying ones)."""
    return not item.identifying and not blinding.conceals(item)


def _item_columns(item: Item, code_list: CodeList | None) -> list[Column]:
    label = item.label.en or item.name
    columns = [Column(item.name, _dtype(item, code_list), label, item, code_list, "value")]
    if _kind(item) == "partial_date":
        columns.append(
            Column(f"{item.name}_imp", pl.Date(), f"{label} (imputed)"[:200], item, None, "imputed")
        )
    columns.append(
        Column(f"{item.name}_mc", pl.String(), f"{label} (missing code)", item, None, "missing")
    )
    return columns


def _key_columns(repeating_group: bool) -> list[Column]:
    keys = [
        Column("study", pl.String(), "Study"),
        Column("site", pl.String(), "Site"),
        Column("subject", pl.String(), "Subject"),
        Column("event", pl.String(), "Event"),
        Column("occurrence", pl.Int64(), "Occurrence of the event"),
        Column("visit_date", pl.Date(), "Visit date"),
        Column("repeat", pl.Int64(), "Instance of the form"),
    ]
    if repeating_group:
        keys.append(Column("row", pl.Int64(), "Row of the repeating group"))
    keys.append(Column("crf_version", pl.Int64(), "Study version the data were entered under"))
    return keys


def _datasets(definitions: list[StudyDefinition], blinding: Blinding) -> list[Dataset]:
    """Return the datasets of the union of the versions: the latest's order, then older items."""
    # (dataset name) -> (form, label, repeating, {item name: (item, code list)})
    found: dict[str, tuple[str, str, bool, dict[str, tuple[Item, CodeList | None]]]] = {}
    for definition in reversed(definitions):
        lists = {code_list.name: code_list for code_list in definition.code_lists}
        for form in definition.forms:
            for group in form.groups:
                name = f"{form.name}_{group.name}" if group.repeating else form.name
                label = form.label.en if not group.repeating else group.label.en
                entry = found.setdefault(name, (form.name, label or name, group.repeating, {}))
                for item in group.items:
                    if item.type == "file" or not _exported(item, blinding):
                        continue
                    entry[3].setdefault(item.name, (item, lists.get(item.code_list)))
    datasets = []
    for name, (form_name, label, repeating, items) in found.items():
        columns = _key_columns(repeating)
        for item, code_list in items.values():
            columns += _item_columns(item, code_list)
        datasets.append(Dataset(name, form_name, label, repeating, tuple(columns)))
    return datasets


def export_plan(
    *, study: Study, cutoff: Cutoff, blinding: Blinding, scope: SiteScope, site_codes: set[str]
) -> ExportPlan:
    """Return the datasets an export of the study at the cut-off holds for this reader."""
    versions = _versions_at(study, cutoff)
    definitions = [version.parsed() for version in versions]
    lists: dict[str, CodeList] = {}
    for definition in definitions:
        lists.update({code_list.name: code_list for code_list in definition.code_lists})
    return ExportPlan(
        study=study,
        cutoff=cutoff,
        unblinded=blinding.unblinded,
        version=versions[-1].number if versions else 0,
        datasets=tuple(_datasets(definitions, blinding)),
        code_lists=lists,
        sites=None if scope.all_sites else frozenset(site_codes),
        events=tuple(
            dict.fromkeys(event.name for definition in definitions for event in definition.events)
        ),
        randomised=bool(definitions) and definitions[-1].design.get("allocation") == "randomised",
    )


def _decoded(column: Column) -> Column:
    """Return the column as an export with labels writes it: a code list's or a yes/no item's
    labels (as text) instead of its codes."""
    if column.role != "value" or column.item is None:
        return column
    if column.code_list is not None and _kind(column.item) == "single_choice":
        pairs = tuple(
            (str(code.code), code.label.en or str(code.code)) for code in column.code_list.items
        )
        return replace(column, dtype=pl.String(), code_list=None, decoded=pairs)
    if _kind(column.item) == "boolean":
        return replace(column, dtype=pl.String(), decoded=(("true", "Yes"), ("false", "No")))
    return column


def with_labels(plan: ExportPlan) -> ExportPlan:
    """Return the plan writing codes as their labels (the export option "labels")."""
    return replace(
        plan,
        datasets=tuple(
            replace(dataset, columns=tuple(_decoded(column) for column in dataset.columns))
            for dataset in plan.datasets
        ),
    )


# --- reading the trail ---------------------------------------------------------------------


def _frames(rows: Iterable[tuple[Any, ...]], schema: dict[str, Any]) -> Iterator[pl.DataFrame]:
    """Yield the rows as frames of at most CHUNK rows (values cast to the schema's types)."""
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        yield pl.DataFrame(chunk, schema=schema, orient="row", strict=False)


def _read_frames(rows: Any, schema: dict[str, Any]) -> Iterator[pl.DataFrame]:
    """Yield the rows of a values_list queryset as frames of the schema (its names and types,
    in the queryset's column order).

    Outside a transaction they come as Arrow record batches through ADBC (carnet.db.arrow says
    why and when), each handed to Polars without a Python object per value; otherwise as the
    database cursor hands them over, a list at a time (no model, no Python loop per value).
    """
    batches = record_batches(rows)
    if batches is not None:
        types = pl.Schema(schema)
        for batch in batches:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)  # a record batch is a frame, not a series
            # The database's column names ("form_instance_id", …) and types (integer: Int32).
            yield frame.rename(dict(zip(frame.columns, types, strict=True))).cast(types)
        return
    compiler = rows.query.get_compiler(using=rows.db)
    for chunk in compiler.execute_sql(MULTI, chunked_fetch=True, chunk_size=CHUNK):
        yield pl.DataFrame(chunk, schema=schema, orient="row")


def _events(study: Study, cutoff: Cutoff, actions: Iterable[str], **keys: str) -> Any:
    """Return the study's events of those actions up to the cut-off, with JSON keys as text."""
    return (
        AuditEvent.objects.filter(
            chain=study.audit_chain, seq__lte=cutoff.seq, action__in=list(actions)
        )
        .annotate(**{name: KT(f"new__{key}") for name, key in keys.items()})
        .order_by()
    )


SUBJECT_ACTIONS = (
    "subject.included",
    "subject.status_changed",
    "subject.treatment_status_changed",
    "subject.transferred",
    "subject.randomised_on_set",
    "subject.news_recorded",
    "randomisation.allocated",
    "study.mode_changed",
    "deviation.derived",
    "deviation.declared",
    "deviation.reviewed",
    "deviation.resolved",
    "deviation.reopened",
)
SUBJECT_KEYS = {
    "identifier": "identifier",
    "environment": "environment",
    "site_code": "site",
    "included_on": "included_on",
    "status": "status",
    "on": "on",
    "randomised_on": "randomised_on",
    "number": "number",
    "arm": "arm",
    "news_on": "news_on",
    "mode": "mode",
    "deviant": "subject",
    "deviation_class": "class",
}


# What the visits' events add to those the subject dataset is made of (read in the same pass).
VISIT_ACTION = "subject.visit_recorded"
VISIT_KEYS = {"event_name": "event", "occurrence": "occurrence", "visit_on": "visit_on"}


def study_events(study: Study, cutoff: Cutoff) -> pl.DataFrame:
    """Return the events the subject dataset and the visit dates are made of, up to the
    cut-off, in order: one pass over the trail for both."""
    keys = SUBJECT_KEYS | VISIT_KEYS
    rows = _events(study, cutoff, [*SUBJECT_ACTIONS, VISIT_ACTION], **keys).values_list(
        "seq", "action", "target_id", "reason", *keys
    )
    schema = {"seq": pl.Int64, "action": pl.String, "target": pl.String, "reason": pl.String}
    schema |= dict.fromkeys(keys, pl.String)
    events = pl.concat(
        [*_frames(rows.iterator(chunk_size=CHUNK), schema), pl.DataFrame(schema=schema)]
    )
    return events.sort("seq")


def _subject_events(study: Study, cutoff: Cutoff, events: pl.DataFrame | None) -> pl.DataFrame:
    """Return the events the subject dataset is made of, up to the cut-off, in order."""
    events = study_events(study, cutoff) if events is None else events
    return events.filter(pl.col("action").is_in(SUBJECT_ACTIONS)).select(
        "seq", "action", "target", "reason", *SUBJECT_KEYS
    )


def _deviation_counts(events: pl.DataFrame) -> pl.DataFrame:
    """Return, per subject identifier, the deviations of production as they stood at the
    cut-off: confirmed major, confirmed minor and awaiting review (rejected ones never count).

    A deviation's events name its subject by identifier; test subjects may share one, so a
    deviation belongs to production when the study was out of test mode at its first event."""
    modes = (
        events.filter(pl.col("action") == "study.mode_changed")
        .select("seq", pl.col("mode").alias("study_mode"))
        .sort("seq")
    )
    deviations = events.filter(pl.col("action").str.starts_with("deviation."))
    first = (
        deviations.unique(subset="target", keep="first", maintain_order=True)
        .select("seq", "target")
        .join_asof(modes, on="seq", strategy="backward")
        .filter(pl.col("study_mode").fill_null("design") != "test")
        .select("target")
    )
    last = deviations.unique(subset="target", keep="last", maintain_order=True).join(
        first, on="target", how="semi"
    )
    confirmed = pl.col("status") == "confirmed"
    return last.group_by(pl.col("deviant").alias("identifier")).agg(
        (confirmed & (pl.col("deviation_class") == "major")).sum().alias("deviations_major"),
        (confirmed & (pl.col("deviation_class") == "minor")).sum().alias("deviations_minor"),
        (pl.col("status") == "pending").sum().alias("deviations_pending"),
    )


def subjects_at(
    study: Study,
    cutoff: Cutoff,
    *,
    randomised_design: bool = True,
    events: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Return each production subject at the cut-off: id, identifier, site, statuses, dates,
    allocation number and arm (the caller drops the arm for a blinded reader), death, end of
    treatment, news, deviations and populations; all from the audit trail up to the cut-off.

    ``last_news_on`` here counts what the subject's own events say (inclusion, statuses, visits,
    news, transfer); the export raises it with the dates captured in forms (`last_news_with`).
    ``events``: `study_events` of the cut-off, when the caller has read them already."""
    events = _subject_events(study, cutoff, events)

    def last(action: str, *columns: str | pl.Expr, where: pl.Expr | None = None) -> pl.DataFrame:
        chosen = events.filter(pl.col("action") == action)
        if where is not None:
            chosen = chosen.filter(where)
        return chosen.unique(subset="target", keep="last", maintain_order=True).select(
            pl.col("target"), *columns
        )

    included = last("subject.included", "identifier", "environment", "site_code", "included_on")
    included = included.filter(pl.col("environment") == Environment.PRODUCTION)
    statuses = pl.col("status").alias("study_status"), pl.col("on").alias("study_status_on")
    first_status = last(
        "subject.included", *statuses[:1], pl.col("included_on").alias("study_status_on")
    )
    study_status = pl.concat(
        [first_status, last("subject.status_changed", *statuses)], how="vertical"
    ).unique(subset="target", keep="last", maintain_order=True)
    treatment = last(
        "subject.treatment_status_changed",
        pl.col("status").alias("treatment_status"),
        pl.col("on").alias("treatment_status_on"),
    )
    died = last(
        "subject.status_changed",
        pl.col("on").alias("death_on"),
        where=pl.col("status") == "deceased",
    )
    ended = last(
        "subject.treatment_status_changed",
        pl.col("on").alias("end_of_treatment_on"),
        pl.col("reason").alias("end_of_treatment_reason"),
        where=pl.col("status") == "off_treatment",
    )
    treated = last(
        "subject.treatment_status_changed",
        pl.lit(True).alias("treated"),
        where=pl.col("status") == "on_treatment",
    )
    transferred = last("subject.transferred", pl.col("site_code").alias("site_now"))
    randomised = events.filter(pl.col("action") == "subject.randomised_on_set").select(
        "seq", "target", "randomised_on"
    )
    # The allocation is recorded in the transaction that set the randomisation date, just after
    # it: the nearest date set before an allocation is its subject's.
    allocated = (
        events.filter(pl.col("action") == "randomisation.allocated")
        .select("seq", pl.col("number").cast(pl.Int64).alias("allocation_number"), "arm")
        .join_asof(randomised.select("seq", "target"), on="seq", strategy="backward")
        .select("target", "allocation_number", "arm")
    )
    # What the subject's own events date: the latest is their last news (before a death).
    own_dates = (
        events.filter(pl.col("action").str.starts_with("subject."))
        .select(
            "target",
            pl.coalesce("news_on", "on", "included_on", "randomised_on")
            .str.to_date(strict=False)
            .alias("day"),
        )
        .filter(pl.col("day").is_not_null())
        .group_by("target")
        .agg(pl.col("day").max().alias("news_from_events"))
    )
    frame = (
        included.join(study_status, on="target", how="left")
        .join(treatment, on="target", how="left")
        .join(transferred, on="target", how="left")
        .join(randomised.select("target", "randomised_on"), on="target", how="left")
        .join(allocated, on="target", how="left")
        .join(died, on="target", how="left")
        .join(ended, on="target", how="left")
        .join(treated, on="target", how="left")
        .join(own_dates, on="target", how="left")
        .join(_deviation_counts(events), on="identifier", how="left")
    )
    frame = frame.with_columns(
        pl.col("included_on", "randomised_on", "death_on", "end_of_treatment_on").str.to_date(
            strict=False
        ),
        pl.col("deviations_major", "deviations_minor", "deviations_pending")
        .fill_null(0)
        .cast(pl.Int64),
    )
    # Populations (docs/exports.md): intention to treat, every randomised subject (every
    # included one in a study without randomisation); per protocol, those of them without a
    # confirmed major deviation (quality's `per_protocol_population`); safety, every subject
    # who started the study treatment.
    itt = pl.col("randomised_on").is_not_null() if randomised_design else pl.lit(True)
    return frame.select(
        pl.col("target").cast(pl.Int64).alias("subject_id"),
        pl.lit(study.identifier).alias("study"),
        pl.coalesce("site_now", "site_code").alias("site"),
        pl.col("identifier").alias("subject"),
        "study_status",
        pl.col("study_status_on").str.to_date(strict=False),
        "treatment_status",
        pl.col("treatment_status_on").str.to_date(strict=False),
        "included_on",
        "randomised_on",
        "allocation_number",
        "arm",
        pl.coalesce("death_on", "news_from_events").alias("last_news_on"),
        (pl.col("death_on").is_not_null()).cast(pl.Int8).alias("died"),
        "death_on",
        "end_of_treatment_on",
        "end_of_treatment_reason",
        "deviations_major",
        "deviations_minor",
        "deviations_pending",
        itt.cast(pl.Int8).alias("itt"),
        (itt & (pl.col("deviations_major") == 0)).cast(pl.Int8).alias("per_protocol"),
        pl.col("treated").fill_null(False).cast(pl.Int8).alias("safety"),
    ).sort("subject")


def last_news_with(subjects: pl.DataFrame, captured: pl.DataFrame) -> pl.DataFrame:
    """Return the subjects with their last news raised by the dates captured in their forms
    (``captured``: subject_id, day), never past their death."""
    if captured.is_empty():
        return subjects
    latest = captured.group_by("subject_id").agg(pl.col("day").max().alias("captured_news"))
    return (
        subjects.join(latest, on="subject_id", how="left")
        .with_columns(
            pl.when(pl.col("death_on").is_not_null())
            .then(pl.col("death_on"))
            .otherwise(pl.max_horizontal("last_news_on", "captured_news"))
            .alias("last_news_on")
        )
        .drop("captured_news")
    )


def captured_dates(plan: ExportPlan, form: str, values: pl.DataFrame, until: date) -> pl.DataFrame:
    """Return (subject_id, day) of the form's captured dates up to ``until``: news of a subject."""
    names = [
        column.name
        for dataset in plan.datasets
        if dataset.form == form
        for column in dataset.items
        if column.dtype == pl.Date()
    ]
    schema = {"subject_id": pl.Int64, "day": pl.Date}
    if not names or values.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        values.filter(pl.col("item").is_in(names) & ~pl.col("removed"))
        .select("subject_id", pl.col("text").str.to_date("%Y-%m-%d", strict=False).alias("day"))
        .filter(pl.col("day").is_not_null() & (pl.col("day") <= until))
        .group_by("subject_id")
        .agg(pl.col("day").max())
    )


def _visits_at(study: Study, cutoff: Cutoff, events: pl.DataFrame | None = None) -> pl.DataFrame:
    """Return each visit's date at the cut-off: (subject id, event, occurrence) -> visit date."""
    events = study_events(study, cutoff) if events is None else events
    return (
        events.filter(pl.col("action") == VISIT_ACTION)
        .unique(subset=["target", "event_name", "occurrence"], keep="last", maintain_order=True)
        .select(
            pl.col("target").cast(pl.Int64).alias("subject_id"),
            pl.col("event_name").alias("event"),
            pl.col("occurrence").cast(pl.Int64),
            pl.col("visit_on").str.to_date(strict=False).alias("visit_date"),
        )
    )


def _version_steps(study: Study, cutoff: Cutoff) -> pl.DataFrame:
    """Return (seq, version number) of each publication up to the cut-off."""
    return pl.DataFrame(
        _publications(study, cutoff),
        schema={"seq": pl.Int64, "crf_version": pl.Int64},
        orient="row",
    )


# What an `item.changed` event's new value holds that a dataset needs (other keys are ignored).
ITEM_CHANGE = pl.Struct(
    {
        "text": pl.String,
        "missing": pl.String,
        "removed": pl.Boolean,
        "event": pl.String,
        "occurrence": pl.Int64,
        "form": pl.String,
        "repeat": pl.Int64,
        "item": pl.String,
        "row": pl.Int64,
    }
)


# The columns of a form's values at the cut-off, whichever way they were read.
VALUE_COLUMNS = (
    "seq",
    "instance",
    "subject_id",
    "event",
    "occurrence",
    "repeat",
    "item",
    "row",
    "text",
    "missing",
    "removed",
)
KEY = ["instance", "item", "row"]
# What a value's form instance says of it: the same for every value of the instance.
INSTANCE_OWNERS = ("subject_id", "event", "occurrence", "repeat")
# Targets named at a time in a lookup of their events (SQLite's limit on parameters).
TARGETS_AT_A_TIME = 500


def _identifying_items(study: Study, cutoff: Cutoff) -> list[str]:
    """Return the items identifying in any version published at the cut-off: their values
    never leave, so they are never read."""
    return sorted(
        {
            item.name
            for version in _versions_at(study, cutoff)
            for _form, _group, item in version.parsed().items()
            if item.identifying
        }
    )


def _parts(frames: Iterable[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """Yield the frames gathered into parts of at least ``rows`` rows (the last may be less)."""
    pending: list[pl.DataFrame] = []
    held = 0
    for frame in frames:
        pending.append(frame)
        held += frame.height
        if held >= rows:
            yield pl.concat(pending)
            pending, held = [], 0
    if pending:
        yield pl.concat(pending)


def _set_aside(frame: pl.DataFrame, folder: Path, number: int) -> None:
    """Write one part of a form's values into its folder of the export's temporary files."""
    # Arrow IPC, zstd: written twice as fast as Parquet and read back as fast, about as small.
    frame.write_ipc(folder / f"{number:08d}.arrow", compression="zstd")


def _taken_back(folder: Path) -> pl.DataFrame:
    """Return the parts set aside in a folder, in the order they were written."""
    return pl.scan_ipc(folder / "*.arrow").collect()


def _target_keys(targets: pl.Expr) -> list[pl.Expr]:
    """Return (instance, item, row) from an `item.changed` event's target ("12:weight:0")."""
    parts = targets.str.split(":")
    return [
        parts.list.first().cast(pl.Int64).alias("instance"),
        parts.list.slice(1, parts.list.len() - 2).list.join(":").alias("item"),
        parts.list.last().cast(pl.Int64).alias("row"),
    ]


class TrailReplay:
    """The study's value changes up to a cut-off, read once and set aside by form: the full
    replay of the audit trail, kept as the reference `ValueChanges` is proven equal to.

    One pass reads every `item.changed` event of the chain up to the cut-off, in chunks; the
    JSON is decoded by Polars, not row by row, and each chunk is written to one Parquet file per
    form in a temporary folder. A form is then read back alone: memory holds one chunk while
    reading, one form's changes while building its dataset.
    """

    def __init__(self, study: Study, cutoff: Cutoff, folder: Path) -> None:
        self.folder = folder
        self.forms: set[str] = set()
        self.identifying = _identifying_items(study, cutoff)
        events = (
            AuditEvent.objects.filter(
                chain=study.audit_chain, seq__lte=cutoff.seq, action="item.changed"
            )
            .order_by()
            .annotate(body=Cast("new", TextField()))
            .values_list("seq", "target_id", "body")
        )
        schema = {"seq": pl.Int64, "target": pl.String, "body": pl.String}
        for number, frame in enumerate(_frames(events.iterator(chunk_size=CHUNK), schema)):
            decoded = frame.select(
                "seq",
                pl.col("target").str.split(":").list.first().cast(pl.Int64).alias("instance"),
                pl.col("body").str.json_decode(ITEM_CHANGE).alias("body"),
            ).unnest("body")
            for (form,), part in decoded.partition_by("form", as_dict=True).items():
                place = folder / str(form)
                place.mkdir(exist_ok=True)
                _set_aside(part.drop("form"), place, number)
                self.forms.add(str(form))

    def of_form(self, form: str) -> pl.DataFrame:
        """Return the last change of each value of the form (instance, item, row)."""
        if form not in self.forms:
            return pl.DataFrame()
        values = (
            _taken_back(self.folder / form)
            .sort("seq")
            .unique(subset=KEY, keep="last", maintain_order=True)
            .filter(~pl.col("item").is_in(self.identifying))
        )
        # Which subject and environment an instance belongs to never changes once written.
        instance_ids = values.get_column("instance").unique().to_list()
        owners = pl.DataFrame(
            [
                row
                for start in range(0, len(instance_ids), TARGETS_AT_A_TIME)
                for row in FormInstance.objects.filter(
                    pk__in=instance_ids[start : start + TARGETS_AT_A_TIME],
                    environment=Environment.PRODUCTION,
                ).values_list("pk", "subject_id")
            ],
            schema={"instance": pl.Int64, "subject_id": pl.Int64},
            orient="row",
        )
        return values.join(owners, on="instance", how="inner")


class ValueChanges:
    """The values of the study's forms at a cut-off: today's values, with each value changed
    since the cut-off taken back to its state then, from its own audit events.

    Every write of a value writes its `item.changed` event in the same transaction (`carnet
    audit verify --data` proves the tables equal the trail), so a value without an event after
    the cut-off is today what it was at the cut-off; one with such events is what its last
    event up to the cut-off says (nothing if it had none). The current values are read first
    and the events after the cut-off next: a save committed in between is among those events.
    Reading today's values costs about what the floor does (one streamed query); the events
    read are those after the cut-off and those of the values they name (by the target index).

    The current values are set aside in one Parquet file per form and chunk, as the replay did,
    so that memory holds one chunk while reading and one form while building its dataset.
    """

    def __init__(self, study: Study, cutoff: Cutoff, folder: Path) -> None:
        self.folder = folder
        self.forms: set[str] = set()
        self.identifying = _identifying_items(study, cutoff)
        owners = {
            "instance": pl.Int64,
            "subject_id": pl.Int64,
            "event": pl.String,
            "occurrence": pl.Int64,
            "form": pl.String,
            "repeat": pl.Int64,
        }
        instances = pl.concat(
            [
                pl.DataFrame(schema=owners),
                *_read_frames(
                    FormInstance.objects.filter(
                        subject__study=study, environment=Environment.PRODUCTION
                    )
                    .order_by()
                    .values_list("pk", "subject_id", "event", "occurrence", "form", "repeat"),
                    owners,
                ),
            ],
            how="vertical",
        )
        self._set_aside_current(study, instances)
        changes = AuditEvent.objects.filter(chain=study.audit_chain, action="item.changed")
        later = self._changed_since(changes.filter(seq__gt=cutoff.seq))
        self.later = later.join(instances.select("instance", "form"), on="instance")
        self.replayed = self._replayed(study, cutoff, later).join(instances, on="instance")
        self.forms |= set(self.replayed.get_column("form").unique().to_list())
        self.default_seq, exact = _last_change_seqs(study, cutoff)
        self.exact = exact is not None
        if exact is not None:
            self._set_aside_seqs(exact, instances)

    def _set_aside_seqs(self, exact: Any, instances: pl.DataFrame) -> None:
        """Write the exact sequence numbers by form, as the values are (memory stays flat)."""
        schema = {"target": pl.String, "seq": pl.Int64}
        for number, frame in enumerate(_frames(exact.iterator(chunk_size=CHUNK), schema)):
            keyed = frame.select(*_target_keys(pl.col("target")), "seq").join(
                instances.select("instance", "form"), on="instance"
            )
            for (form,), part in keyed.partition_by("form", as_dict=True).items():
                place = self.folder / "last-changes" / str(form)
                place.mkdir(parents=True, exist_ok=True)
                _set_aside(part.drop("form"), place, number)

    def _set_aside_current(self, study: Study, instances: pl.DataFrame) -> None:
        """Write today's values that hold something (not in a removed row) by form."""
        current = (
            ItemValue.objects.filter(
                form_instance__subject__study=study,
                form_instance__environment=Environment.PRODUCTION,
                removed=False,
            )
            .exclude(text="", missing_code="")
            .exclude(item__in=self.identifying)
            .order_by()
            .values_list("form_instance_id", "item", "row", "text", "missing_code")
        )
        schema = {
            "instance": pl.Int64,
            "item": pl.String,
            "row": pl.Int64,
            "text": pl.String,
            "missing": pl.String,
        }
        # Each part is set aside by a thread while the next is read: the database (or its
        # driver) and Polars work at once, on two cores. One part is written while one is read,
        # so memory holds two parts at most.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-set-aside") as writer:
            written: Future[None] | None = None
            parts = _parts(_read_frames(current, schema), CHUNK * CHUNKS_A_PART)
            for number, part in enumerate(parts):
                if written is not None:
                    written.result()
                written = writer.submit(self._write_part, part, instances, number)
            if written is not None:
                written.result()

    def _write_part(self, values: pl.DataFrame, instances: pl.DataFrame, number: int) -> None:
        owned = values.join(instances, on="instance", how="inner")
        for (form,), part in owned.partition_by("form", as_dict=True).items():
            place = self.folder / str(form)
            place.mkdir(exist_ok=True)
            _set_aside(part.drop("form"), place, number)
            self.forms.add(str(form))

    @staticmethod
    def _changed_since(events: Any) -> pl.DataFrame:
        """Return the keys of the values with an event in ``events`` (after the cut-off)."""
        targets = events.order_by().values_list("target_id", flat=True).distinct()
        frame = pl.DataFrame(
            {"target": list(targets.iterator(chunk_size=CHUNK))}, schema={"target": pl.String}
        )
        return frame.select(_target_keys(pl.col("target")))

    def _replayed(self, study: Study, cutoff: Cutoff, later: pl.DataFrame) -> pl.DataFrame:
        """Return the state up to the cut-off of the values changed since, from their events."""
        keys = later.select(
            pl.format("{}:{}:{}", "instance", "item", "row").alias("target")
        ).get_column("target")
        targets = keys.to_list()
        # By the targets alone (the target index); the chain, the action and the cut-off are
        # applied here: given them, SQLite would rather scan the chain.
        rows = [
            (seq, target, body)
            for start in range(0, len(targets), TARGETS_AT_A_TIME)
            for seq, target, body, chain, action in AuditEvent.objects.filter(
                target_type="capture.itemvalue",
                target_id__in=targets[start : start + TARGETS_AT_A_TIME],
            )
            .order_by()
            .annotate(body=Cast("new", TextField()))
            .values_list("seq", "target_id", "body", "chain", "action")
            if chain == study.audit_chain and action == "item.changed" and seq <= cutoff.seq
        ]
        frame = pl.DataFrame(
            rows, schema={"seq": pl.Int64, "target": pl.String, "body": pl.String}, orient="row"
        )
        return (
            frame.sort("seq")
            .unique(subset="target", keep="last", maintain_order=True)
            .select(
                "seq",
                *_target_keys(pl.col("target")),
                pl.col("body").str.json_decode(ITEM_CHANGE).alias("body"),
            )
            .select(
                "seq",
                *KEY,
                pl.col("body").struct.field("text"),
                pl.col("body").struct.field("missing"),
                pl.col("body").struct.field("removed").fill_null(False),
            )
            .filter(~pl.col("item").is_in(self.identifying))
        )

    def of_form(self, form: str) -> pl.DataFrame:
        """Return each value of the form at the cut-off with its owner (VALUE_COLUMNS)."""
        if form not in self.forms:
            return pl.DataFrame()
        place = self.folder / form
        schema = {
            "instance": pl.Int64,
            "item": pl.String,
            "row": pl.Int64,
            "text": pl.String,
            "missing": pl.String,
            "subject_id": pl.Int64,
            "event": pl.String,
            "occurrence": pl.Int64,
            "repeat": pl.Int64,
        }
        current = _taken_back(place) if place.is_dir() else pl.DataFrame(schema=schema)
        changed = self.later.filter(pl.col("form") == form).drop("form")
        if changed.height:
            current = current.join(changed, on=KEY, how="anti")
        current = current.with_columns(pl.lit(False).alias("removed"))
        seqs = self.folder / "last-changes" / form
        if not self.exact or not seqs.is_dir():
            current = current.with_columns(pl.lit(self.default_seq, pl.Int64).alias("seq"))
        else:
            current = current.join(_taken_back(seqs), on=KEY, how="left").with_columns(
                pl.col("seq").fill_null(self.default_seq)
            )
        replayed = self.replayed.filter(pl.col("form") == form).drop("form")
        if not replayed.height:
            return current.select(VALUE_COLUMNS)
        return pl.concat(
            [current.select(VALUE_COLUMNS), replayed.select(VALUE_COLUMNS)], how="vertical"
        )


def _last_change_seqs(study: Study, cutoff: Cutoff) -> tuple[int, Any]:
    """Return what stands for the sequence number of each value's last change up to the
    cut-off: a default, and the query of the exact numbers of the values that need one
    (target, seq), or None.

    A dataset uses that number only to find the study version published before it
    (`_version_steps`). Every change made after the last publication preceding the study's
    first `item.changed` event and before the next one gives that publication's version: the
    default stands for them. Only the values changed after that next publication need their
    number, read as one aggregate of the events' targets (no JSON); none are read in a study
    not amended since its first value. Should a value predate every publication (the replay
    gives it no version), every number is read."""
    publications = _version_steps(study, cutoff).get_column("seq").to_list()
    changes = AuditEvent.objects.filter(
        chain=study.audit_chain, action="item.changed", seq__lte=cutoff.seq
    )
    first = changes.order_by("seq").values_list("seq", flat=True).first()
    if first is None or not publications:
        return cutoff.seq, None
    before = [seq for seq in publications if seq < first]
    if not before:
        low, default = 0, 0
    else:
        after = [seq for seq in publications if seq > first]
        if not after:
            return before[-1], None
        low, default = after[0], before[-1]
    last = (
        changes.filter(seq__gt=low)
        .order_by()
        .values("target_id")
        .annotate(last=Max("seq"))
        .values_list("target_id", "last")
    )
    return default, last


# Undoing reads today's values, then looks up each value changed since the cut-off by its
# target: worth it while those are few beside what preceded the cut-off. An old cut-off of a
# study that has grown since (a tenth or more as many changes after it as events before it)
# replays the trail up to it instead: at 10,000 patients a cut-off taken at 1,000 took 102 s
# undone against 11 s replayed. Both give the same values (tests/interop/test_values_at_cutoff.py).
UNDO_SHARE = 10


def values_at_cutoff(study: Study, cutoff: Cutoff, folder: Path) -> ValueChanges | TrailReplay:
    """Return the study's values at the cut-off, read the cheaper of the two exact ways."""
    limit = cutoff.seq // UNDO_SHARE + 1
    later = AuditEvent.objects.filter(
        chain=study.audit_chain, action="item.changed", seq__gt=cutoff.seq
    ).order_by()[:limit]
    if later.count() >= limit:
        return TrailReplay(study, cutoff, folder)
    return ValueChanges(study, cutoff, folder)


def form_values_at(
    changes: ValueChanges | TrailReplay, form: str, *, in_order: bool = True
) -> pl.DataFrame:
    """Return every value of one form in production that held something at the cut-off (a
    text or a missing code, not in a removed row), but never an identifying one.

    Columns (VALUE_COLUMNS): seq (stands for the value's last change: the same study version
    precedes it), instance, subject_id, event, occurrence, repeat, item, row, text, missing,
    removed (always false).

    In the values' own order (KEY), not the one the database or a join handed them over in (no
    order: PostgreSQL moves a row it updates), so that whatever reads them in order (the
    laboratory's baselines) gives the same answer at the same cut-off every time; unless
    ``in_order`` is false, for a reader that orders what it makes itself (`dataset_frame`):
    sorting every value of a large study is a second or more for nothing.
    """
    values = changes.of_form(form)
    if values.is_empty():
        return values
    held = (
        values.with_columns(pl.col("removed").fill_null(False))
        .filter(~pl.col("removed") & ((pl.col("text") != "") | (pl.col("missing") != "")))
        .select(VALUE_COLUMNS)
    )
    return held.sort(KEY) if in_order else held


# --- building a dataset --------------------------------------------------------------------


def _typed(column: Column) -> pl.Expr:
    """Return the expression turning a value's canonical text into its column's type."""
    text = pl.col(column.name)
    kind = _kind(column.item) if column.item is not None else "text"
    if column.dtype == pl.Int64():
        return text.cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)
    if column.dtype == pl.Float64():
        return text.cast(pl.Float64, strict=False)
    if column.dtype == pl.Date():
        return text.str.to_date("%Y-%m-%d", strict=False)
    if column.dtype == pl.Datetime("us"):
        return text.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us")
    if column.decoded is not None:
        return text.replace_strict(dict(column.decoded), default=text, return_dtype=pl.String)
    if kind == "boolean":
        return pl.when(text == "true").then(1).when(text == "false").then(0).cast(pl.Int8)
    return text


def _imputed(name: str) -> pl.Expr:
    """Return a partial date's imputed date (IMPUTATION_RULE)."""
    text = pl.col(name)
    completed = (
        pl.when(text.str.len_chars() == 4)
        .then(text + "-07-01")
        .when(text.str.len_chars() == 7)
        .then(text + "-15")
        .otherwise(text)
    )
    return completed.str.to_date("%Y-%m-%d", strict=False)


def _pivoted(values: pl.DataFrame, index: list[str], column: str) -> pl.DataFrame:
    """Return the values' ``column`` with a column per item and a row per ``index``."""
    try:
        # A value's keys are unique (instance, item, row): no aggregate is needed, which makes
        # the pivot about three times faster.
        return values.pivot(on="item", index=index, values=column)
    except pl.exceptions.ComputeError:
        # Two values in one cell (a non-repeating group's value on a row other than 0, sorted
        # by key first by `dataset_frame`): the first is kept, as it always was.
        return values.pivot(on="item", index=index, values=column, aggregate_function="first")


def dataset_frame(
    dataset: Dataset,
    values: pl.DataFrame,
    *,
    subjects: pl.DataFrame,
    visits: pl.DataFrame,
    versions: pl.DataFrame,
) -> pl.DataFrame:
    """Return one dataset: a row per form instance (and repeat row), typed columns."""
    names = [column.item.name for column in dataset.items if column.item is not None]
    empty = pl.DataFrame(schema={column.name: column.dtype for column in dataset.columns})
    if values.is_empty():
        return empty
    mine = values.filter(pl.col("item").is_in(names))
    if not dataset.repeating_group:
        # A non-repeating group's values are on row 0. Should one be on another all the same,
        # its cell keeps the first value in key order (`_pivoted`), as it always did.
        if (mine.get_column("row") != 0).any():
            mine = mine.sort(KEY)
        mine = mine.with_columns(pl.lit(0, pl.Int64).alias("row"))
    # A removed repeat row leaves the dataset; so does a row with nothing in it.
    mine = mine.filter(~pl.col("removed"))
    mine = mine.filter((pl.col("text") != "") | (pl.col("missing") != ""))
    if mine.is_empty():
        return empty
    # Pivoted by (instance, row) alone: an instance's subject, event, occurrence and repeat are
    # one, taken once per row of the dataset rather than carried through the pivot.
    index = ["instance", "row"]
    rows = mine.group_by(index).agg(
        pl.col("seq").max(), *(pl.col(name).first() for name in INSTANCE_OWNERS)
    )
    texts = _pivoted(mine, index, "text")
    wide = (
        rows.sort("seq")
        .join_asof(versions, on="seq", strategy="backward")
        .join(texts, on=index, how="left")
    )
    # Missing-data codes are rare: only the values that have one are pivoted.
    coded = mine.filter(pl.col("missing") != "")
    if coded.height:
        missing = _pivoted(coded, index, "missing")
        missing = missing.rename({name: f"{name}_mc" for name in names if name in missing.columns})
        wide = wide.join(missing, on=index, how="left")
    wide = wide.join(
        subjects.select("subject_id", "study", "site", "subject"), on="subject_id"
    ).join(visits, on=["subject_id", "event", "occurrence"], how="left")
    for column in dataset.columns:
        if column.name not in wide.columns:
            source = column.item.name if column.role == "imputed" and column.item else None
            wide = wide.with_columns(
                _imputed(source).alias(column.name)
                if source
                else pl.lit(None, pl.String).alias(column.name)
            )
    ordered = wide.select(
        (_typed(column) if column.role == "value" else pl.col(column.name))
        .cast(column.dtype)
        .alias(column.name)
        for column in dataset.columns
    )
    sort = ["site", "subject", "event", "occurrence", "repeat"]
    return ordered.sort([*sort, "row"] if dataset.repeating_group else sort)


def subject_dataset(plan: ExportPlan, subjects: pl.DataFrame) -> pl.DataFrame:
    """Return the subject-level dataset; the arm only in an unblinded export."""
    frame = subjects.drop("subject_id")
    if plan.sites is not None:
        frame = frame.filter(pl.col("site").is_in(sorted(plan.sites)))
    if not plan.unblinded:
        frame = frame.drop("arm")
    return frame.sort(["site", "subject"])


SUBJECT_LABELS = {
    "study": "Study",
    "site": "Site",
    "subject": "Subject",
    "study_status": "Status in the study",
    "study_status_on": "Date of the study status",
    "treatment_status": "Treatment status",
    "treatment_status_on": "Date of the treatment status",
    "included_on": "Date of inclusion",
    "randomised_on": "Date of randomisation",
    "allocation_number": "Allocation number",
    "arm": "Arm",
    "last_news_on": "Date of last news",
    "died": "Died",
    "death_on": "Date of death",
    "end_of_treatment_on": "Date of the end of treatment",
    "end_of_treatment_reason": "Reason for the end of treatment",
    "deviations_major": "Confirmed major protocol deviations",
    "deviations_minor": "Confirmed minor protocol deviations",
    "deviations_pending": "Protocol deviations awaiting review",
    "itt": "Intention-to-treat population",
    "per_protocol": "Per-protocol population",
    "safety": "Safety population (started the treatment)",
}


def subject_columns(frame: pl.DataFrame) -> tuple[Column, ...]:
    """Return the subject dataset's columns as the writers describe them."""
    return tuple(
        Column(
            name,
            dtype,
            SUBJECT_LABELS.get(name, name),
            role="flag" if dtype == pl.Int8() else "key",
        )
        for name, dtype in frame.schema.items()
    )


def form_of(definition: StudyDefinition, name: str) -> Form | None:
    return next((form for form in definition.forms if form.name == name), None)


def reader_inputs(
    study: Study, cutoff: Cutoff, *, randomised_design: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Return what every dataset joins: the subjects, the visits and the version steps."""
    events = study_events(study, cutoff)
    return (
        subjects_at(study, cutoff, randomised_design=randomised_design, events=events),
        _visits_at(study, cutoff, events),
        _version_steps(study, cutoff),
    )
