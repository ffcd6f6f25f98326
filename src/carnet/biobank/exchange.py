"""Exchange with the biological resource centre's LIMS: samples out and in as CSV, in Carnet's
documented columns or in the shape of OpenSpecimen's specimen bulk import.

An import is all or nothing: every row is checked first and each error names its row and column;
a dry run checks and counts without writing. Storage positions travel too (freezer, rack, box,
position; OpenSpecimen's Location columns): an import stores or moves the sample there, a full
box or a taken position refused by name (biobank.exchange_positions).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import Actor, PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.audit.services import AuditEntry, audit_record_many
from carnet.biobank.consent import GONE
from carnet.biobank.exchange_positions import (
    OPENSPECIMEN_PLACE,
    PLACE_COLUMNS,
    PlaceChecker,
    Placement,
    carnet_place,
    openspecimen_place,
    places_of,
    places_write,
)
from carnet.biobank.models import Sample, SampleStatus
from carnet.biobank.mta import actor_label, require_samples
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Subject

CARNET_COLUMNS = (
    "identifier",
    "parent",
    "subject",
    "site",
    "event",
    "occurrence",
    "expected_code",
    "sample_type",
    "container",
    "volume",
    "unit",
    "status",
    "collected_at",
    "collected_by",
    "sprec",
    "quality",
    *PLACE_COLUMNS,
)
# OpenSpecimen's specimen bulk import column -> Carnet's column.
OPENSPECIMEN_COLUMNS = {
    "Specimen Label": "identifier",
    "Parent Specimen Label": "parent",
    "PPID": "subject",
    "Site": "site",
    "Visit Name": "event",
    "Type": "sample_type",
    "Container": "container",
    "Initial Quantity": "volume",
    "Unit": "unit",
    "Collection Event#Date and Time": "collected_at",
    "Collection Event#User": "collected_by",
    "Comments": "quality",
    **OPENSPECIMEN_PLACE,
}
# Written on export only (derived): OpenSpecimen's own fields.
OPENSPECIMEN_EXPORT = (
    "CP Short Title",
    "PPID",
    "Site",
    "Visit Name",
    "Specimen Label",
    "Barcode",
    "Lineage",
    "Parent Specimen Label",
    "Type",
    "Container",
    "Initial Quantity",
    "Unit",
    "Collection Status",
    "Activity Status",
    "Collection Event#Date and Time",
    "Collection Event#User",
    "Comments",
    *OPENSPECIMEN_PLACE,
)
IMPORT_STATUSES = [status for status in SampleStatus.values if status != SampleStatus.EXPECTED]
# What an import may change on a sample Carnet already holds.
UPDATABLE = ("volume", "unit", "status", "container", "sprec", "quality")
REQUIRED_NEW = ("subject", "site", "sample_type")


def _samples(actor: User | None, study: Study) -> Any:
    samples = Sample.objects.filter(study=study, environment=environment_written(study))
    if actor is not None:
        scope = site_scope(actor, Action.MANAGE_SAMPLES, study=study)
        if scope.empty:
            raise PermissionDenied(_("You may not manage this study's samples."))
        if not scope.all_sites:
            samples = samples.filter(site_id__in=scope.site_ids)
    return samples


def _volume(sample: Sample) -> str:
    return "" if sample.volume is None else format(sample.volume.normalize(), "f")


def lims_export(actor: User | None, study: Study, *, shape: str = "carnet") -> str:
    """Return the study's samples as CSV, in Carnet's columns or OpenSpecimen's (one query)."""
    samples = _samples(actor, study)
    rows = (
        samples.select_related("parent", "subject", "site")
        .order_by("identifier")
        .iterator(chunk_size=2000)
    )
    places = places_of(samples.values("pk"))
    out = io.StringIO()
    if shape == "openspecimen":
        writer = csv.writer(out)
        writer.writerow(OPENSPECIMEN_EXPORT)
        for sample in rows:
            parent = sample.parent
            lineage = "New"
            if parent is not None:
                lineage = "Aliquot" if parent.sample_type == sample.sample_type else "Derived"
            writer.writerow(
                [
                    study.identifier,
                    sample.subject.identifier,
                    sample.site.code,
                    sample.event,
                    sample.identifier,
                    sample.identifier,
                    lineage,
                    parent.identifier if parent else "",
                    sample.sample_type,
                    sample.container,
                    _volume(sample),
                    sample.unit,
                    "Collected",
                    "Closed" if sample.status in GONE else "Active",
                    sample.collected_at.isoformat() if sample.collected_at else "",
                    sample.collected_by,
                    sample.quality,
                    *openspecimen_place(places.get(sample.pk)),
                ]
            )
        return out.getvalue()
    if shape != "carnet":
        raise ValidationError(_("shape: choose carnet or openspecimen."))
    writer = csv.writer(out)
    writer.writerow(CARNET_COLUMNS)
    for sample in rows:
        writer.writerow(
            [
                sample.identifier,
                sample.parent.identifier if sample.parent else "",
                sample.subject.identifier,
                sample.site.code,
                sample.event,
                "" if sample.occurrence is None else sample.occurrence,
                sample.expected_code,
                sample.sample_type,
                sample.container,
                _volume(sample),
                sample.unit,
                sample.status,
                sample.collected_at.isoformat() if sample.collected_at else "",
                sample.collected_by,
                sample.sprec,
                sample.quality,
                *carnet_place(places.get(sample.pk)),
            ]
        )
    return out.getvalue()


