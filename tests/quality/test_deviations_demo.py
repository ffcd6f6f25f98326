"""The demo's window rules record protocol deviations as its patients are entered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from carnet.audit.services import SystemActor
from carnet.capture.models import CheckResult
from carnet.demo import demo_load, demo_patients_load, demo_studies_load
from carnet.quality.deviation_models import Deviation

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
DEVIATION_CHECKS = {"bl_scan_window", "rando_after_induction"}


def test_every_open_window_check_of_the_demo_has_its_one_deviation(
    system_actor: SystemActor,
) -> None:
    with time_machine.travel(TODAY - timedelta(hours=1), tick=True):
        demo_load(actor=system_actor, password="a long demo password")
        demo_studies_load(actor=system_actor)
    with time_machine.travel(TODAY, tick=True):
        demo_patients_load(actor=system_actor, phase3=40, phase2=20)
    fired = set(
        CheckResult.objects.filter(open=True, check_name__in=DEVIATION_CHECKS).values_list(
            "form_instance_id", "check_name"
        )
    )
    recorded = set(
        Deviation.objects.filter(origin="derived", resolved=False).values_list(
            "form_instance_id", "check_name"
        )
    )
    assert fired  # some demo patients were scanned or randomised late
    assert recorded == fired
    assert not Deviation.objects.exclude(check_name__in=DEVIATION_CHECKS).exists()
