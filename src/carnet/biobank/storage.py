"""Storage of samples: the centre's freezers, racks and boxes, putting a sample away at a
position, moving it, taking it out, and a freezer failure that moves every sample of a freezer
to another in one record. Reads: the box map, a freezer's capacity and its content (paged), and
the sample a scanned label names.

Who: the biobank technicians (Action.MANAGE_SAMPLES) of a study handle its samples at their
sites, and the freezers of the centres of those sites (an all-sites membership: every centre
of the study). Every change is an audit event of the sample's study; creating storage is one
of the system chain (a freezer serves several studies).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, F, QuerySet, Sum
from django.utils.translation import gettext as _

from carnet.accounts.models import Centre, StudySite, User
from carnet.accounts.permissions import Actor, PermissionDenied, SiteScope, site_scope
from carnet.accounts.roles import Action
from carnet.audit.services import AuditEntry, audit_record, audit_record_many
from carnet.biobank.models import (
    Box,
    Freezer,
    FreezerFailure,
    FreezerStatus,
    MovementKind,
    Rack,
    Sample,
    SamplePosition,
    SampleStatus,
    Shipment,
    StorageMovement,
)
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.studies.models import Study

# A box larger than this is a typing mistake (the largest racks of straws are 10 × 10 × 10).
MAX_ROWS = 26  # rows are letters
MAX_COLUMNS = 30
# Statuses of a sample that may sit in a box.
STORABLE = frozenset({SampleStatus.COLLECTED, SampleStatus.STORED})


class UnknownBarcode(PermissionDenied):
    """No sample the actor may see carries the scanned code (an unknown sample and one of
    another site are refused alike)."""


# --- who may -------------------------------------------------------------------------------------


def actor_label(actor: Actor) -> str:
    if isinstance(actor, User):
        return actor.display_name()
    return str(getattr(actor, "label", ""))


def _scope(actor: Actor, study: Study) -> SiteScope:
    if isinstance(actor, User):
        return site_scope(actor, Action.MANAGE_SAMPLES, study=study)
    # A command run on the server acts for the installation's administrators.
    return SiteScope(all_sites=True, site_ids=frozenset())


def require_samples(actor: Actor, study: Study, site: StudySite | int | None = None) -> SiteScope:
    """Return the actor's sample-handling scope in the study; refuse if it misses ``site``."""
    scope = _scope(actor, study)
    if scope.empty or (site is not None and not scope.allows(site)):
        raise PermissionDenied(
            _("You may not handle samples here (%(action)s).")
            % {"action": Action.MANAGE_SAMPLES.value}
        )
    return scope


def centres_of(actor: Actor, study: Study) -> QuerySet[Centre]:
    """Return the centres whose freezers the actor may use for the study's samples."""
    scope = require_samples(actor, study)
    sites = StudySite.objects.filter(study=study)
    if not scope.all_sites:
        sites = sites.filter(pk__in=scope.site_ids)
    return Centre.objects.filter(pk__in=sites.values("centre_id"))


def _require_freezer(actor: Actor, study: Study, freezer: Freezer) -> None:
    if not centres_of(actor, study).filter(pk=freezer.centre_id).exists():
        raise PermissionDenied(
            _("You may not use freezer %(freezer)s for this study.") % {"freezer": freezer.name}
        )


# --- places ---------------------------------------------------------------------------------------


def position_name(row: int, column: int) -> str:
    """Return a position as a label reads it: row letter, column number ("C4")."""
    return f"{chr(ord('A') + row - 1)}{column}"


_POSITION = re.compile(r"^\s*([A-Za-z])\s*-?\s*(\d{1,2})\s*$")


def position_parse(text: str, box: Box) -> tuple[int, int]:
    """Return (row, column) of a position written "C4" in ``box``; refuse one outside it."""
    match = _POSITION.match(text or "")
    if match is None:
        raise ValidationError(
            _("position: write a row letter and a column number, e.g. C4 (got '%(text)s').")
            % {"text": text}
        )
    row, column = ord(match.group(1).upper()) - ord("A") + 1, int(match.group(2))
    if not (1 <= row <= box.rows and 1 <= column <= box.columns):
        raise ValidationError(
            _(
                "position: %(position)s is outside box %(box)s "
                "(%(rows)s rows × %(columns)s columns)."
            )
            % {
                "position": position_name(row, column),
                "box": box.name,
                "rows": box.rows,
                "columns": box.columns,
            }
        )
    return row, column


def place_of(box: Box, row: int, column: int) -> str:
    """Return the full place of a position as people read it."""
    return f"{box.rack.freezer.name} / {box.rack.name} / {box.name} / {position_name(row, column)}"


# --- freezers, racks, boxes -----------------------------------------------------------------------


