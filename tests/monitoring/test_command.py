"""`carnet monitoring`: the plan set and printed, a casebook verified as the command line
(audited), progress per site, what is outstanding, the visits and a visit's report as a file."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command

from carnet.audit.models import AuditEvent
from carnet.monitoring.services import monitoring_visit_create
from tests.monitoring.conftest import KIT, Monitoring

pytestmark = pytest.mark.django_db


def run(*arguments: str) -> str:
    out = io.StringIO()
    call_command("monitoring", *arguments, stdout=out)
    return out.getvalue()


def test_the_command_line_sets_the_plan_verifies_and_reports(
    monitoring: Monitoring, tmp_path: Path
) -> None:
    m = monitoring
    m.vitals()
    assert run("plan", "MINI").startswith("rule=all ")
    assert run("plan", "MINI", "--rule", "critical").startswith("rule=critical ")
    assert run("outstanding", "MINI").strip() == "1"
    visit = monitoring_visit_create(
        actor=m.monitor, study=m.study, site=m.world.site_a, visit_date=date(2026, 3, 2)
    )
    out = run("sdv", "MINI", "--subject", "01-001", "--event", "baseline", "--form", "vitals")
    assert out == "Verified 5 item values of 01-001.\n"
    event = AuditEvent.objects.filter(action="sdv.verified").get()
    assert event.actor_label.startswith("carnet monitoring sdv")
    assert run("outstanding", "MINI").strip() == "0"
    assert run("progress", "MINI").splitlines() == [
        "site,required,verified,outstanding",
        "01,1,1,0",
        "02,0,0,0",
    ]
    assert run("visits", "MINI").splitlines()[1] == f"{visit.pk},01,2026-03-02,Sophie,yes,0"
    report = tmp_path / "visit.html"
    run("visit-report", "MINI", str(visit.pk), "--output", str(report))
    assert "Monitoring visit at site 01 of MINI" in report.read_text(encoding="utf-8")
    assert KIT not in report.read_text(encoding="utf-8")
    pdf = tmp_path / "visit.pdf"
    run("visit-report", "MINI", str(visit.pk), "--output", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")
