"""`carnet biobank collect|process|expected`: the same services from the server, audited as the
command line; what it prints."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from carnet.audit.models import AuditEvent
from tests.biobank.conftest import Biobank

pytestmark = pytest.mark.django_db


def _run(*arguments: str) -> str:
    out = io.StringIO()
    call_command(*arguments, stdout=out)
    return out.getvalue()


def test_collect_process_and_expected_from_the_command_line(biobank: Biobank) -> None:
    biobank.visit()
    printed = _run(
        *("biobank", "collect", "MINI", "--subject", "01-001", "--event", "baseline"),
        *("--code", "plasma", "--at", "2026-01-05T09:00+01:00", "--held", "cold"),
    )
    assert printed.split() == ["MINI-01-001-PLASMA-1", "PL1-PED-X-N-N-N-X"]
    printed = _run(
        *("biobank", "process", "MINI", "MINI-01-001-PLASMA-1", "--kind", "centrifugation"),
        *("--start", "2026-01-05T11:30+01:00", "--end", "2026-01-05T11:40+01:00"),
        *("--temperature", "4", "--force", "1600", "--held", "cold"),
    )
    assert printed.splitlines() == [
        "MINI-01-001-PLASMA-1 PL1-PED-D-C-N-X-X",
        "deviation: centrifuge_delay",
    ]
    event = AuditEvent.objects.filter(action="biobank.sample_processed").last()
    assert event is not None
    assert event.actor_label.startswith("carnet biobank process (system account ")
    assert _run("biobank", "expected", "MINI", "--subject", "01-001").splitlines()[1:] == [
        "baseline,1,plasma,plasma,collected,MINI-01-001-PLASMA-1",
        "baseline,1,tumour,tumour_ffpe,missing,",
        "baseline,1,biopsy,tumour_frozen,optional,",
    ]
    assert _run("biobank", "expected", "MINI").splitlines() == [
        "subject,site,event,occurrence,code,visit_on",
        "01-001,01,baseline,1,tumour,2026-01-05",
    ]


def test_a_time_without_its_offset_is_refused(biobank: Biobank) -> None:
    with pytest.raises(CommandError, match="with its offset"):
        _run(
            *("biobank", "collect", "MINI", "--subject", "01-001", "--event", "baseline"),
            *("--code", "plasma", "--at", "2026-01-05T09:00"),
        )