def _name(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(_("%(field)s: give a name.") % {"field": field})
    if len(value) > 60:
        raise ValidationError(_("%(field)s: at most 60 characters.") % {"field": field})
    return value


@transaction.atomic
def freezer_create(
    *, actor: Actor, study: Study, centre: Centre, name: str, temperature: int, location: str = ""
) -> Freezer:
    """Add a freezer to a centre where the actor handles the study's samples (audited)."""
    if not centres_of(actor, study).filter(pk=centre.pk).exists():
        raise PermissionDenied(
            _("You may not add freezers at %(centre)s.") % {"centre": centre.code}
        )
    name = _name(name, "name")
    if not -200 <= temperature <= 30:
        raise ValidationError(_("temperature: give a temperature in °C between -200 and 30."))
    if Freezer.objects.filter(centre=centre, name=name).exists():
        raise ValidationError(
            _("name: %(centre)s already has a freezer named %(name)s.")
            % {"centre": centre.code, "name": name}
        )
    freezer = Freezer.objects.create(
        centre=centre,
        name=name,
        temperature=temperature,
        location=location.strip()[:200],
        created_at=utc_now(),
        created_by=actor_label(actor),
    )
    audit_record(
        actor=actor,
        action="biobank.freezer_create",
        target=freezer,
        new={"centre": centre.code, "name": name, "temperature": temperature},
    )
    return freezer


@transaction.atomic
def rack_create(*, actor: Actor, study: Study, freezer: Freezer, name: str) -> Rack:
    """Add a rack to a freezer (audited)."""
    _require_freezer(actor, study, freezer)
    name = _name(name, "name")
    if Rack.objects.filter(freezer=freezer, name=name).exists():
        raise ValidationError(
            _("name: freezer %(freezer)s already has a rack named %(name)s.")
            % {"freezer": freezer.name, "name": name}
        )
    rack = Rack.objects.create(
        freezer=freezer, name=name, created_at=utc_now(), created_by=actor_label(actor)
    )
    audit_record(
        actor=actor,
        action="biobank.rack_create",
        target=rack,
        new={"freezer": freezer.name, "name": name},
    )
    return rack


@transaction.atomic
def box_create(
    *, actor: Actor, study: Study, rack: Rack, name: str, rows: int, columns: int
) -> Box:
    """Add a box of ``rows`` × ``columns`` positions to a rack (audited)."""
    _require_freezer(actor, study, rack.freezer)
    name = _name(name, "name")
    if not 1 <= rows <= MAX_ROWS:
        raise ValidationError(_("rows: give between 1 and %(max)s rows.") % {"max": MAX_ROWS})
    if not 1 <= columns <= MAX_COLUMNS:
        raise ValidationError(
            _("columns: give between 1 and %(max)s columns.") % {"max": MAX_COLUMNS}
        )
    if Box.objects.filter(rack=rack, name=name).exists():
        raise ValidationError(
            _("name: rack %(rack)s already has a box named %(name)s.")
            % {"rack": rack.name, "name": name}
        )
    box = Box.objects.create(
        rack=rack,
        name=name,
        rows=rows,
        columns=columns,
        created_at=utc_now(),
        created_by=actor_label(actor),
    )
    audit_record(
        actor=actor,
        action="biobank.box_create",
        target=box,
        new={
            "freezer": rack.freezer.name,
            "rack": rack.name,
            "name": name,
            "rows": rows,
            "columns": columns,
        },
    )
    return box


# --- put away, move, take out ---------------------------------------------------------------------


def _sample_locked(actor: Actor, sample: Sample) -> Sample:
    locked = Sample.objects.select_for_update().select_related("study").get(pk=sample.pk)
    require_samples(actor, locked.study, locked.site_id)
    return locked


def _free_position(box: Box, position: str | None) -> tuple[int, int]:
    """Return the position asked for, free, or the first free one of the box."""
    return _free_in(
        box, position, set(SamplePosition.objects.filter(box=box).values_list("row", "column"))
    )


def _free_in(box: Box, position: str | None, taken: set[tuple[int, int]]) -> tuple[int, int]:
    """Return the position asked for, free, or the first free one, of a box whose occupied
    positions are ``taken``."""
    if position:
        row, column = position_parse(position, box)
        if (row, column) in taken:
            raise ValidationError(
                _("position: %(position)s of box %(box)s already holds a sample.")
                % {"position": position_name(row, column), "box": box.name}
            )
        return row, column
    for row in range(1, box.rows + 1):
        for column in range(1, box.columns + 1):
            if (row, column) not in taken:
                return row, column
    raise ValidationError(
        _("Box %(box)s is full (%(capacity)s of %(capacity)s positions used): choose another box.")
        % {"box": box.name, "capacity": box.capacity}
    )


def _place(box: Box, row: int, column: int, sample: Sample, actor: Actor) -> SamplePosition:
    try:
        with transaction.atomic():
            placed = SamplePosition.objects.create(
                sample=sample,
                study_id=sample.study_id,
                site_id=sample.site_id,
                box=box,
                row=row,
                column=column,
                stored_at=utc_now(),
                stored_by=actor_label(actor),
            )
            Box.objects.filter(pk=box.pk).update(used=F("used") + 1)
            return placed
    except IntegrityError:
        # Someone stored another sample there between our read and our write.
        raise ValidationError(
            _("position: %(position)s of box %(box)s already holds a sample.")
            % {"position": position_name(row, column), "box": box.name}
        ) from None


def _box_for(actor: Actor, sample: Sample, box: Box) -> Box:
    box = Box.objects.select_related("rack__freezer").get(pk=box.pk)
    _require_freezer(actor, sample.study, box.rack.freezer)
    if box.rack.freezer.status != FreezerStatus.IN_SERVICE:
        raise ValidationError(
            _("Freezer %(freezer)s is out of service: choose a box of another freezer.")
            % {"freezer": box.rack.freezer.name}
        )
    return box


@transaction.atomic
def sample_store(
    *, actor: Actor, sample: Sample, box: Box, position: str | None = None
) -> SamplePosition:
    """Put a sample away at a position of a box (the first free one unless given)."""
    sample = _sample_locked(actor, sample)
    if sample.status not in STORABLE:
        raise ValidationError(
            _("Sample %(sample)s is %(status)s: it cannot be stored.")
            % {"sample": sample.identifier, "status": sample.status}
        )
    if SamplePosition.objects.filter(sample=sample).exists():
        raise ValidationError(
            _("Sample %(sample)s is already stored: move it instead.")
            % {"sample": sample.identifier}
        )
    box = _box_for(actor, sample, box)
    row, column = _free_position(box, position)
    placed = _place(box, row, column, sample, actor)
    old_status = sample.status
    sample.status = SampleStatus.STORED
    sample.updated_at = utc_now()
    sample.save(update_fields=["status", "updated_at"])
    to_place = place_of(box, row, column)
    _movement(sample, MovementKind.STORE, "", to_place, actor)
    audit_record(
        actor=actor,
        action="biobank.sample_store",
        target=sample,
        old={"status": old_status, "place": ""},
        new={"status": sample.status, "place": to_place},
        chain=sample.study.audit_chain,
    )
    return placed


@dataclass(frozen=True)
class Placement:
    """One sample to put away in a box, at a position or (None) the box's first free one."""

    sample: Sample
    box: Box
    position: str | None = None


@transaction.atomic
def samples_store(*, actor: Actor, placements: Sequence[Placement]) -> list[SamplePosition]:
    """Put several samples away, in order, as `sample_store` would one after another: the same
    checks per sample (permission at its site, its status, not stored yet, a box of a freezer
    in service at a centre the actor may use, a free position), the same positions, movements
    and one audit event per sample; all or nothing.

    The samples, boxes, centres and occupied positions are read once for the whole batch and
    the rows written in bulk: a visit's five tubes cost a handful of statements, not seventy."""
    if not placements:
        return []
    samples = {
        sample.pk: sample
        for sample in Sample.objects.select_for_update()
        .select_related("study")
        .filter(pk__in={placement.sample.pk for placement in placements})
    }
    boxes = {
        box.pk: box
        for box in Box.objects.select_related("rack__freezer").filter(
            pk__in={placement.box.pk for placement in placements}
        )
    }
    stored = set(
        SamplePosition.objects.filter(sample_id__in=list(samples)).values_list(
            "sample_id", flat=True
        )
    )
    taken: dict[int, set[tuple[int, int]]] = {pk: set() for pk in boxes}
    for box_id, row, column in SamplePosition.objects.filter(box_id__in=list(boxes)).values_list(
        "box_id", "row", "column"
    ):
        taken[box_id].add((row, column))
    checks = _BatchChecks(actor)
    chosen: list[tuple[Sample, Box, int, int]] = []
    for placement in placements:
        sample = samples.get(placement.sample.pk)
        if sample is None:
            raise Sample.DoesNotExist("Sample matching query does not exist.")
        box = boxes.get(placement.box.pk)
        box, row, column = checks.placement(sample, box, placement.position, stored, taken)
        stored.add(sample.pk)
        taken[box.pk].add((row, column))
        chosen.append((sample, box, row, column))
    return _places_write(actor, chosen)


class _BatchChecks:
    """`sample_store`'s checks for one sample after another, each study's scope and centres
    read once."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.scopes: dict[int, SiteScope] = {}
        self.centres: dict[int, set[int]] = {}

    def placement(
        self,
        sample: Sample,
        box: Box | None,
        position: str | None,
        stored: set[int],
        taken: dict[int, set[tuple[int, int]]],
    ) -> tuple[Box, int, int]:
        study = sample.study
        if study.pk not in self.scopes:
            self.scopes[study.pk] = _scope(self.actor, study)
        scope = self.scopes[study.pk]
        if scope.empty or not scope.allows(sample.site_id):
            require_samples(self.actor, study, sample.site_id)  # refuses with its message
        if sample.status not in STORABLE:
            raise ValidationError(
                _("Sample %(sample)s is %(status)s: it cannot be stored.")
                % {"sample": sample.identifier, "status": sample.status}
            )
        if sample.pk in stored:
            raise ValidationError(
                _("Sample %(sample)s is already stored: move it instead.")
                % {"sample": sample.identifier}
            )
        if box is None:  # as `sample_store` finds no such box, after the sample's checks
            raise Box.DoesNotExist("Box matching query does not exist.")
        if study.pk not in self.centres:
            self.centres[study.pk] = set(centres_of(self.actor, study).values_list("pk", flat=True))
        freezer = box.rack.freezer
        if freezer.centre_id not in self.centres[study.pk]:
            raise PermissionDenied(
                _("You may not use freezer %(freezer)s for this study.") % {"freezer": freezer.name}
            )
        if freezer.status != FreezerStatus.IN_SERVICE:
            raise ValidationError(
                _("Freezer %(freezer)s is out of service: choose a box of another freezer.")
                % {"freezer": freezer.name}
            )
        return (box, *_free_in(box, position, taken[box.pk]))


def _places_write(actor: Actor, chosen: list[tuple[Sample, Box, int, int]]) -> list[SamplePosition]:
    """Write the positions, the boxes' counts, the samples' status, the movements and one audit
    event per sample of a checked batch, in its order."""
    now, who = utc_now(), actor_label(actor)
    positions = [
        SamplePosition(
            sample=sample,
            study_id=sample.study_id,
            site_id=sample.site_id,
            box=box,
            row=row,
            column=column,
            stored_at=now,
            stored_by=who,
        )
        for sample, box, row, column in chosen
    ]
    try:
        with transaction.atomic():
            SamplePosition.objects.bulk_create(positions)
    except IntegrityError:
        # Someone stored another sample at one of these positions between our read and our
        # write: name the first one now taken.
        raise _taken_now(chosen) from None
    per_box: dict[int, int] = {}
    for _sample, box, _row, _column in chosen:
        per_box[box.pk] = per_box.get(box.pk, 0) + 1
    for box_id, count in per_box.items():
        Box.objects.filter(pk=box_id).update(used=F("used") + count)
    old_status = {sample.pk: sample.status for sample, _box, _row, _column in chosen}
    Sample.objects.filter(pk__in=list(old_status)).update(
        status=SampleStatus.STORED, updated_at=now
    )
    places = [place_of(box, row, column) for _sample, box, row, column in chosen]
    StorageMovement.objects.bulk_create(
        StorageMovement(
            sample=sample,
            kind=MovementKind.STORE,
            from_place="",
            to_place=place,
            reason="",
            moved_at=now,
            moved_by=who,
        )
        for (sample, _box, _row, _column), place in zip(chosen, places, strict=True)
    )
    by_chain: dict[str, list[AuditEntry]] = {}
    for (sample, _box, _row, _column), place in zip(chosen, places, strict=True):
        sample.status, sample.updated_at = SampleStatus.STORED, now
        by_chain.setdefault(sample.study.audit_chain, []).append(
            AuditEntry(
                action="biobank.sample_store",
                target=sample,
                old={"status": old_status[sample.pk], "place": ""},
                new={"status": sample.status, "place": place},
            )
        )
    for chain, entries in by_chain.items():
        audit_record_many(actor=actor, entries=entries, chain=chain)
    return positions


def _taken_now(chosen: list[tuple[Sample, Box, int, int]]) -> ValidationError:
    now_taken = set(
        SamplePosition.objects.filter(
            box_id__in={box.pk for _sample, box, _row, _column in chosen}
        ).values_list("box_id", "row", "column")
    )
    first = next(
        (
            (box, row, column)
            for _s, box, row, column in chosen
            if (box.pk, row, column) in now_taken
        ),
        (chosen[0][1], chosen[0][2], chosen[0][3]),
    )
    box, row, column = first
    return ValidationError(
        _("position: %(position)s of box %(box)s already holds a sample.")
        % {"position": position_name(row, column), "box": box.name}
    )


@transaction.atomic
def sample_move(
    *, actor: Actor, sample: Sample, box: Box, position: str | None = None, reason: str = ""
) -> SamplePosition:
    """Move a stored sample to another position (of the same box or another)."""
    sample = _sample_locked(actor, sample)
    current = (
        SamplePosition.objects.select_related("box__rack__freezer").filter(sample=sample).first()
    )
    if current is None:
        raise ValidationError(
            _("Sample %(sample)s is not stored: put it away first.") % {"sample": sample.identifier}
        )
    box = _box_for(actor, sample, box)
    row, column = _free_position(box, position)
    from_place = place_of(current.box, current.row, current.column)
    _unplace(current)
    placed = _place(box, row, column, sample, actor)
    to_place = place_of(box, row, column)
    _movement(sample, MovementKind.MOVE, from_place, to_place, actor, reason)
    audit_record(
        actor=actor,
        action="biobank.sample_move",
        target=sample,
        old={"place": from_place},
        new={"place": to_place},
        reason=reason,
        chain=sample.study.audit_chain,
    )
    return placed


@transaction.atomic
def sample_take_out(*, actor: Actor, sample: Sample, reason: str) -> Sample:
    """Take a sample out of its box (for an analysis, a shipment, aliquoting): its position
    frees, the sample is collected again until it is put back or leaves."""
    sample = _sample_locked(actor, sample)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("reason: say why the sample is taken out."))
    current = (
        SamplePosition.objects.select_related("box__rack__freezer").filter(sample=sample).first()
    )
    if current is None:
        raise ValidationError(_("Sample %(sample)s is not stored.") % {"sample": sample.identifier})
    return position_release(actor, sample, current, reason)


def position_release(actor: Actor, sample: Sample, current: SamplePosition, reason: str) -> Sample:
    """Free the sample's position, with its movement and audit event (inside a transaction)."""
    from_place = place_of(current.box, current.row, current.column)
    _unplace(current)
    old_status = sample.status
    if sample.status == SampleStatus.STORED:
        sample.status = SampleStatus.COLLECTED
    sample.updated_at = utc_now()
    sample.save(update_fields=["status", "updated_at"])
    _movement(sample, MovementKind.TAKE_OUT, from_place, "", actor, reason)
    audit_record(
        actor=actor,
        action="biobank.sample_take_out",
        target=sample,
        old={"status": old_status, "place": from_place},
        new={"status": sample.status, "place": ""},
        reason=reason,
        chain=sample.study.audit_chain,
    )
    return sample


def _unplace(position: SamplePosition) -> None:
    position.delete()
    Box.objects.filter(pk=position.box_id).update(used=F("used") - 1)


def _movement(
    sample: Sample, kind: str, from_place: str, to_place: str, actor: Actor, reason: str = ""
) -> StorageMovement:
    return StorageMovement.objects.create(
        sample=sample,
        kind=kind,
        from_place=from_place,
        to_place=to_place,
        reason=reason[:500],
        moved_at=utc_now(),
        moved_by=actor_label(actor),
    )


# --- a freezer failure ----------------------------------------------------------------------------


@transaction.atomic
def freezer_failure_record(
    *, actor: Actor, study: Study, freezer: Freezer, moved_to: Freezer, reason: str
) -> FreezerFailure:
    """Record a freezer's failure and move every sample it holds, of every study, into the free
    positions of ``moved_to``'s boxes (in rack, box, row, column order): one record, one
    movement and one audit event per sample, all or nothing. The failed freezer goes out of
    service."""
    _require_freezer(actor, study, freezer)
    _require_freezer(actor, study, moved_to)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("reason: say what happened to the freezer."))
    if freezer.pk == moved_to.pk:
        raise ValidationError(_("moved_to: choose another freezer than the one that failed."))
    freezer = Freezer.objects.select_for_update().get(pk=freezer.pk)
    if moved_to.status != FreezerStatus.IN_SERVICE:
        raise ValidationError(
            _("moved_to: freezer %(freezer)s is out of service.") % {"freezer": moved_to.name}
        )
    current = list(
        SamplePosition.objects.filter(box__rack__freezer=freezer)
        .select_related("box__rack", "sample__study")
        .order_by("box__rack__name", "box__name", "row", "column")
    )
    free = _free_positions(moved_to)
    if len(free) < len(current):
        raise ValidationError(
            _(
                "Freezer %(to)s has %(free)s free positions but %(count)s samples must leave "
                "freezer %(freezer)s: add boxes to %(to)s first. Nothing was moved."
            )
            % {
                "to": moved_to.name,
                "free": len(free),
                "count": len(current),
                "freezer": freezer.name,
            }
        )
    now, who = utc_now(), actor_label(actor)
    failure = FreezerFailure.objects.create(
        freezer=freezer,
        moved_to=moved_to,
        reason=reason,
        samples_moved=len(current),
        recorded_at=now,
        recorded_by=who,
    )
    moves = []
    for position, (box, row, column) in zip(current, free, strict=False):
        moves.append(
            (
                position.sample,
                place_of(position.box, position.row, position.column),
                box,
                row,
                column,
            )
        )
    SamplePosition.objects.filter(pk__in=[position.pk for position in current]).delete()
    SamplePosition.objects.bulk_create(
        [
            SamplePosition(
                sample=sample,
                study_id=sample.study_id,
                site_id=sample.site_id,
                box=box,
                row=row,
                column=column,
                stored_at=now,
                stored_by=who,
            )
            for sample, _from, box, row, column in moves
        ]
    )
    StorageMovement.objects.bulk_create(
        [
            StorageMovement(
                sample=sample,
                kind=MovementKind.FAILURE,
                from_place=from_place,
                to_place=place_of(box, row, column),
                failure=failure,
                reason=reason[:500],
                moved_at=now,
                moved_by=who,
            )
            for sample, from_place, box, row, column in moves
        ]
    )
    for box_id in {position.box_id for position in current} | {
        box.pk for _s, _f, box, _r, _c in moves
    }:
        Box.objects.filter(pk=box_id).update(
            used=SamplePosition.objects.filter(box_id=box_id).count()
        )
    freezer.status = FreezerStatus.FAILED
    freezer.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="biobank.freezer_failure",
        target=failure,
        old={"freezer": freezer.name, "status": FreezerStatus.IN_SERVICE},
        new={"moved_to": moved_to.name, "samples_moved": len(current), "status": freezer.status},
        reason=reason,
    )
    # One audit event per sample moved, in the chain of the sample's study.
    by_chain: dict[str, list[AuditEntry]] = {}
    for sample, from_place, box, row, column in moves:
        by_chain.setdefault(sample.study.audit_chain, []).append(
            AuditEntry(
                action="biobank.sample_move",
                target=sample,
                old={"place": from_place},
                new={"place": place_of(box, row, column), "freezer_failure": failure.pk},
                reason=reason,
            )
        )
    for chain, entries in sorted(by_chain.items()):
        audit_record_many(actor=actor, entries=entries, chain=chain)
    return failure


