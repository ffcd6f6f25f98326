"""Storage positions in the LIMS exchange: where each sample sits (freezer, rack, box, position)
on export, and where an import puts it (stored, or moved), checked with the rest of the file.

Carnet's file names the place in four columns (`freezer`, `rack`, `box`, `position` "C4");
OpenSpecimen's names the container and the row and column in it (`Location#Container`,
`Location#Row`, `Location#Column`, or the linear `Location#Position`). Carnet writes the
container as "freezer/rack/box" and reads either that path or a box name found once.
Every check is set-wise: the boxes, the positions they hold and the samples' current places are
read once for the whole file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import F, QuerySet
from django.utils.translation import gettext as _

from carnet.accounts.permissions import Actor
from carnet.audit.services import AuditEntry
from carnet.biobank.models import (
    Box,
    FreezerStatus,
    MovementKind,
    Sample,
    SamplePosition,
    SampleStatus,
    StorageMovement,
)
from carnet.biobank.storage import STORABLE, centres_of, position_name, position_parse
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.studies.models import Study

# Carnet's columns of a place, and OpenSpecimen's.
PLACE_COLUMNS = ("freezer", "rack", "box", "position")
OPENSPECIMEN_PLACE = {
    "Location#Container": "container",
    "Location#Row": "location_row",
    "Location#Column": "location_column",
    "Location#Position": "location_position",
}
_OPENSPECIMEN_NAMES = tuple(OPENSPECIMEN_PLACE.values())


def places_of(
    samples: Iterable[int] | QuerySet[Any],
) -> dict[int, tuple[str, str, str, int, int, int]]:
    """Return where each sample sits: (freezer, rack, box, row, column, box's columns); the
    samples as their pks or as a query of them (read as a subquery)."""
    return {
        sample_id: (freezer, rack, box, row, column, columns)
        for sample_id, freezer, rack, box, row, column, columns in SamplePosition.objects.filter(
            sample_id__in=samples
        ).values_list(
            "sample_id",
            "box__rack__freezer__name",
            "box__rack__name",
            "box__name",
            "row",
            "column",
            "box__columns",
        )
    }


def carnet_place(place: tuple[str, str, str, int, int, int] | None) -> list[str]:
    """Return the four place columns of Carnet's file ("" when not stored)."""
    if place is None:
        return ["", "", "", ""]
    freezer, rack, box, row, column, _columns = place
    return [freezer, rack, box, position_name(row, column)]


def openspecimen_place(place: tuple[str, str, str, int, int, int] | None) -> list[str]:
    """Return OpenSpecimen's four location columns (container path, row, column, position)."""
    if place is None:
        return ["", "", "", ""]
    freezer, rack, box, row, column, columns = place
    return [f"{freezer}/{rack}/{box}", str(row), str(column), str((row - 1) * columns + column)]


@dataclass
class Placement:
    """Where a checked row puts its sample."""

    identifier: str
    box: Box
    row: int
    column: int

    @property
    def place(self) -> str:
        rack = self.box.rack
        return (
            f"{rack.freezer.name} / {rack.name} / {self.box.name} / "
            f"{position_name(self.row, self.column)}"
        )


def _box_words(box: Box) -> str:
    return f"{box.rack.freezer.name} / {box.rack.name} / {box.name}"


class PlaceChecker:
    """Check the place of each row of one import, reserving positions as it goes."""

    def __init__(self, actor: Actor, study: Study, located: Any) -> None:
        self.located = located
        boxes = list(
            Box.objects.filter(rack__freezer__centre__in=centres_of(actor, study)).select_related(
                "rack__freezer"
            )
        )
        self.by_path = {(b.rack.freezer.name, b.rack.name, b.name): b for b in boxes}
        self.by_name: dict[str, list[Box]] = {}
        for box in boxes:
            self.by_name.setdefault(box.name, []).append(box)
        self.held: dict[tuple[int, int, int], int] = {}
        self.loaded: set[int] = set()
        self.current: dict[int, tuple[int, int, int]] = {}

    def _holders(self, box: Box) -> None:
        if box.pk in self.loaded:
            return
        self.loaded.add(box.pk)
        for sample_id, row, column in SamplePosition.objects.filter(box=box).values_list(
            "sample_id", "row", "column"
        ):
            self.held[(box.pk, row, column)] = sample_id
            self.current[sample_id] = (box.pk, row, column)

    def wants_place(self, row: dict[str, Any]) -> bool:
        return any(row.get(name) for name in (*PLACE_COLUMNS, *_OPENSPECIMEN_NAMES))

    def _box(self, number: int, row: dict[str, Any], errors: list[str]) -> tuple[Box | None, str]:
        """Return the box a row names and the column to blame."""
        if "container" in row or "location_row" in row or "location_position" in row:
            column = "Location#Container"
            text = (row.get("container") or "").strip()
            parts = [part.strip() for part in text.split("/")]
            if not text:
                errors.append(self.located(number, column, _("name the container (the box).")))
                return None, column
            if len(parts) == 3:
                box = self.by_path.get((parts[0], parts[1], parts[2]))
            else:
                found = self.by_name.get(text, [])
                box = found[0] if len(found) == 1 else None
            if box is None:
                errors.append(
                    self.located(
                        number,
                        column,
                        _("%(value)s is not one box you may use (write it freezer/rack/box).")
                        % {"value": text},
                    )
                )
            return box, column
        missing = [name for name in ("freezer", "rack", "box") if not row.get(name)]
        for name in missing:
            errors.append(self.located(number, name, _("a place needs the freezer, rack and box.")))
        if missing:
            return None, "box"
        box = self.by_path.get((row["freezer"], row["rack"], row["box"]))
        if box is None:
            errors.append(
                self.located(
                    number,
                    "box",
                    _(
                        "there is no box %(box)s in rack %(rack)s of freezer %(freezer)s "
                        "you may use."
                    )
                    % {"box": row["box"], "rack": row["rack"], "freezer": row["freezer"]},
                )
            )
        return box, "box"

    def _position(
        self, number: int, row: dict[str, Any], box: Box, errors: list[str]
    ) -> tuple[tuple[int, int] | None, str]:
        """Return the (row, column) a row asks for (None: the first free one)."""
        if "container" in row or "location_row" in row or "location_position" in row:
            across, down = row.get("location_column") or "", row.get("location_row") or ""
            linear = row.get("location_position") or ""
            column = "Location#Position" if linear and not across else "Location#Row"
            if not across and not down and not linear:
                return None, column
            try:
                if across or down:
                    letter = down.isalpha() and len(down) == 1
                    r = ord(down.upper()) - ord("A") + 1 if letter else int(down)
                    c = int(across)
                else:
                    index = int(linear) - 1
                    r, c = index // box.columns + 1, index % box.columns + 1
            except ValueError:
                errors.append(self.located(number, column, _("not a position in the box.")))
                return None, column
            try:
                return position_parse(position_name(r, c) if r > 0 else "", box), column
            except ValidationError as error:
                errors.append(self.located(number, column, str(error)))
                return None, column
        if not row.get("position"):
            return None, "position"
        try:
            return position_parse(row["position"], box), "position"
        except ValidationError as error:
            errors.append(self.located(number, "position", str(error)))
            return None, "position"

    def check(
        self, number: int, row: dict[str, Any], sample: Sample | None, errors: list[str]
    ) -> Placement | None:
        """Return where the row puts its sample (None: nowhere, or refused with errors)."""
        box, column = self._box(number, row, errors)
        if box is None:
            return None
        if box.rack.freezer.status != FreezerStatus.IN_SERVICE:
            errors.append(
                self.located(
                    number,
                    column,
                    _("freezer %(freezer)s is out of service.")
                    % {"freezer": box.rack.freezer.name},
                )
            )
            return None
        if sample is not None and sample.status not in STORABLE:
            errors.append(
                self.located(
                    number,
                    column,
                    _("sample %(sample)s is %(status)s: it cannot be stored.")
                    % {"sample": sample.identifier, "status": sample.status},
                )
            )
            return None
        self._holders(box)
        already = len(errors)
        asked, column = self._position(number, row, box, errors)
        me = sample.pk if sample is not None else -number  # a new sample: its row stands for it
        if asked is None:
            if len(errors) > already:
                return None
            free = [
                (r, c)
                for r in range(1, box.rows + 1)
                for c in range(1, box.columns + 1)
                if (box.pk, r, c) not in self.held
            ]
            if not free:
                errors.append(
                    self.located(
                        number,
                        column,
                        _("box %(box)s is full (%(capacity)s positions).")
                        % {"box": _box_words(box), "capacity": box.capacity},
                    )
                )
                return None
            asked = free[0]
        holder = self.held.get((box.pk, *asked))
        if holder is not None and holder != me:
            errors.append(
                self.located(
                    number,
                    column,
                    _("position %(position)s of box %(box)s already holds a sample.")
                    % {"position": position_name(*asked), "box": _box_words(box)},
                )
            )
            return None
        if sample is not None and self.current.get(sample.pk) == (box.pk, *asked):
            return None  # already there
        self.held[(box.pk, *asked)] = me
        return Placement(identifier=row["identifier"], box=box, row=asked[0], column=asked[1])


def places_write(
    *, actor_label: str, placements: list[Placement], samples: dict[str, Sample]
) -> list[AuditEntry]:
    """Store or move the samples of a checked import; return their audit entries."""
    if not placements:
        return []
    now = utc_now()
    ids = [samples[p.identifier].pk for p in placements]
    before = places_of(ids)
    old_positions = list(SamplePosition.objects.filter(sample_id__in=ids))
    for position in old_positions:
        Box.objects.filter(pk=position.box_id).update(used=F("used") - 1)
    SamplePosition.objects.filter(pk__in=[p.pk for p in old_positions]).delete()
    SamplePosition.objects.bulk_create(
        [
            SamplePosition(
                sample_id=samples[p.identifier].pk,
                study_id=samples[p.identifier].study_id,
                site_id=samples[p.identifier].site_id,
                box=p.box,
                row=p.row,
                column=p.column,
                stored_at=now,
                stored_by=actor_label,
            )
            for p in placements
        ]
    )
    added: dict[int, int] = {}
    for p in placements:
        added[p.box.pk] = added.get(p.box.pk, 0) + 1
    for box_id, count in added.items():
        Box.objects.filter(pk=box_id).update(used=F("used") + count)
    Sample.objects.filter(pk__in=ids).exclude(status=SampleStatus.STORED).update(
        status=SampleStatus.STORED, updated_at=now
    )
    movements, entries = [], []
    for p in placements:
        sample = samples[p.identifier]
        old = before.get(sample.pk)
        from_place = " / ".join(carnet_place(old)) if old else ""
        kind = MovementKind.MOVE if old else MovementKind.STORE
        movements.append(
            StorageMovement(
                sample_id=sample.pk,
                kind=kind,
                from_place=from_place,
                to_place=p.place,
                reason=_("LIMS import"),
                moved_at=now,
                moved_by=actor_label,
            )
        )
        entries.append(
            AuditEntry(
                action=f"biobank.sample_{'move' if old else 'store'}",
                target=("biobank.sample", str(sample.pk)),
                old={"place": from_place},
                new={"place": p.place, "status": SampleStatus.STORED},
                reason=_("LIMS import"),
            )
        )
    StorageMovement.objects.bulk_create(movements)
    return entries
