"""Coded terms where they are read: the AE table by SOC and PT of the statistical safety report,
every export's coded_terms dataset (as the coding stood at the cut-off), and the command line."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from carnet.coding.models import CodedTerm
from carnet.coding.services import term_code
from carnet.interop.exports import export_write
from carnet.interop.services import cutoff_create
from carnet.reports.derive import derive
from carnet.reports.results import pooled, safety_report
from tests.coding.conftest import Coding
from tests.coding.dictionary import write_meddra
from tests.reports.test_derive_and_figures import PLAN, forms, subjects


def test_the_safety_report_has_the_ae_table_by_soc_and_pt() -> None:
    coding = {"nausea": ("Stomach disorders (test)", "Nausea")}
    dataset = derive(PLAN, subjects(), forms(), by_arm=True, coding=coding)
    assert dataset.adverse_events["pt"].to_list() == ["Nausea", "Nausea", None]
    report = safety_report(pooled(dataset))
    table = next(t for t in report.sections[0].tables if "SOC and PT" in t.title)
    assert table.columns[:2] == ["SOC", "PT"]
    assert "1 events not coded yet are left out." in table.notes
    rows = [(row["soc"], row["term"]) for row in report.data["soc_pt"]]
    assert ("Stomach disorders (test)", "Nausea") in rows


def test_without_coded_terms_the_report_says_so() -> None:
    report = safety_report(pooled(derive(PLAN, subjects(), forms(), by_arm=True)))
    assert not any("SOC and PT" in t.title for t in report.sections[0].tables)
    assert any("coded to MedDRA" in note for note in report.sections[0].notes)


@pytest.mark.django_db
def test_exports_carry_the_coded_terms_as_at_the_cut_off(coding: Coding) -> None:
    s = coding.safety
    s.save_ae(None, ae_term="Feeling sick", ae_start="2026-02-02", ae_grade=1)
    s.save_ae(None, repeat=2, ae_term="Odd thing", ae_start="2026-02-03", ae_grade=1)
    study = s.world.study
    cutoff = cutoff_create(actor=s.data_manager, study=study, name="C1", reason="test")
    # Coded after the cut-off: the export of C1 still shows it uncoded.
    term_code(actor=coding.coder, term=CodedTerm.objects.get(verbatim="Odd thing"), code="94000003")
    target = io.BytesIO()
    export_write(actor=s.data_manager, study=study, cutoff=cutoff, file_format="csv", target=target)
    with zipfile.ZipFile(target) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("coded_terms.csv").decode())))
    by_verbatim = {row["verbatim"]: row for row in rows}
    assert by_verbatim["Feeling sick"]["pt_name"] == "Nausea"
    assert by_verbatim["Feeling sick"]["soc_name"] == "Stomach disorders (test)"
    assert by_verbatim["Odd thing"]["status"] == "uncoded"
    # The fixture's medication was saved before the study coded medications: not a term.
    assert "Paracetamol" not in by_verbatim


@pytest.mark.django_db
def test_the_command_line_loads_lists_and_maps_ctcae_terms(tmp_path: Path) -> None:
    folder = write_meddra(tmp_path / "m")
    out = io.StringIO()
    call_command("coding", "load-meddra", str(folder), "--version", "1.0", stdout=out)
    assert "Loaded MedDRA 1.0: 6 lowest level terms." in out.getvalue()
    out = io.StringIO()
    call_command("coding", "dictionaries", stdout=out)
    assert "meddra,1.0,6," in out.getvalue()
    out = io.StringIO()
    call_command(
        "coding", "ctcae", "febrile neutropenia", "Unknown", "--version", "1.0", stdout=out
    )
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("febrile neutropenia,94000001,Y,94000001,Febrile neutropenia,")
    assert lines[2] == "Unknown,,,,,"
    broken = write_meddra(tmp_path / "b")
    (broken / "soc.asc").write_text("91000001$Blood$\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"soc\.asc, line 1"):
        call_command("coding", "load-meddra", str(broken), "--version", "2.0")