def _free_positions(freezer: Freezer) -> list[tuple[Box, int, int]]:
    boxes = list(
        Box.objects.filter(rack__freezer=freezer)
        .select_related("rack__freezer")
        .order_by("rack__name", "name")
    )
    taken = set(
        SamplePosition.objects.filter(box__rack__freezer=freezer).values_list(
            "box_id", "row", "column"
        )
    )
    return [
        (box, row, column)
        for box in boxes
        for row in range(1, box.rows + 1)
        for column in range(1, box.columns + 1)
        if (box.pk, row, column) not in taken
    ]


# --- reads ----------------------------------------------------------------------------------------


def sample_for_actor(actor: Actor, study: Study, identifier: str) -> Sample:
    """Return the study's sample with this identifier, at a site where the actor handles
    samples; an unknown one and one the actor may not see get the same refusal."""
    scope = require_samples(actor, study)
    code = (identifier or "").strip()
    found = Sample.objects.select_related("study", "site", "subject").filter(
        identifier=code, study=study
    )
    if not scope.all_sites:
        found = found.filter(site_id__in=scope.site_ids)
    sample = found.first()
    if sample is None:
        raise UnknownBarcode(
            _("No sample of this study you may see has the identifier '%(code)s'.")
            % {"code": code[:60]}
        )
    return sample


