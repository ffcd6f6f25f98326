"""`carnet biobank …` from the server: a box map and a scan printed, labels written, an unknown
barcode refused with its sentence."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from carnet.biobank.storage import sample_store
from tests.biobank.storage_world import Storage, storage_world

pytestmark = pytest.mark.django_db


def _run(*arguments: str) -> str:
    out = io.StringIO()
    call_command("biobank", *arguments, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_command_line_scans_maps_and_prints_labels(tmp_path: Path) -> None:
    storage: Storage = storage_world()
    sample_store(actor=storage.technician, sample=storage.plasma, box=storage.box, position="A2")
    assert _run("scan", "MINI", "MINI-01-001-PL01") == (
        "MINI-01-001-PL01\tplasma\tstored\t4 mL\tF-80-1 / R1 / BOX-01 / A2\n"
    )
    grid = _run("box", "MINI", "F-80-1", "R1", "BOX-01").splitlines()
    assert grid[0] == "BOX-01: 1/81"
    assert grid[1].split("\t")[:4] == ["A", ".", "MINI-01-001-PL01", "."]
    freezers = _run("freezer", "MINI")
    assert "F-80-1\tICM\t-80 °C\t1/81\tin_service" in freezers
    html = tmp_path / "labels.html"
    assert _run("labels", "MINI", "MINI-01-001-PL01", "--output", str(html), "--copies", "3") == (
        f"Wrote 3 labels to {html}.\n"
    )
    assert html.read_text().count('data-identifier="MINI-01-001-PL01"') == 3
    with pytest.raises(CommandError) as refused:
        _run("scan", "MINI", "NOPE-1")
    assert str(refused.value) == "No sample of this study you may see has the identifier 'NOPE-1'."
    with pytest.raises(CommandError, match="already holds a sample"):
        _run("store", "MINI", "MINI-02-001-PL01", "F-80-1", "R1", "BOX-01", "--position", "A2")
