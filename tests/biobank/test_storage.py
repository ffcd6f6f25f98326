"""Storage: one sample per position, a full box refused, put away / move / take out audited
with who and when, the box map, a freezer's capacity and content, and a freezer failure that
moves every sample in one record."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.biobank.models import (
    FreezerFailure,
    FreezerStatus,
    SamplePosition,
    SampleStatus,
    StorageMovement,
)
from carnet.biobank.storage import (
    UnknownBarcode,
    box_create,
    box_map,
    freezer_content,
    freezer_create,
    freezer_failure_record,
    freezer_use,
    rack_create,
    sample_move,
    sample_scan,
    sample_store,
    sample_take_out,
)
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from tests.biobank.storage_world import Storage, storage_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def storage() -> Storage:
    return storage_world()


def test_a_sample_is_put_away_at_a_position(storage: Storage) -> None:
    placed = sample_store(
        actor=storage.technician, sample=storage.plasma, box=storage.box, position="c4"
    )
    assert (placed.row, placed.column) == (3, 4)
    storage.plasma.refresh_from_db()
    assert storage.plasma.status == SampleStatus.STORED
    movement = StorageMovement.objects.get(sample=storage.plasma)
    assert movement.to_place == "F-80-1 / R1 / BOX-01 / C4"
    assert movement.moved_by == storage.technician.display_name()
    event = AuditEvent.objects.get(action="biobank.sample_store")
    assert event.new == {"status": "stored", "place": "F-80-1 / R1 / BOX-01 / C4"}
    assert event.actor_id == storage.technician.pk
    # Without a position: the first free one.
    other = storage.sample("MINI-01-001-PL02")
    assert (sample_store(actor=storage.technician, sample=other, box=storage.box).row, 1) == (1, 1)


def test_a_position_holds_one_sample(storage: Storage) -> None:
    sample_store(actor=storage.technician, sample=storage.plasma, box=storage.box, position="A1")
    other = storage.sample("MINI-01-001-PL02")
    with pytest.raises(ValidationError) as refused:
        sample_store(actor=storage.technician, sample=other, box=storage.box, position="A1")
    assert str(refused.value) == "position: A1 of box BOX-01 already holds a sample."
    # The database itself refuses a second sample at a position.
    with pytest.raises(IntegrityError), transaction.atomic():
        SamplePosition.objects.create(
            sample=other,
            study=other.study,
            site=other.site,
            box=storage.box,
            row=1,
            column=1,
            stored_at=utc_now(),
            stored_by="x",
        )


def test_a_position_outside_the_box_is_refused(storage: Storage) -> None:
    with pytest.raises(ValidationError) as refused:
        sample_store(
            actor=storage.technician, sample=storage.plasma, box=storage.box, position="J1"
        )
    assert str(refused.value) == ("position: J1 is outside box BOX-01 (9 rows × 9 columns).")


def test_a_full_box_is_refused(storage: Storage) -> None:
    rack = storage.box.rack
    small = box_create(
        actor=storage.technician, study=storage.study, rack=rack, name="SMALL", rows=1, columns=2
    )
    for number in (1, 2):
        sample_store(actor=storage.technician, sample=storage.sample(f"S-{number}"), box=small)
    with pytest.raises(ValidationError) as refused:
        sample_store(actor=storage.technician, sample=storage.plasma, box=small)
    assert str(refused.value) == ("Box SMALL is full (2 of 2 positions used): choose another box.")
    storage.plasma.refresh_from_db()
    assert storage.plasma.status == SampleStatus.COLLECTED


def test_moves_and_take_outs_are_audited(storage: Storage) -> None:
    sample_store(actor=storage.technician, sample=storage.plasma, box=storage.box, position="A1")
    sample_move(
        actor=storage.technician,
        sample=storage.plasma,
        box=storage.box,
        position="B2",
        reason="reorganised",
    )
    moved = AuditEvent.objects.get(action="biobank.sample_move")
    assert moved.old == {"place": "F-80-1 / R1 / BOX-01 / A1"}
    assert moved.new == {"place": "F-80-1 / R1 / BOX-01 / B2"}
    assert moved.reason == "reorganised"
    with pytest.raises(ValidationError, match="reason: say why"):
        sample_take_out(actor=storage.technician, sample=storage.plasma, reason=" ")
    sample_take_out(actor=storage.technician, sample=storage.plasma, reason="analysis")
    storage.plasma.refresh_from_db()
    assert storage.plasma.status == SampleStatus.COLLECTED
    assert not SamplePosition.objects.filter(sample=storage.plasma).exists()
    taken = AuditEvent.objects.get(action="biobank.sample_take_out")
    assert taken.old["place"] == "F-80-1 / R1 / BOX-01 / B2"
    assert taken.reason == "analysis"
    assert list(
        StorageMovement.objects.filter(sample=storage.plasma).values_list("kind", flat=True)
    ) == ["store", "move", "take_out"]


def test_the_box_map_shows_identifiers_and_empty_positions(storage: Storage) -> None:
    sample_store(actor=storage.technician, sample=storage.plasma, box=storage.box, position="A2")
    # A sample of site B in the same box: occupied, without its identifier, for A's technician.
    grant_b = storage.technician_b
    sample_store(actor=grant_b, sample=storage.plasma_b, box=_box_at_ipc(storage), position="A1")
    sample_store(
        actor=storage.technician, sample=storage.sample("X-1"), box=storage.box, position="A1"
    )
    grid = box_map(storage.technician, storage.study, storage.box)
    assert grid.used == 2
    assert grid.free == 79
    first_row = grid.rows[0][1]
    assert [(cell.position, cell.identifier) for cell in first_row[:3]] == [
        ("A1", "X-1"),
        ("A2", "MINI-01-001-PL01"),
        ("A3", ""),
    ]
    assert first_row[2].occupied is False


def _box_at_ipc(storage: Storage):
    freezer = freezer_create(
        actor=storage.technician_b,
        study=storage.study,
        centre=storage.world.site_b.centre,
        name="IPC-80",
        temperature=-80,
    )
    rack = rack_create(actor=storage.technician_b, study=storage.study, freezer=freezer, name="R")
    return box_create(
        actor=storage.technician_b, study=storage.study, rack=rack, name="B", rows=10, columns=10
    )


def test_technicians_use_the_freezers_of_their_sites_centres(storage: Storage) -> None:
    with pytest.raises(PermissionDenied):
        sample_store(actor=storage.technician_b, sample=storage.plasma_b, box=storage.box)
    with pytest.raises(PermissionDenied):
        sample_store(actor=storage.technician_b, sample=storage.plasma, box=_box_at_ipc(storage))
    for actor in (storage.investigator, storage.outsider):
        with pytest.raises(PermissionDenied):
            box_map(actor, storage.study, storage.box)
        with pytest.raises(PermissionDenied):
            freezer_create(
                actor=actor,
                study=storage.study,
                centre=storage.world.site_a.centre,
                name="F2",
                temperature=-20,
            )


def test_capacity_and_content_of_a_freezer(storage: Storage) -> None:
    for number in range(5):
        sample_store(
            actor=storage.technician, sample=storage.sample(f"C-{number}"), box=storage.box
        )
    use = freezer_use(storage.freezer)
    assert (use.used, use.total, use.free, use.boxes, use.racks) == (5, 81, 76, 1, 1)
    content = freezer_content(
        storage.technician, storage.study, storage.freezer, per_page=2, page=2
    )
    assert (content.count, content.pages, content.page) == (5, 3, 2)
    assert [(s.identifier, s.position) for s in content.samples] == [("C-2", "A3"), ("C-3", "A4")]


def test_a_freezer_failure_moves_every_sample_in_one_record(storage: Storage) -> None:
    for number in range(3):
        sample_store(
            actor=storage.technician, sample=storage.sample(f"F-{number}"), box=storage.box
        )
    spare = freezer_create(
        actor=storage.technician,
        study=storage.study,
        centre=storage.world.site_a.centre,
        name="F-80-2",
        temperature=-80,
    )
    rack = rack_create(actor=storage.technician, study=storage.study, freezer=spare, name="R9")
    small = box_create(
        actor=storage.technician, study=storage.study, rack=rack, name="B1", rows=1, columns=2
    )
    with pytest.raises(ValidationError) as refused:
        freezer_failure_record(
            actor=storage.technician,
            study=storage.study,
            freezer=storage.freezer,
            moved_to=spare,
            reason="alarm at -40 °C",
        )
    assert str(refused.value) == (
        "Freezer F-80-2 has 2 free positions but 3 samples must leave freezer F-80-1: "
        "add boxes to F-80-2 first. Nothing was moved."
    )
    assert SamplePosition.objects.filter(box=storage.box).count() == 3
    box_create(
        actor=storage.technician, study=storage.study, rack=rack, name="B2", rows=1, columns=2
    )
    failure = freezer_failure_record(
        actor=storage.technician,
        study=storage.study,
        freezer=storage.freezer,
        moved_to=spare,
        reason="alarm at -40 °C",
    )
    assert FreezerFailure.objects.count() == 1
    assert failure.samples_moved == 3
    assert SamplePosition.objects.filter(box__rack__freezer=storage.freezer).count() == 0
    assert SamplePosition.objects.filter(box__rack__freezer=spare).count() == 3
    assert StorageMovement.objects.filter(failure=failure).count() == 3
    assert SamplePosition.objects.get(sample__identifier="F-0").box == small
    moves = AuditEvent.objects.filter(action="biobank.sample_move", chain=storage.study.audit_chain)
    assert moves.count() == 3
    assert AuditEvent.objects.filter(action="biobank.freezer_failure").count() == 1
    storage.freezer.refresh_from_db()
    assert storage.freezer.status == FreezerStatus.FAILED
    with pytest.raises(ValidationError, match="out of service"):
        sample_store(actor=storage.technician, sample=storage.plasma, box=storage.box)


def test_scanning_a_label_finds_the_sample(storage: Storage) -> None:
    sample_store(actor=storage.technician, sample=storage.plasma, box=storage.box, position="B3")
    found = sample_scan(storage.technician, storage.study, "]C0MINI-01-001-PL01\r\n")
    assert found.sample == storage.plasma
    assert found.place == "F-80-1 / R1 / BOX-01 / B3"
    with pytest.raises(UnknownBarcode) as refused:
        sample_scan(storage.technician, storage.study, "NOPE-1")
    assert str(refused.value) == "No sample of this study you may see has the identifier 'NOPE-1'."
    # Site B's sample is unknown to A's technician, with the same sentence.
    with pytest.raises(UnknownBarcode, match="'MINI-02-001-PL01'"):
        sample_scan(storage.technician, storage.study, "MINI-02-001-PL01")


def test_box_geometry_is_checked(storage: Storage) -> None:
    with pytest.raises(ValidationError, match="rows: give between 1 and 26 rows"):
        box_create(
            actor=storage.technician,
            study=storage.study,
            rack=storage.box.rack,
            name="X",
            rows=27,
            columns=9,
        )
    with pytest.raises(ValidationError, match="already has a box named BOX-01"):
        box_create(
            actor=storage.technician,
            study=storage.study,
            rack=storage.box.rack,
            name="BOX-01",
            rows=9,
            columns=9,
        )