# Scanners typed as a keyboard may send a symbology prefix (]C0 for Code 128, ]Q1 for QR) or
# control characters around the code; people paste it with spaces.
_SCANNER_PREFIX = re.compile(r"^\][A-Za-z]\d")


def barcode_clean(code: str) -> str:
    """Return the identifier a scanned or typed label carries."""
    code = "".join(character for character in (code or "") if character.isprintable()).strip()
    return _SCANNER_PREFIX.sub("", code).strip()


@dataclass(frozen=True)
class ScannedSample:
    sample: Sample
    place: str  # "" when not stored


def sample_scan(actor: Actor, study: Study, code: str) -> ScannedSample:
    """Return the sample a scanned label names, with where it is stored."""
    cleaned = barcode_clean(code)
    if not cleaned:
        raise UnknownBarcode(_("code: scan or type a sample identifier."))
    sample = sample_for_actor(actor, study, cleaned)
    return ScannedSample(sample=sample, place=sample_place(sample))


def sample_place(sample: Sample) -> str:
    """Return where a sample is stored ("F-80-1 / R1 / BOX-01 / C4"), "" when it is not."""
    found = (
        SamplePosition.objects.filter(sample=sample)
        .values_list("box__rack__freezer__name", "box__rack__name", "box__name", "row", "column")
        .first()
    )
    if found is None:
        return ""
    freezer, rack, box, row, column = found
    return f"{freezer} / {rack} / {box} / {position_name(row, column)}"


