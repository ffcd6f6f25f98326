"""Exchange with the CRB's LIMS: export, import (Carnet's columns or OpenSpecimen's), all or
nothing with located errors, and a dry run that writes nothing."""

from __future__ import annotations

import pytest

from carnet.audit.models import AuditEvent
from carnet.biobank.exchange import CARNET_COLUMNS, ImportRefused, lims_export, lims_import
from carnet.biobank.models import Sample, SampleStatus
from carnet.core.errors import ValidationError
from tests.biobank.exchange.conftest import Bank

pytestmark = pytest.mark.django_db


def test_an_export_reimported_changes_nothing(bank: Bank) -> None:
    subject = bank.include()
    parent = bank.sample(subject, identifier="E-1")
    bank.sample(subject, identifier="E-1-01", parent=parent)
    text = lims_export(bank.technician, bank.study)
    lines = text.splitlines()
    assert lines[0] == ",".join(CARNET_COLUMNS)
    assert lines[2].startswith("E-1-01,E-1,01-001,01,baseline,,,plasma,,0.5,mL,stored,")
    report = lims_import(actor=bank.technician, study=bank.study, text=text)
    assert (report.created, report.updated, report.unchanged) == ([], [], 2)


def test_an_import_creates_and_updates_samples_with_parents_from_the_file(bank: Bank) -> None:
    subject = bank.include()
    bank.sample(subject, identifier="K-1")
    text = (
        "identifier,parent,subject,site,sample_type,volume,unit,status,collected_at\n"
        "K-1,,,,,0.25,mL,stored,\n"
        "N-1,,01-001,01,serum,1.5,mL,,2026-01-05T09:30:00+01:00\n"
        "N-1-01,N-1,01-001,01,serum,0.5,mL,stored,\n"
    )
    report = lims_import(actor=bank.technician, study=bank.study, text=text)
    assert report.created == ["N-1", "N-1-01"]
    assert report.updated == ["K-1"]
    assert str(Sample.objects.get(identifier="K-1").volume) == "0.250"
    assert Sample.objects.get(identifier="N-1-01").parent.identifier == "N-1"
    assert AuditEvent.objects.filter(action="biobank.sample_imported").count() == 2
    event = AuditEvent.objects.get(action="biobank.sample_updated")
    assert event.old == {"volume": "0.500"}
    assert event.new == {"volume": "0.25"}


def test_a_malformed_file_is_refused_whole_with_located_errors(bank: Bank) -> None:
    bank.include()
    text = (
        "identifier,parent,subject,site,sample_type,volume,status,collected_at\n"
        "G-1,,01-001,01,plasma,0.5,stored,\n"
        "G-2,,01-999,01,plasma,abc,frozen,yesterday\n"
        "G-1,,01-001,01,plasma,0.5,stored,\n"
        "G-3,NOPE,01-001,03,,,,\n"
    )
    with pytest.raises(ImportRefused) as refused:
        lims_import(actor=bank.technician, study=bank.study, text=text)
    assert refused.value.errors == [
        "row 3, column volume: abc is not a volume.",
        "row 3, column status: frozen is not one of collected, stored, in_transit, shipped, "
        "consumed, destroyed, returned, missing.",
        "row 3, column collected_at: yesterday is not a date and time with its offset (ISO 8601).",
        "row 3, column subject: 01-999 is not a subject of this study.",
        "row 4, column identifier: G-1 is already on an earlier row.",
        "row 5, column sample_type: a new sample needs one.",
        "row 5, column site: 03 is not a site of this study.",
        "row 5, column parent: NOPE is neither a known sample nor on a row of the file.",
    ]
    assert not Sample.objects.exists()


def test_an_unknown_column_and_a_short_row_are_located(bank: Bank) -> None:
    # (freezer was the example before storage positions were exchanged: it is a column now.)
    with pytest.raises(ValidationError, match="row 1, column shelf: not a column"):
        lims_import(actor=bank.technician, study=bank.study, text="identifier,shelf\nA,B\n")
    with pytest.raises(ValidationError, match="row 2: 1 values for 2 columns"):
        lims_import(actor=bank.technician, study=bank.study, text="identifier,status\nA\n")


def test_a_dry_run_counts_and_writes_nothing(bank: Bank) -> None:
    bank.include()
    events = AuditEvent.objects.count()
    report = lims_import(
        actor=bank.technician,
        study=bank.study,
        text="identifier,subject,site,sample_type\nD-1,01-001,01,plasma\n",
        dry_run=True,
    )
    assert report.created == ["D-1"]
    assert report.dry_run
    assert not Sample.objects.exists()
    assert AuditEvent.objects.count() == events


def test_the_openspecimen_shape_goes_out_and_comes_back(bank: Bank) -> None:
    subject = bank.include()
    parent = bank.sample(subject, identifier="O-1")
    bank.sample(subject, identifier="O-1-01", parent=parent, status=SampleStatus.DESTROYED)
    text = lims_export(bank.technician, bank.study, shape="openspecimen")
    lines = text.splitlines()
    assert lines[0].startswith("CP Short Title,PPID,Site,Visit Name,Specimen Label,Barcode,")
    assert lines[2].startswith("MINI,01-001,01,baseline,O-1-01,O-1-01,Aliquot,O-1,plasma,,0.5")
    assert lines[2].split(",")[13] == "Closed"
    imported = (
        "Specimen Label,Parent Specimen Label,PPID,Site,Type,Initial Quantity,Unit\n"
        "OS-1,O-1,01-001,01,plasma,0.2,mL\n"
    )
    report = lims_import(actor=bank.technician, study=bank.study, text=imported)
    assert report.shape == "openspecimen"
    assert report.created == ["OS-1"]
    assert Sample.objects.get(identifier="OS-1").parent == parent


def test_a_technician_imports_only_at_the_sites_they_manage(bank: Bank) -> None:
    bank.include()  # at site A
    with pytest.raises(ImportRefused, match="row 2, column site: you do not manage"):
        lims_import(
            actor=bank.technician_b,
            study=bank.study,
            text="identifier,subject,site,sample_type\nX-1,01-001,01,plasma\n",
        )
