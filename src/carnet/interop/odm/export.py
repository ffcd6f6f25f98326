"""A study at a cut-off as one CDISC ODM 1.3.2 file, streamed: memory stays flat.

The metadata (events, forms, groups, items, code lists in both languages, units, ranges,
branching and calculations) are small and written whole. The clinical data are rebuilt from the
audit trail up to the cut-off, as every export is (datasets.py): one pass over the study's
`item.changed` events sets each change aside, in Parquet, in the part of the subjects it
belongs to (250 subjects a part, in the order of the file); each part is then read back,
reduced (the last state of each value, for a snapshot; every change with its `AuditRecord`, for
a transactional file) and written with lxml's incremental writer before the next one is read.

Never in the file: identifying items (the vault's values are not read at all), files, test data,
and, for a blinded reader, the arm and arm-revealing items (the blinding policy, as the other
exports apply it: `export_plan`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import polars as pl
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils.translation import gettext as _
from lxml import etree

from carnet.audit.models import AuditEvent
from carnet.capture.models import FormInstance
from carnet.core.errors import ValidationError
from carnet.interop.datasets import (
    CHUNK,
    ITEM_CHANGE,
    _frames,
    _versions_at,
    export_plan,
    subjects_at,
)
from carnet.interop.exports import _reader
from carnet.interop.models import Cutoff
from carnet.interop.odm.metadata import (
    ODM_NS,
    Metadata,
    basic_definitions,
    global_variables,
    metadata_elements,
    metadata_of,
)
from carnet.interop.services import export_record
from carnet.studies.models import Study
from carnet.subjects.environments import Environment

# Subjects written per part: what memory holds at once is one part's values (a few hundred
# thousand values for a study of a thousand values a subject).
SUBJECTS_PER_PART = 250
MODES = ("snapshot", "transactional")
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class OdmMade:
    """What an ODM export wrote: subjects, values (or changes), the file's SHA-256."""

    subjects: int
    values: int
    sha256: str
    unblinded: bool


class _HashingWriter:
    """A binary stream that hashes what passes through it (the file's SHA-256)."""

    def __init__(self, target: IO[bytes]) -> None:
        import hashlib

        self.target = target
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.target.write(data)