@dataclass(frozen=True)
class FreezerUse:
    freezer: Freezer
    racks: int
    boxes: int
    used: int
    total: int

    @property
    def free(self) -> int:
        return self.total - self.used


def freezers_for_actor(actor: Actor, study: Study) -> list[FreezerUse]:
    """Return the freezers the actor may use for the study, each with its capacity (used of
    total positions)."""
    freezers = Freezer.objects.filter(centre__in=centres_of(actor, study)).select_related("centre")
    return [freezer_use(freezer) for freezer in freezers]


def freezer_use(freezer: Freezer) -> FreezerUse:
    """Return a freezer's capacity: positions used of all its boxes' positions."""
    boxes = Box.objects.filter(rack__freezer=freezer).aggregate(
        boxes=Count("pk"), total=Sum(F("rows") * F("columns")), used=Sum("used")
    )
    return FreezerUse(
        freezer=freezer,
        racks=Rack.objects.filter(freezer=freezer).count(),
        boxes=boxes["boxes"] or 0,
        used=boxes["used"] or 0,
        total=boxes["total"] or 0,
    )


def freezer_for_actor(actor: Actor, study: Study, pk: int) -> Freezer:
    """Return a freezer the actor may use for the study (refused like an unknown one)."""
    freezer = (
        Freezer.objects.filter(pk=pk, centre__in=centres_of(actor, study))
        .select_related("centre")
        .first()
    )
    if freezer is None:
        raise PermissionDenied(_("There is no freezer %(pk)s you may use.") % {"pk": pk})
    return freezer