@dataclass
class ImportReport:
    """What an import did (or, on a dry run, would do)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    placed: list[str] = field(default_factory=list)  # stored or moved to the file's place
    dry_run: bool = False
    shape: str = "carnet"


class ImportRefused(ValidationError):
    """A LIMS file refused whole; the message lists each error with its row and column."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        shown = errors[:50]
        text = "\n".join(shown)
        if len(errors) > len(shown):
            text += "\n" + _("… and %(count)s more.") % {"count": len(errors) - len(shown)}
        super().__init__(text)


def _read(text: str) -> tuple[str, list[tuple[int, dict[str, str]]]]:
    """Return the file's shape and its rows in Carnet's columns, with their line numbers."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise ImportRefused([_("row 1: the file is empty.")]) from None
    if "Specimen Label" in header:
        shape, mapping = "openspecimen", OPENSPECIMEN_COLUMNS
        names = [mapping.get(name, "") for name in header]
    else:
        shape = "carnet"
        unknown = [name for name in header if name not in CARNET_COLUMNS]
        if unknown:
            raise ImportRefused(
                [
                    _("row 1, column %(column)s: not a column of Carnet's LIMS file.")
                    % {"column": name}
                    for name in unknown
                ]
            )
        if "identifier" not in header:
            raise ImportRefused([_("row 1, column identifier: the column is missing.")])
        names = header
    rows = []
    for number, values in enumerate(reader, start=2):
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            raise ImportRefused(
                [
                    _("row %(row)s: %(count)s values for %(columns)s columns.")
                    % {"row": number, "count": len(values), "columns": len(header)}
                ]
            )
        rows.append(
            (
                number,
                {name: value.strip() for name, value in zip(names, values, strict=True) if name},
            )
        )
    return shape, rows


def _located(row: int, column: str, why: str) -> str:
    return _("row %(row)s, column %(column)s: %(why)s") % {"row": row, "column": column, "why": why}


def _typed(number: int, row: dict[str, str], errors: list[str]) -> dict[str, Any]:
    """Return the row's values typed; append located errors."""
    typed: dict[str, Any] = {}
    for name, value in row.items():
        if name in {"volume", "occurrence", "collected_at", "status"} and not value:
            typed[name] = None
        elif name == "volume":
            try:
                typed[name] = Decimal(value.replace(",", "."))
                if typed[name] < 0:
                    raise InvalidOperation
            except InvalidOperation:
                errors.append(
                    _located(number, name, _("%(value)s is not a volume.") % {"value": value})
                )
        elif name == "occurrence":
            if not value.isdigit():
                errors.append(
                    _located(number, name, _("%(value)s is not a number.") % {"value": value})
                )
            else:
                typed[name] = int(value)
        elif name == "collected_at":
            moment: datetime | None = None
            try:
                moment = parse_datetime(value)
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                errors.append(
                    _located(
                        number,
                        name,
                        _("%(value)s is not a date and time with its offset (ISO 8601).")
                        % {"value": value},
                    )
                )
            else:
                typed[name] = moment
        elif name == "status":
            if value not in IMPORT_STATUSES:
                errors.append(
                    _located(
                        number,
                        name,
                        _("%(value)s is not one of %(values)s.")
                        % {"value": value, "values": ", ".join(IMPORT_STATUSES)},
                    )
                )
            else:
                typed[name] = value
        else:
            typed[name] = value
    return typed


