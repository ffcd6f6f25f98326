"""Writes of the laboratory app: a study's normal ranges and item mapping, always audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import combinations
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import require
from carnet.accounts.roles import Action
from carnet.audit.services import Actor, SystemActor, audit_record
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.core.lab_units import UnitError, conversion_factor
from carnet.laboratory.models import LabItem, LabSettings, NormalRange
from carnet.laboratory.ranges_file import (
    FileRefused,
    ItemRow,
    LabFile,
    Place,
    RangeRow,
    read_lab_file,
)
from carnet.studies.models import Study

NUMERIC_TYPES = frozenset({"integer", "decimal", "calculated"})
# The end of time for an open range: overlaps compare closed periods.
FOREVER = date(9999, 12, 31)


@dataclass(frozen=True)
class LabFileLoaded:
    """What a load changed."""

    ranges: int
    items: int
    removed_ranges: int
    sha256: str
    unchanged: bool = False  # the same file as the one in force: nothing was written


def _allowed(actor: Actor, study: Study) -> None:
    if not isinstance(actor, SystemActor):
        assert isinstance(actor, User)
        require(actor, Action.MANAGE_STUDY, study=study)


def _overlap(first: RangeRow, second: RangeRow) -> bool:
    """Return whether two ranges could both apply to one value."""
    if (first.site, first.analyte) != (second.site, second.analyte):
        return False
    if first.sex and second.sex and first.sex != second.sex:
        return False
    if (first.age_max if first.age_max is not None else 999) <= (second.age_min or 0):
        return False
    if (second.age_max if second.age_max is not None else 999) <= (first.age_min or 0):
        return False
    first_end, second_end = first.effective_to or FOREVER, second.effective_to or FOREVER
    return first.effective_from <= second_end and second.effective_from <= first_end


def _check_ranges(lab: LabFile, file_name: str, sites: dict[str, StudySite]) -> None:
    for row in lab.ranges:
        if row.site and row.site not in sites:
            raise FileRefused(
                file_name,
                row.place,
                _("the site %(site)r is not a site of the study.") % {"site": row.site},
            )
    by_analyte: dict[tuple[str, str], list[RangeRow]] = {}
    for row in lab.ranges:
        by_analyte.setdefault((row.site, row.analyte), []).append(row)
    for rows in by_analyte.values():
        for first, second in combinations(rows, 2):
            if _overlap(first, second):
                raise FileRefused(
                    file_name,
                    second.place,
                    _(
                        "this %(analyte)s range overlaps the one on line %(line)s (same site, "
                        "sex, ages and dates)."
                    )
                    % {"analyte": second.analyte, "line": first.place.line},
                )


def _check_items(lab: LabFile, file_name: str, study: Study) -> None:
    definition = study.current_version.parsed() if study.current_version else None
    if definition is None:
        raise ValidationError(
            _("%(study)s has no published version.") % {"study": study.identifier}
        )
    items = {item.name: item for _form, _group, item in definition.items()}
    events = {event.name for event in definition.events}

    def named(name: str, place: Place, *, numeric: bool = True) -> None:
        item = items.get(name)
        if item is None:
            raise FileRefused(
                file_name, place, _("the study has no item %(item)r.") % {"item": name}
            )
        kind = item.result_type if item.type == "calculated" else item.type
        if numeric and kind not in NUMERIC_TYPES:
            raise FileRefused(
                file_name, place, _("the item %(item)r does not hold a number.") % {"item": name}
            )

    for key in ("date_item", "age_item"):
        if getattr(lab, key):
            named(getattr(lab, key), lab.places[key], numeric=key == "age_item")
    if lab.baseline_event and lab.baseline_event not in events:
        raise FileRefused(
            file_name,
            lab.places["baseline_event"],
            _("the study has no event %(event)r.") % {"event": lab.baseline_event},
        )
    seen: set[str] = set()
    for row in lab.items:
        if row.item in seen:
            raise FileRefused(
                file_name, row.place, _("the item %(item)r is mapped twice.") % {"item": row.item}
            )
        seen.add(row.item)
        named(row.item, row.place)
        for other in (row.uln_item, row.lln_item):
            if other:
                named(other, row.place)
        if row.unit_item:
            named(row.unit_item, row.place, numeric=False)
        _check_convertible(lab, file_name, row)


def _check_convertible(lab: LabFile, file_name: str, row: ItemRow) -> None:
    """Refuse a mapped item whose fixed unit cannot be converted to its ranges' units."""
    if not row.unit:
        return
    for range_row in lab.ranges:
        if range_row.analyte != row.analyte:
            continue
        try:
            conversion_factor(row.analyte, range_row.unit, row.unit)
        except UnitError:
            raise FileRefused(
                file_name,
                range_row.place,
                _("%(analyte)s: cannot convert %(source)s to the item's unit %(target)s.")
                % {"analyte": row.analyte, "source": range_row.unit, "target": row.unit},
            ) from None