def box_for_actor(actor: Actor, study: Study, pk: int) -> Box:
    """Return a box of a freezer the actor may use for the study."""
    box = (
        Box.objects.filter(pk=pk, rack__freezer__centre__in=centres_of(actor, study))
        .select_related("rack__freezer")
        .first()
    )
    if box is None:
        raise PermissionDenied(_("There is no box %(pk)s you may use.") % {"pk": pk})
    return box


def freezer_named(actor: Actor, study: Study, name: str) -> Freezer:
    """Return the freezer of this name the actor may use (a bad name is bad input)."""
    found = Freezer.objects.filter(name=(name or "").strip(), centre__in=centres_of(actor, study))
    freezer = found.first()
    if freezer is None or found.count() > 1:
        raise ValidationError(
            _("moved_to: there is no single freezer named '%(name)s' you may use.") % {"name": name}
        )
    return freezer


def box_given(actor: Actor, study: Study, pk: int | None) -> Box:
    """Return the box a request names (a box one may not use is bad input, as the sample
    was already checked)."""
    try:
        return box_for_actor(actor, study, pk or 0)
    except PermissionDenied:
        raise ValidationError(_("box: there is no box %(pk)s you may use.") % {"pk": pk}) from None


def rack_for_actor(actor: Actor, study: Study, pk: int) -> Rack:
    """Return a rack of a freezer the actor may use for the study."""
    rack = (
        Rack.objects.filter(pk=pk, freezer__centre__in=centres_of(actor, study))
        .select_related("freezer")
        .first()
    )
    if rack is None:
        raise PermissionDenied(_("There is no rack %(pk)s you may use.") % {"pk": pk})
    return rack


