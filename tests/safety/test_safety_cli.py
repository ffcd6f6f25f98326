"""`carnet safety ...`: add and list RSI versions, list reports and their clocks, write a line
listing and an ICSR (blinded), count what is left to reconcile."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from carnet.audit.models import AuditEvent
from carnet.safety.services import sae_version_sign
from tests.accounts.factories import PASSWORD
from tests.safety.conftest import TERM, Safety

pytestmark = pytest.mark.django_db


def carnet(*arguments: str) -> str:
    out = io.StringIO()
    call_command("safety", *arguments, stdout=out)
    return out.getvalue()


def test_the_command_line_of_pharmacovigilance(safety: Safety, tmp_path: Path) -> None:
    said = carnet("rsi-add", "MINI", "IB v1", "--from", "2025-06-01", "--terms", "Anaemia; Rash")
    assert said.strip() == "Reference safety information IB v1 in force from 2025-06-01."
    assert AuditEvent.objects.filter(action="safety.rsi_added").count() == 1
    assert carnet("rsi-list", "MINI").strip() == "IB v1\t2025-06-01\tAnaemia; Rash"
    with pytest.raises(CommandError, match="exists"):
        carnet("rsi-add", "MINI", "IB v1", "--from", "2025-07-01", "--terms", "x")

    report = safety.serious_ae()
    assert carnet("reconciliation", "MINI").strip() == "1"  # not sent yet
    sae_version_sign(
        actor=safety.investigator,
        report=report,
        password=PASSWORD,
        meaning="I have reviewed this report.",
    )
    assert carnet("reconciliation", "MINI").strip() == "0"
    assert report.reference in carnet("reports", "MINI")
    listing = carnet("listing", "MINI", "--from", "2020-01-01", "--to", "2099-12-31")
    assert TERM in listing
    output = tmp_path / "icsr.xml"
    carnet("icsr", "MINI", report.reference, "--output", str(output))
    assert TERM.encode() in output.read_bytes()
    with pytest.raises(CommandError, match="No SAE report"):
        carnet("icsr", "MINI", "MINI-SAE-9999", "--output", str(output))