def _range_json(row: NormalRange | RangeRow, site: str) -> dict[str, Any]:
    def text(number: Decimal | None) -> str | None:
        return None if number is None else format(number.normalize(), "f")

    return {
        "site": site,
        "laboratory": row.laboratory,
        "analyte": row.analyte,
        "sex": row.sex,
        "age_min": row.age_min,
        "age_max": row.age_max,
        "from": row.effective_from.isoformat(),
        "to": row.effective_to.isoformat() if row.effective_to else None,
        "unit": row.unit,
        "low": text(row.low),
        "high": text(row.high),
    }


@transaction.atomic
def lab_file_load(*, actor: Actor, study: Study, content: bytes, file_name: str) -> LabFileLoaded:
    """Replace the study's normal ranges (and, from a YAML file, its item mapping) with the
    file's; all of it or nothing, every refusal located (file, line, column)."""
    _allowed(actor, study)
    sha256 = sha256_hex(content)
    settings = LabSettings.objects.filter(study=study).first()
    if settings is not None and settings.file_sha256 == sha256:
        # The file in force, loaded again (a demo rebuilt, a script re-run): nothing changes.
        return LabFileLoaded(
            ranges=NormalRange.objects.filter(study=study).count(),
            items=LabItem.objects.filter(study=study).count(),
            removed_ranges=0,
            sha256=sha256,
            unchanged=True,
        )
    lab = read_lab_file(content, file_name)
    sites = {site.code: site for site in StudySite.objects.filter(study=study)}
    _check_ranges(lab, file_name, sites)
    if lab.mapping:
        _check_items(lab, file_name, study)
    old_ranges = [
        _range_json(old, old.site.code if old.site else "")
        for old in NormalRange.objects.filter(study=study).select_related("site")
    ]
    removed = NormalRange.objects.filter(study=study).delete()[0]
    NormalRange.objects.bulk_create(
        NormalRange(
            study=study,
            site=sites[row.site] if row.site else None,
            laboratory=row.laboratory,
            analyte=row.analyte,
            sex=row.sex,
            age_min=row.age_min,
            age_max=row.age_max,
            effective_from=row.effective_from,
            effective_to=row.effective_to,
            unit=row.unit,
            low=row.low,
            high=row.high,
            line=row.place.line,
        )
        for row in lab.ranges
    )
    new: dict[str, Any] = {
        "file_name": file_name,
        "file_sha256": sha256,
        "ranges": [_range_json(row, row.site) for row in lab.ranges],
    }
    old: dict[str, Any] = {"ranges": old_ranges}
    if lab.mapping:
        old["items"] = _mapping_json(study)
        _mapping_replace(study, lab)
        new["items"] = _mapping_json(study)
    LabSettings.objects.update_or_create(
        study=study, defaults={"file_name": file_name[:200], "file_sha256": sha256}
    )
    audit_record(
        actor=actor,
        action="laboratory.file_loaded",
        target=("study", study.identifier),
        old=old,
        new=new,
        chain=study.audit_chain,
    )
    return LabFileLoaded(
        ranges=len(lab.ranges), items=len(lab.items), removed_ranges=removed, sha256=sha256
    )


def _mapping_json(study: Study) -> dict[str, Any]:
    settings = LabSettings.objects.filter(study=study).first()
    return {
        "date_item": settings.date_item if settings else "",
        "age_item": settings.age_item if settings else "",
        "baseline_event": settings.baseline_event if settings else "",
        "items": [
            {
                "item": item.item,
                "analyte": item.analyte,
                "unit": item.unit,
                "unit_item": item.unit_item,
                "uln_item": item.uln_item,
                "lln_item": item.lln_item,
            }
            for item in LabItem.objects.filter(study=study)
        ],
    }


def _mapping_replace(study: Study, lab: LabFile) -> None:
    LabItem.objects.filter(study=study).delete()
    LabItem.objects.bulk_create(
        LabItem(
            study=study,
            item=row.item,
            analyte=row.analyte,
            unit=row.unit,
            unit_item=row.unit_item,
            uln_item=row.uln_item,
            lln_item=row.lln_item,
        )
        for row in lab.items
    )
    LabSettings.objects.update_or_create(
        study=study,
        defaults={
            "date_item": lab.date_item,
            "age_item": lab.age_item,
            "baseline_event": lab.baseline_event,
        },
    )