@dataclass(frozen=True)
class BoxCell:
    position: str
    identifier: str  # "" when empty or when the sample is not one the actor may see
    occupied: bool
    sample_type: str = ""


@dataclass(frozen=True)
class BoxMap:
    box: Box
    columns: list[int]
    rows: list[tuple[str, list[BoxCell]]]
    used: int

    @property
    def free(self) -> int:
        return self.box.capacity - self.used


def box_map(actor: Actor, study: Study, box: Box) -> BoxMap:
    """Return the box as a grid: each position with the sample it holds. Samples of other
    studies, or of sites the actor does not cover, show as occupied without their identifier."""
    scope = require_samples(actor, study)
    found_rows = SamplePosition.objects.filter(box=box).values_list(
        "row",
        "column",
        "sample__identifier",
        "sample__sample_type",
        "sample__study_id",
        "sample__site_id",
    )
    held: dict[tuple[int, int], tuple[str, str, int, int]] = {
        (row, column): (identifier, sample_type, study_id, site_id)
        for row, column, identifier, sample_type, study_id, site_id in found_rows
    }
    rows = []
    for row in range(1, box.rows + 1):
        cells = []
        for column in range(1, box.columns + 1):
            found = held.get((row, column))
            visible = found is not None and found[2] == study.pk and scope.allows(found[3])
            cells.append(
                BoxCell(
                    position=position_name(row, column),
                    identifier=found[0] if found and visible else "",
                    sample_type=found[1] if found and visible else "",
                    occupied=found is not None,
                )
            )
        rows.append((chr(ord("A") + row - 1), cells))
    return BoxMap(box=box, columns=list(range(1, box.columns + 1)), rows=rows, used=len(held))


@dataclass(frozen=True)
class StoredSample:
    identifier: str
    sample_type: str
    rack: str
    box: str
    box_id: int
    position: str


@dataclass(frozen=True)
class FreezerContent:
    samples: list[StoredSample]
    page: int
    pages: int
    count: int


