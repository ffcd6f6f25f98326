"""`carnet analysis dataset` and `carnet report` on MINI at a cut-off: blinded unless asked."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from carnet.interop.services import cutoff_create
from tests.interop.conftest import Exporting
from tests.interop.conftest import exporting as exporting  # the fixture, shared with interop

pytestmark = pytest.mark.django_db


def test_the_commands_write_the_dataset_and_the_reports(
    exporting: Exporting, tmp_path: Path
) -> None:
    e = exporting
    cutoff_create(actor=e.unblinded, study=e.world.study, name="C1", reason="test")
    out = io.StringIO()
    call_command("analysis", "dataset", "MINI", "--cutoff", "C1", stdout=out)
    header, first = out.getvalue().splitlines()[:2]
    assert "os_reason" in header.split(",")
    assert "All patients" in first  # blinded: one pooled group
    assert e.arm not in out.getvalue()
    call_command("analysis", "dataset", "MINI", "--cutoff", "C1", "--unblinded", stdout=out)
    assert e.arm in out.getvalue()
    out = io.StringIO()
    call_command(
        "report",
        "survival",
        "MINI",
        "--cutoff",
        "C1",
        "--html",
        str(tmp_path / "survival.html"),
        stdout=out,
    )
    assert "MINI, cut-off C1 (audit event #" in out.getvalue()
    assert "pooled (blinded: no arm shown)" in out.getvalue()
    assert "MINI, cut-off C1" in (tmp_path / "survival.html").read_text("utf-8")
    with pytest.raises(CommandError, match="closed session shows results by arm"):
        call_command("report", "dsmb-closed", "MINI", "--cutoff", "C1", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no cut-off named 'NOPE'"):
        call_command("analysis", "dataset", "MINI", "--cutoff", "NOPE", stdout=io.StringIO())