def _q(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def _location(site: str) -> str:
    return f"LOC.{site}"


def _user(actor_id: int | None) -> str:
    return f"USR.{actor_id}" if actor_id is not None else "USR.SYSTEM"


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class ClinicalParts:
    """The study's value changes up to the cut-off, set aside by part of the subjects."""

    def __init__(
        self,
        study: Study,
        cutoff: Cutoff,
        folder: Path,
        subjects: pl.DataFrame,
        items: set[str],
        *,
        with_audit: bool,
    ) -> None:
        self.folder = folder
        self.parts: set[int] = set()
        ranks = subjects.select(
            "subject_id", (pl.int_range(pl.len()) // SUBJECTS_PER_PART).alias("part")
        )
        self.count = subjects.height
        columns = ["seq", "target_id", "body"]
        if with_audit:
            columns += ["occurred_at", "actor_id", "actor_label", "reason"]
        events = (
            AuditEvent.objects.filter(
                chain=study.audit_chain, seq__lte=cutoff.seq, action="item.changed"
            )
            .order_by()
            .annotate(body=Cast("new", TextField()))
            .values_list(*columns)
        )
        schema: dict[str, Any] = {"seq": pl.Int64, "target": pl.String, "body": pl.String}
        if with_audit:
            schema |= {
                "occurred_at": pl.Datetime("us", "UTC"),
                "actor_id": pl.Int64,
                "actor_label": pl.String,
                "reason": pl.String,
            }
        for number, frame in enumerate(_frames(events.iterator(chunk_size=CHUNK), schema)):
            decoded = (
                frame.with_columns(
                    pl.col("target").str.split(":").list.first().cast(pl.Int64).alias("instance"),
                    pl.col("body").str.json_decode(ITEM_CHANGE).alias("body"),
                )
                .drop("target")
                .unnest("body")
                .filter(pl.col("item").is_in(sorted(items)))
            )
            if decoded.is_empty():
                continue
            owners = pl.DataFrame(
                list(
                    FormInstance.objects.filter(
                        pk__in=decoded.get_column("instance").unique().to_list(),
                        environment=Environment.PRODUCTION,
                    ).values_list("pk", "subject_id")
                ),
                schema={"instance": pl.Int64, "subject_id": pl.Int64},
                orient="row",
            )
            placed = decoded.join(owners, on="instance").join(ranks, on="subject_id")
            for (part,), rows in placed.partition_by("part", as_dict=True).items():
                place = folder / str(part)
                place.mkdir(exist_ok=True)
                rows.drop("part").write_parquet(place / f"{number:08d}.parquet")
                self.parts.add(int(str(part)))

    def of_part(self, part: int) -> pl.DataFrame:
        if part not in self.parts:
            return pl.DataFrame()
        return pl.read_parquet(self.folder / str(part) / "*.parquet").sort("seq")


@dataclass
class _Order:
    """Where each event, form and item comes in the file (the study definition's order)."""

    events: dict[str, int]
    forms: dict[str, int]
    items: dict[str, int]


def _order(meta: Metadata) -> _Order:
    items: dict[str, int] = {}
    for groups in meta.groups.values():
        for _group, group_items in groups.values():
            for name in group_items:
                items.setdefault(name, len(items))
    return _Order(
        events={event.name: n for n, event in enumerate(meta.events)},
        forms={name: n for n, name in enumerate(meta.groups)},
        items=items,
    )


def _sorted_part(values: pl.DataFrame, order: _Order, subjects: pl.DataFrame) -> pl.DataFrame:
    return (
        values.join(subjects.select("subject_id", "subject", "site"), on="subject_id")
        .with_columns(
            pl.col("event").replace_strict(order.events, default=len(order.events)).alias("_e"),
            pl.col("form").replace_strict(order.forms, default=len(order.forms)).alias("_f"),
            pl.col("item").replace_strict(order.items, default=len(order.items)).alias("_i"),
            pl.col("row").fill_null(0),
        )
        .sort(["subject", "_e", "occurrence", "_f", "repeat", "row", "_i", "seq"])
    )


def _snapshot(values: pl.DataFrame) -> pl.DataFrame:
    """Return each value's last state, without removed rows and empty values."""
    if values.is_empty():
        return values
    last = values.unique(subset=["instance", "item", "row"], keep="last", maintain_order=True)
    return last.filter(
        ~pl.col("removed").fill_null(False)
        & ((pl.col("text").fill_null("") != "") | (pl.col("missing").fill_null("") != ""))
    )


class _ClinicalWriter:
    """Writes the nested SubjectData … ItemData of sorted values, opening and closing elements
    as the keys change."""

    def __init__(self, xf: Any, meta: Metadata, *, transactional: bool) -> None:
        self.xf = xf
        self.meta = meta
        self.transactional = transactional
        self.group_of = meta.group_of()
        self.events = {event.name: event for event in meta.events}
        self.forms = meta.forms
        self.values = 0
        self.subjects = 0
        # The ItemGroupData being filled: built whole, then written in one call (far fewer
        # writes than one per value; a group holds one row of one form).
        self.pending: etree._Element | None = None

    def write(self, rows: Iterator[dict[str, Any]]) -> None:
        """Write the rows (sorted by subject, event, occurrence, form, repeat, row, item)."""
        stack: list[tuple[Any, Any]] = []  # (key, context manager) per open level
        for row in rows:
            group, _item = self.group_of[(row["form"], row["item"])]
            keys = (
                row["subject"],
                (row["event"], row["occurrence"]),
                (row["form"], row["repeat"]),
                (group.name, row["row"] if group.repeating else 0),
            )
            depth = 0
            while depth < len(stack) and stack[depth][0] == keys[depth]:
                depth += 1
            while len(stack) > depth:
                stack.pop()[1].__exit__(None, None, None)
            for level in range(depth, 4):
                manager = self._open(level, row, group)
                manager.__enter__()
                stack.append((keys[level], manager))
            self._item(row)
        while stack:
            stack.pop()[1].__exit__(None, None, None)

    def _open(self, level: int, row: dict[str, Any], group: Any) -> Any:
        upsert = {"TransactionType": "Upsert"} if self.transactional else {}
        if level == 0:
            self.subjects += 1
            manager = self.xf.element(_q("SubjectData"), SubjectKey=row["subject"], **upsert)
            manager.__enter__()
            self.xf.write(etree.Element(_q("SiteRef"), LocationOID=_location(row["site"])))
            return _Entered(manager)
        if level == 1:
            event = self.events.get(row["event"])
            attributes = {"StudyEventOID": event.oid if event else f"SE.{row['event']}"}
            if (event is not None and event.repeating) or row["occurrence"] != 1:
                attributes["StudyEventRepeatKey"] = str(row["occurrence"])
            return self.xf.element(_q("StudyEventData"), **attributes, **upsert)
        if level == 2:
            form = self.forms[row["form"]]
            attributes = {"FormOID": form.oid}
            if form.repeating or row["repeat"] != 1:
                attributes["FormRepeatKey"] = str(row["repeat"])
            return self.xf.element(_q("FormData"), **attributes, **upsert)
        attributes = {"ItemGroupOID": group.oid}
        if group.repeating:
            attributes["ItemGroupRepeatKey"] = str(row["row"])
        return _GroupData(self, etree.Element(_q("ItemGroupData"), attributes, **upsert))

    def _item(self, row: dict[str, Any]) -> None:
        _group, item = self.group_of[(row["form"], row["item"])]
        value = row["missing"] or row["text"] or ""
        assert self.pending is not None
        element = etree.SubElement(self.pending, _q("ItemData"), ItemOID=item.oid)
        if self.transactional:
            removed = bool(row.get("removed"))
            element.set("TransactionType", "Remove" if removed else "Upsert")
            if value and not removed:
                element.set("Value", value)
            elif not removed:
                element.set("IsNull", "Yes")
            element.append(_audit_record(row))
        else:
            element.set("Value", value)
        self.values += 1


class _GroupData:
    """An ItemGroupData built in memory while its values come, written when it closes."""

    def __init__(self, writer: _ClinicalWriter, element: etree._Element) -> None:
        self.writer = writer
        self.element = element

    def __enter__(self) -> None:
        self.writer.pending = self.element

    def __exit__(self, *exc: Any) -> None:
        self.writer.xf.write(self.element)
        self.writer.pending = None


class _Entered:
    """A SubjectData already entered (its SiteRef written): leaving it closes it."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        self.manager.__exit__(*exc)


def _audit_record(row: dict[str, Any]) -> etree._Element:
    record = etree.Element(_q("AuditRecord"))
    etree.SubElement(record, _q("UserRef"), UserOID=_user(row["actor_id"]))
    etree.SubElement(record, _q("LocationRef"), LocationOID=_location(row["site"]))
    etree.SubElement(record, _q("DateTimeStamp")).text = _stamp(row["occurred_at"])
    if row["reason"]:
        etree.SubElement(record, _q("ReasonForChange")).text = row["reason"]
    etree.SubElement(record, _q("SourceID")).text = f"audit:{row['seq']}"
    return record


def _admin_data(
    meta: Metadata, study_oid: str, sites: list[str], users: list[tuple[int | None, str]], day: str
) -> etree._Element:
    admin = etree.Element(_q("AdminData"), StudyOID=study_oid, nsmap={None: ODM_NS})
    for actor_id, label in users:
        user = etree.SubElement(admin, _q("User"), OID=_user(actor_id))
        etree.SubElement(user, _q("FullName")).text = label
    for site in sites:
        location = etree.SubElement(admin, _q("Location"), OID=_location(site), Name=site)
        location.set("LocationType", "Site")
        etree.SubElement(
            location,
            _q("MetaDataVersionRef"),
            StudyOID=study_oid,
            MetaDataVersionOID=meta.oid,
            EffectiveDate=day,
        )
    return admin


def _users(study: Study, cutoff: Cutoff) -> list[tuple[int | None, str]]:
    """Return who made the value changes up to the cut-off (for AdminData's users)."""
    rows = (
        AuditEvent.objects.filter(
            chain=study.audit_chain, seq__lte=cutoff.seq, action="item.changed"
        )
        .order_by("actor_id")
        .values_list("actor_id", "actor_label")
        .distinct()
    )
    seen: dict[int | None, str] = {}
    for actor_id, label in rows:
        seen.setdefault(actor_id, label)
    return sorted(seen.items(), key=lambda pair: (pair[0] is None, pair[0] or 0))


def odm_write(
    *,
    actor: Any,
    study: Study,
    cutoff: Cutoff,
    target: IO[bytes],
    mode: str = "snapshot",
    unblinded: bool = False,
    record: bool = True,
) -> OdmMade:
    """Write the study at the cut-off as an ODM 1.3.2 file into ``target`` and record the export.

    ``mode`` "snapshot" writes each value's state at the cut-off; "transactional" every change
    up to it, each with its AuditRecord (who, when, why). The same cut-off gives the same bytes.
    """
    if mode not in MODES:
        raise ValidationError(
            _("mode: %(mode)r is not one of %(modes)s.") % {"mode": mode, "modes": ", ".join(MODES)}
        )
    if cutoff.study_id != study.pk:
        raise ValidationError(_("cutoff: this cut-off belongs to another study."))
    blinding, scope, codes = _reader(actor, study, unblinded)
    plan = export_plan(study=study, cutoff=cutoff, blinding=blinding, scope=scope, site_codes=codes)
    exported = {
        column.item.name
        for dataset in plan.datasets
        for column in dataset.items
        if column.item is not None
    }
    versions = _versions_at(study, cutoff)
    if not versions:
        raise ValidationError(_("cutoff: no study version was published at this cut-off."))
    meta = metadata_of([v.parsed() for v in versions], versions[-1].number, exported)
    subjects = subjects_at(study, cutoff, randomised_design=plan.randomised)
    if plan.sites is not None:
        subjects = subjects.filter(pl.col("site").is_in(sorted(plan.sites)))
    subjects = subjects.select("subject_id", "subject", "site").sort("subject")
    transactional = mode == "transactional"
    study_oid = meta.definition.oid
    day = cutoff.cut_on.isoformat()
    created = _stamp(cutoff.created_at)
    writer = _HashingWriter(target)
    order = _order(meta)
    with tempfile.TemporaryDirectory(prefix="carnet-odm-") as folder:
        parts = ClinicalParts(
            study, cutoff, Path(folder), subjects, exported, with_audit=transactional
        )
        with etree.xmlfile(writer, encoding="utf-8") as xf:
            xf.write_declaration()
            root = {
                "FileType": "Transactional" if transactional else "Snapshot",
                "FileOID": f"{study.identifier}.{cutoff.name}.{mode}",
                "CreationDateTime": created,
                "ODMVersion": "1.3.2",
                "Originator": "Carnet",
                "SourceSystem": "Carnet",
                "Description": (
                    f"{study.identifier} at cut-off {cutoff.name} (audit event #{cutoff.seq}, "
                    f"hash {cutoff.head_hash}); "
                    + ("unblinded" if blinding.unblinded else "blinded")
                ),
            }
            with xf.element(_q("ODM"), root, nsmap={None: ODM_NS}):
                xf.write(_study_element(meta))
                sites = sorted(set(subjects.get_column("site").to_list()))
                users = _users(study, cutoff) if transactional else []
                xf.write(_admin_data(meta, study_oid, sites, users, day))
                with xf.element(
                    _q("ClinicalData"), StudyOID=study_oid, MetaDataVersionOID=meta.oid
                ):
                    clinical = _ClinicalWriter(xf, meta, transactional=transactional)
                    for part in range(
                        (subjects.height + SUBJECTS_PER_PART - 1) // SUBJECTS_PER_PART
                    ):
                        values = parts.of_part(part)
                        if values.is_empty():
                            continue
                        if not transactional:
                            values = _snapshot(values)
                        clinical.write(_sorted_part(values, order, subjects).iter_rows(named=True))
                        del values
    digest = writer.digest.hexdigest()
    if record:
        export_record(
            actor=actor,
            study=study,
            cutoff=cutoff,
            options={
                "format": "odm",
                "mode": mode,
                "unblinded": blinding.unblinded,
                "sites": sorted(plan.sites) if plan.sites is not None else "all",
                "environment": "production",
            },
            manifest_sha256=digest,
        )
    return OdmMade(
        subjects=clinical.subjects,
        values=clinical.values,
        sha256=digest,
        unblinded=blinding.unblinded,
    )


def _study_element(meta: Metadata) -> etree._Element:
    study = etree.Element(_q("Study"), OID=meta.definition.oid, nsmap={None: ODM_NS})
    study.append(global_variables(meta.definition))
    study.append(basic_definitions(meta))
    version = etree.SubElement(
        study, _q("MetaDataVersion"), OID=meta.oid, Name=f"Version {meta.version}"
    )
    for element in metadata_elements(meta):
        version.append(element)
    return study


def odm_to_path(
    *,
    actor: Any,
    study: Study,
    cutoff: Cutoff,
    output: Path,
    mode: str = "snapshot",
    unblinded: bool = False,
) -> OdmMade:
    """Write the ODM file; on any refusal or failure, no file is left behind."""
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("wb") as target:
            made = odm_write(
                actor=actor,
                study=study,
                cutoff=cutoff,
                target=target,
                mode=mode,
                unblinded=unblinded,
            )
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return made


def odm_zip_to_path(
    *,
    actor: Any,
    study: Study,
    cutoff: Cutoff,
    output: Path,
    mode: str = "snapshot",
    unblinded: bool = False,
) -> OdmMade:
    """Write the ODM file into a zip (what the page and the API serve), streamed into its entry;
    on any refusal or failure, no file is left behind."""
    import zipfile

    partial = output.with_name(output.name + ".partial")
    name = f"{study.identifier}-{cutoff.name}-odm-{mode}.xml"
    stamp = (cutoff.cut_on.year, cutoff.cut_on.month, cutoff.cut_on.day, 0, 0, 0)
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            entry = zipfile.ZipInfo(name, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(entry, "w", force_zip64=True) as target:
                made = odm_write(
                    actor=actor,
                    study=study,
                    cutoff=cutoff,
                    target=target,
                    mode=mode,
                    unblinded=unblinded,
                )
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return made


__all__ = ["MODES", "OdmMade", "odm_to_path", "odm_write", "odm_zip_to_path"]