def freezer_content(
    actor: Actor, study: Study, freezer: Freezer, *, page: int = 1, per_page: int = 100
) -> FreezerContent:
    """Return one page of the study's samples (at the actor's sites) stored in a freezer, in
    rack, box and position order."""
    scope = require_samples(actor, study)
    # Box by box: the study's samples are counted per box (through the box's index), then only
    # the boxes the page covers are read: a page costs the same at 100 or 100,000 samples.
    boxes = list(
        Box.objects.filter(rack__freezer=freezer)
        .order_by("rack__name", "name")
        .values_list("pk", "name", "rack__name")
    )
    positions = SamplePosition.objects.filter(
        box_id__in=[pk for pk, _name, _rack in boxes], study=study
    )
    if not scope.all_sites:
        positions = positions.filter(site_id__in=scope.site_ids)
    per_box = dict(
        positions.order_by().values("box_id").annotate(n=Count("pk")).values_list("box_id", "n")
    )
    count = sum(per_box.values())
    per_page = max(1, min(per_page, 500))
    pages = max(1, -(-count // per_page))
    page = max(1, min(page, pages))
    start, end = (page - 1) * per_page, page * per_page
    covered: list[int] = []
    skipped = seen = 0
    for pk, _name, _rack in boxes:
        n = per_box.get(pk, 0)
        if n and seen + n > start and seen < end:
            if not covered:
                skipped = seen
            covered.append(pk)
        seen += n
    order = {pk: (index, name, rack) for index, (pk, name, rack) in enumerate(boxes)}
    rows = sorted(
        positions.filter(box_id__in=covered).values_list(
            "sample__identifier", "sample__sample_type", "box_id", "row", "column"
        ),
        key=lambda found: (order[found[2]][0], found[3], found[4]),
    )[start - skipped : end - skipped]
    samples = [
        StoredSample(
            identifier=identifier,
            sample_type=sample_type,
            rack=order[box_id][2],
            box=order[box_id][1],
            box_id=box_id,
            position=position_name(row, column),
        )
        for identifier, sample_type, box_id, row, column in rows
    ]
    return FreezerContent(samples=samples, page=page, pages=pages, count=count)


def freezer_boxes(freezer: Freezer) -> list[tuple[Rack, list[tuple[Box, int]]]]:
    """Return the freezer's racks with their boxes and each box's used positions."""
    boxes: dict[int, list[tuple[Box, int]]] = {}
    for box in Box.objects.filter(rack__freezer=freezer).order_by("name"):
        boxes.setdefault(box.rack_id, []).append((box, box.used))
    return [
        (rack, boxes.get(rack.pk, []))
        for rack in Rack.objects.filter(freezer=freezer).order_by("name")
    ]


@dataclass(frozen=True, slots=True)
class BoxWithSpace:
    pk: int
    label: str  # "F-80-1 / R1 / BOX-01 (12 / 81)"
    used: int
    capacity: int


def boxes_with_space(actor: Actor, study: Study, *, limit: int = 200) -> list[BoxWithSpace]:
    """Return the boxes of the in-service freezers the actor may use that have a free position,
    each with its used positions, in freezer, rack and box order (the first ``limit``).

    Plain values with their label: a sample's page offers 200 boxes, and building three
    models and reading six template variables for each was most of the page's time."""
    boxes = (
        Box.objects.filter(
            rack__freezer__centre__in=centres_of(actor, study),
            rack__freezer__status=FreezerStatus.IN_SERVICE,
        )
        .filter(used__lt=F("rows") * F("columns"))
        .order_by("rack__freezer__name", "rack__name", "name")
        .values_list("pk", "rack__freezer__name", "rack__name", "name", "used", "rows", "columns")[
            :limit
        ]
    )
    return [
        BoxWithSpace(
            pk=pk,
            label=f"{freezer} / {rack} / {name} ({used} / {rows * columns})",
            used=used,
            capacity=rows * columns,
        )
        for pk, freezer, rack, name, used, rows, columns in boxes
    ]


def freezers_in_service(actor: Actor, study: Study, *, besides: Freezer) -> list[Freezer]:
    """Return the other in-service freezers the actor may move samples to."""
    return list(
        Freezer.objects.filter(
            centre__in=centres_of(actor, study), status=FreezerStatus.IN_SERVICE
        ).exclude(pk=besides.pk)
    )


def sample_movements(actor: Actor, sample: Sample) -> QuerySet[StorageMovement]:
    """Return a sample's storage history, oldest first."""
    require_samples(actor, sample.study, sample.site_id)
    return StorageMovement.objects.filter(sample=sample).order_by("moved_at", "pk")


def movements_of_failure(failure: FreezerFailure) -> int:
    return StorageMovement.objects.filter(failure=failure).count()


# --- samples leaving in a shipment ----------------------------------------------------------------


def shipment_positions_release(actor: Actor, shipment: Shipment, sample_pks: list[int]) -> None:
    """Free the positions of the samples a shipment sends (the shipments' send hook): each
    sample's take-out names the shipment, by the person sending it."""
    reason = _("sent in shipment %(reference)s") % {"reference": shipment.reference}
    positions_release(
        actor=actor,
        study=shipment.study,
        sample_pks=sample_pks,
        status=SampleStatus.IN_TRANSIT,
        reason=str(reason),
    )


def positions_release(
    *, actor: Actor, study: Study, sample_pks: list[int], status: str, reason: str
) -> None:
    """Free the positions of samples leaving their boxes for good (sent, destroyed, returned),
    whose new status is ``status``.

    Runs inside the caller's transaction, set-wise for a 500-sample shipment: one read of the
    positions, one delete, one update per box, the movements and audit events in bulk. Samples
    not stored are left alone."""
    positions = list(
        SamplePosition.objects.select_related("box__rack__freezer", "sample").filter(
            sample_id__in=sample_pks
        )
    )
    if not positions:
        return
    now, who = utc_now(), actor_label(actor)
    places = {p.sample_id: place_of(p.box, p.row, p.column) for p in positions}
    SamplePosition.objects.filter(pk__in=[p.pk for p in positions]).delete()
    per_box: dict[int, int] = {}
    for position in positions:
        per_box[position.box_id] = per_box.get(position.box_id, 0) + 1
    for box_id, count in per_box.items():
        Box.objects.filter(pk=box_id).update(used=F("used") - count)
    StorageMovement.objects.bulk_create(
        StorageMovement(
            sample_id=p.sample_id,
            kind=MovementKind.TAKE_OUT,
            from_place=places[p.sample_id],
            to_place="",
            reason=reason[:500],
            moved_at=now,
            moved_by=who,
        )
        for p in positions
    )
    audit_record_many(
        actor=actor,
        entries=[
            AuditEntry(
                action="biobank.sample_take_out",
                target=p.sample,
                old={"status": p.sample.status, "place": places[p.sample_id]},
                new={"status": status, "place": ""},
                reason=reason,
            )
            for p in positions
        ],
        chain=study.audit_chain,
    )