def _check_new(
    number: int,
    row: dict[str, Any],
    *,
    subjects: dict[str, Subject],
    sites: dict[str, StudySite],
    scope: Any,
    known: set[str],
    errors: list[str],
) -> None:
    """Append the located errors of a row that creates a sample."""
    for name in REQUIRED_NEW:
        if not row.get(name):
            errors.append(_located(number, name, _("a new sample needs one.")))
    if row.get("subject") and row["subject"] not in subjects:
        errors.append(
            _located(
                number,
                "subject",
                _("%(value)s is not a subject of this study.") % {"value": row["subject"]},
            )
        )
    site = sites.get(row.get("site", ""))
    if row.get("site") and site is None:
        errors.append(
            _located(
                number,
                "site",
                _("%(value)s is not a site of this study.") % {"value": row["site"]},
            )
        )
    elif site is not None and scope is not None and not scope.allows(site):
        errors.append(
            _located(
                number,
                "site",
                _("you do not manage the samples of site %(value)s.") % {"value": row["site"]},
            )
        )
    if (
        row.get("subject") in subjects
        and site is not None
        and subjects[row["subject"]].site_id != site.pk
    ):
        errors.append(
            _located(
                number,
                "site",
                _("subject %(subject)s is not at site %(site)s.")
                % {"subject": row["subject"], "site": site.code},
            )
        )
    parent = row.get("parent", "")
    if parent and parent not in known:
        errors.append(
            _located(
                number,
                "parent",
                _("%(value)s is neither a known sample nor on a row of the file.")
                % {"value": parent},
            )
        )


def _write(
    *,
    actor: Actor,
    study: Study,
    shape: str,
    creating: list[tuple[int, dict[str, Any]]],
    changes: list[tuple[Sample, dict[str, Any], dict[str, Any]]],
    subjects: dict[str, Subject],
    sites: dict[str, StudySite],
    identifiers: set[str],
) -> None:
    """Create and update the samples of a checked import, and record it in the audit trail."""
    environment = environment_written(study)
    now = utc_now()
    by = actor_label(actor)
    created = Sample.objects.bulk_create(
        [
            Sample(
                study=study,
                environment=environment,
                subject=subjects[row["subject"]],
                site=sites[row["site"]],
                identifier=row["identifier"],
                event=row.get("event", ""),
                occurrence=row.get("occurrence"),
                expected_code=row.get("expected_code", ""),
                sample_type=row["sample_type"],
                container=row.get("container", ""),
                volume=row.get("volume"),
                unit=row.get("unit", ""),
                status=row.get("status") or SampleStatus.STORED,
                collected_at=row.get("collected_at"),
                collected_by=row.get("collected_by", ""),
                sprec=row.get("sprec", ""),
                quality=row.get("quality", ""),
                created_at=now,
                created_by=by,
                updated_at=now,
            )
            for _number, row in creating
        ]
    )
    pks = dict(Sample.objects.filter(identifier__in=identifiers).values_list("identifier", "pk"))
    linked = []
    for sample, (_number, row) in zip(created, creating, strict=True):
        if row.get("parent"):
            sample.pk = pks[sample.identifier]
            sample.parent_id = pks[row["parent"]]
            linked.append(sample)
    Sample.objects.bulk_update(linked, ["parent"], batch_size=1000)
    for sample, _old, new in changes:
        for name, value in new.items():
            setattr(sample, name, value)
        sample.updated_at = now
    Sample.objects.bulk_update(
        [sample for sample, _old, _new in changes], [*UPDATABLE, "updated_at"], batch_size=1000
    )
    entries = [
        AuditEntry(
            action="biobank.lims_imported",
            target=("study", study.identifier),
            new={"shape": shape, "created": len(created), "updated": len(changes)},
        )
    ]
    entries += [
        AuditEntry(
            action="biobank.sample_imported",
            target=("biobank.sample", row["identifier"]),
            new={k: v for k, v in row.items() if v not in ("", None)},
        )
        for _number, row in creating
    ]
    entries += [
        AuditEntry(action="biobank.sample_updated", target=sample, old=old, new=new)
        for sample, old, new in changes
    ]
    audit_record_many(actor=actor, entries=entries, chain=study.audit_chain)


