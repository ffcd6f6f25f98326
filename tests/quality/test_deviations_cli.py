"""`carnet deviations list`: the register as CSV, as one person may see it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.quality.deviation_world import DeviationWorld, deviation_world

pytestmark = pytest.mark.django_db


def listed(*arguments: str) -> tuple[list[dict[str, str]], str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("deviations", "list", *arguments, stdout=out, stderr=err)
    return list(csv.DictReader(io.StringIO(out.getvalue()))), err.getvalue()


def test_the_command_lists_only_the_sites_the_person_covers(tmp_path: Path) -> None:
    dw: DeviationWorld = deviation_world(tmp_path)
    at_a, at_b = dw.include(), dw.include(site="b")
    dw.vitals(at_a, 0, sbp=80, dbp=90)
    dw.vitals(at_b, 0, sbp=80, dbp=90)
    rows, summary = listed("MINI", "--as", "bruno")
    assert [(r["subject"], r["site"], r["check_name"], r["deviation_class"]) for r in rows] == [
        (at_b.identifier, "02", "bp_order", "major")
    ]
    assert summary.startswith("MINI: 1 deviations; per protocol 0 subjects")
    everything, _summary = listed("MINI", "--as", "dora", "--status", "pending")
    assert len(everything) == 2


def test_the_command_refuses_a_person_without_the_study(tmp_path: Path) -> None:
    deviation_world(tmp_path)
    with pytest.raises(CommandError, match="No active account 'nobody'"):
        listed("MINI", "--as", "nobody")
    with pytest.raises(CommandError) as refused:
        listed("NOPE", "--as", "bruno")
    assert str(refused.value) == "There is no study 'NOPE' you may see."
