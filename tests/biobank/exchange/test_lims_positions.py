"""Storage positions in the LIMS exchange: exported in Carnet's columns and OpenSpecimen's
Location columns; an import stores or moves samples there, all or nothing, a dry run writing
nothing, a full box or a taken position refused by name with its row and column."""

from __future__ import annotations

import pytest

from carnet.audit.models import AuditEvent
from carnet.biobank.exchange import ImportRefused, lims_export, lims_import
from carnet.biobank.models import Box, Sample, SamplePosition, SampleStatus, StorageMovement
from carnet.biobank.storage import box_create, freezer_create, rack_create, sample_store
from tests.biobank.exchange.conftest import Bank

pytestmark = pytest.mark.django_db


def _box(bank: Bank, rows: int = 2, columns: int = 2) -> Box:
    freezer = freezer_create(
        actor=bank.technician,
        study=bank.study,
        centre=bank.world.site_a.centre,
        name="F1",
        temperature=-80,
    )
    rack = rack_create(actor=bank.technician, study=bank.study, freezer=freezer, name="R1")
    return box_create(
        actor=bank.technician, study=bank.study, rack=rack, name="B1", rows=rows, columns=columns
    )


def test_the_export_gives_each_sample_its_place_in_both_shapes(bank: Bank) -> None:
    box = _box(bank)
    subject = bank.include()
    stored = bank.sample(subject, identifier="X-1")
    bank.sample(subject, identifier="X-2")
    sample_store(actor=bank.technician, sample=stored, box=box, position="B2")
    carnet = lims_export(bank.technician, bank.study).splitlines()
    assert carnet[0].endswith(",freezer,rack,box,position")
    assert carnet[1].startswith("X-1,")
    assert carnet[1].endswith(",F1,R1,B1,B2")
    assert carnet[2].startswith("X-2,")
    assert carnet[2].endswith(",,,,")
    openspecimen = lims_export(bank.technician, bank.study, shape="openspecimen").splitlines()
    assert openspecimen[0].endswith(
        ",Location#Container,Location#Row,Location#Column,Location#Position"
    )
    assert openspecimen[1].endswith(",F1/R1/B1,2,2,4")


def test_an_import_stores_and_moves_samples_at_the_file_places(bank: Bank) -> None:
    box = _box(bank)
    subject = bank.include()
    moving = bank.sample(subject, identifier="M-1")
    sample_store(actor=bank.technician, sample=moving, box=box, position="A1")
    text = (
        "identifier,subject,site,sample_type,freezer,rack,box,position\n"
        "M-1,,,,F1,R1,B1,B1\n"
        "N-1,01-001,01,plasma,F1,R1,B1,A2\n"
    )
    dry = lims_import(actor=bank.technician, study=bank.study, text=text, dry_run=True)
    assert (dry.created, dry.placed) == (["N-1"], ["M-1", "N-1"])
    assert not Sample.objects.filter(identifier="N-1").exists()
    assert SamplePosition.objects.get(sample=moving).row == 1
    report = lims_import(actor=bank.technician, study=bank.study, text=text)
    assert report.placed == ["M-1", "N-1"]
    places = {
        p.sample.identifier: (p.row, p.column)
        for p in SamplePosition.objects.select_related("sample")
    }
    assert places == {"M-1": (2, 1), "N-1": (1, 2)}
    assert Box.objects.get(pk=box.pk).used == 2
    assert Sample.objects.get(identifier="N-1").status == SampleStatus.STORED
    move = StorageMovement.objects.get(sample=moving, kind="move")
    assert (move.from_place, move.to_place) == ("F1 / R1 / B1 / A1", "F1 / R1 / B1 / B1")
    assert AuditEvent.objects.filter(action="biobank.sample_move").count() == 1
    assert AuditEvent.objects.filter(action="biobank.sample_store").count() == 2


def test_the_openspecimen_location_columns_are_read(bank: Bank) -> None:
    _box(bank)
    bank.include()
    text = (
        "Specimen Label,PPID,Site,Type,Location#Container,Location#Row,Location#Column,"
        "Location#Position\n"
        "O-1,01-001,01,plasma,F1/R1/B1,2,1,\n"
        "O-2,01-001,01,plasma,B1,,,2\n"
    )
    report = lims_import(actor=bank.technician, study=bank.study, text=text)
    assert report.placed == ["O-1", "O-2"]
    places = {
        p.sample.identifier: (p.row, p.column)
        for p in SamplePosition.objects.select_related("sample")
    }
    assert places == {"O-1": (2, 1), "O-2": (1, 2)}


def test_a_taken_position_and_a_full_box_are_refused_by_name_and_nothing_is_written(
    bank: Bank,
) -> None:
    box = _box(bank, rows=1, columns=2)
    subject = bank.include()
    sample_store(
        actor=bank.technician, sample=bank.sample(subject, identifier="H-1"), box=box, position="A1"
    )
    text = (
        "identifier,subject,site,sample_type,freezer,rack,box,position\n"
        "T-1,01-001,01,plasma,F1,R1,B1,A1\n"
        "T-2,01-001,01,plasma,F1,R1,B1,\n"
        "T-3,01-001,01,plasma,F1,R1,B1,\n"
        "T-4,01-001,01,plasma,F1,R9,B1,A1\n"
        "T-5,01-001,01,plasma,F1,R1,B1,C7\n"
    )
    with pytest.raises(ImportRefused) as refused:
        lims_import(actor=bank.technician, study=bank.study, text=text)
    assert refused.value.errors == [
        "row 2, column position: position A1 of box F1 / R1 / B1 already holds a sample.",
        "row 4, column position: box F1 / R1 / B1 is full (2 positions).",
        "row 5, column box: there is no box B1 in rack R9 of freezer F1 you may use.",
        "row 6, column position: position: C7 is outside box B1 (1 rows × 2 columns).",
    ]
    assert not Sample.objects.filter(identifier__startswith="T-").exists()
    assert SamplePosition.objects.count() == 1
    assert Box.objects.get(pk=box.pk).used == 1