def _place_row(
    places: PlaceChecker,
    number: int,
    row: dict[str, Any],
    known: Sample | None,
    errors: list[str],
    placements: list[Placement],
) -> None:
    """Check the place a row gives its sample, if it gives one."""
    if not places.wants_place(row):
        return
    if known is None and row.get("status") not in (
        None,
        SampleStatus.COLLECTED,
        SampleStatus.STORED,
    ):
        errors.append(
            _located(
                number,
                "status",
                _("a %(status)s sample cannot be stored.") % {"status": row["status"]},
            )
        )
        return
    placement = places.check(number, row, known, errors)
    if placement is not None:
        placements.append(placement)


@transaction.atomic
def lims_import(*, actor: Actor, study: Study, text: str, dry_run: bool = False) -> ImportReport:
    """Import samples from the LIMS: new identifiers are created, known ones updated (volume,
    status, quality…); all or nothing, each error located by row and column; audited."""
    require_samples(actor, study)
    shape, rows = _read(text)
    errors: list[str] = []
    typed_rows = [(number, _typed(number, row, errors)) for number, row in rows]
    environment = environment_written(study)
    identifiers = [row.get("identifier", "") for _number, row in typed_rows]
    parents = {row.get("parent", "") for _number, row in typed_rows} - {""}
    existing = {
        sample.identifier: sample
        for sample in Sample.objects.filter(identifier__in=set(identifiers) | parents)
    }
    subjects = {
        subject.identifier: subject
        for subject in Subject.objects.filter(
            study=study,
            environment=environment,
            identifier__in={row.get("subject", "") for _n, row in typed_rows},
        )
    }
    sites = {site.code: site for site in StudySite.objects.filter(study=study)}
    scope = (
        site_scope(actor, Action.MANAGE_SAMPLES, study=study) if isinstance(actor, User) else None
    )
    places = PlaceChecker(actor, study, _located)
    placements: list[Placement] = []
    in_file: set[str] = set()
    creating: list[tuple[int, dict[str, Any]]] = []
    updating: list[tuple[Sample, dict[str, Any]]] = []
    for number, row in typed_rows:
        identifier = row.get("identifier", "")
        if not identifier:
            errors.append(_located(number, "identifier", _("give the sample's identifier.")))
            continue
        if identifier in in_file:
            errors.append(
                _located(
                    number,
                    "identifier",
                    _("%(value)s is already on an earlier row.") % {"value": identifier},
                )
            )
            continue
        in_file.add(identifier)
        known = existing.get(identifier)
        if known is not None:
            if known.study_id != study.pk or known.environment != environment:
                errors.append(
                    _located(
                        number,
                        "identifier",
                        _("%(value)s belongs to another study.") % {"value": identifier},
                    )
                )
                continue
            if scope is not None and not scope.allows(known.site_id):
                errors.append(
                    _located(
                        number,
                        "identifier",
                        _("%(value)s is at a site whose samples you do not manage.")
                        % {"value": identifier},
                    )
                )
                continue
            updating.append((known, row))
            _place_row(places, number, row, known, errors, placements)
            continue
        _check_new(
            number,
            row,
            subjects=subjects,
            sites=sites,
            scope=scope,
            known=set(existing) | set(identifiers),
            errors=errors,
        )
        creating.append((number, row))
        _place_row(places, number, row, None, errors, placements)
    if errors:
        raise ImportRefused(errors)
    report = ImportReport(dry_run=dry_run, shape=shape)
    changes: list[tuple[Sample, dict[str, Any], dict[str, Any]]] = []
    for sample, row in updating:
        old, new = {}, {}
        for name in UPDATABLE:
            if name not in row or row[name] in ("", None):
                continue
            current = getattr(sample, name)
            if current != row[name]:
                old[name], new[name] = current, row[name]
        if new:
            changes.append((sample, old, new))
            report.updated.append(sample.identifier)
        else:
            report.unchanged += 1
    report.created = [row["identifier"] for _number, row in creating]
    report.placed = [placement.identifier for placement in placements]
    if dry_run:
        return report
    _write(
        actor=actor,
        study=study,
        shape=shape,
        creating=creating,
        changes=changes,
        subjects=subjects,
        sites=sites,
        identifiers=in_file | parents,
    )
    if placements:
        placed = {
            sample.identifier: sample
            for sample in Sample.objects.filter(identifier__in=report.placed)
        }
        entries = places_write(
            actor_label=actor_label(actor), placements=placements, samples=placed
        )
        audit_record_many(actor=actor, entries=entries, chain=study.audit_chain)
    return report
