"""The demo studies with a few synthetic patients and a cut-off of each, read by the demo's
statisticians: Hugo (blinded), Emma (unblinded) and Anne (DSMB)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from carnet.accounts.models import User
from carnet.audit.services import SystemActor
from carnet.demo import demo_load, demo_patients_load, demo_studies_load
from carnet.interop.models import Cutoff
from carnet.interop.services import cutoff_create
from carnet.studies.models import Study

TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@dataclass
class Demo:
    phase3: Study
    phase2: Study
    cutoff3: Cutoff
    cutoff2: Cutoff
    blinded: User
    unblinded: User
    dsmb: User
    monitor: User


@pytest.fixture
def demo(system_actor: SystemActor) -> Demo:
    with time_machine.travel(TODAY - timedelta(hours=1), tick=True):
        demo_load(actor=system_actor, password="a long demo password")
        demo_studies_load(actor=system_actor)
    with time_machine.travel(TODAY, tick=True):
        demo_patients_load(actor=system_actor, phase3=40, phase2=14)
        phase3 = Study.objects.get(identifier="MAINTAIN-CRC")
        phase2 = Study.objects.get(identifier="ACC-209")
        unblinded = User.objects.get(username="unblinded")
        cut_on = date(2026, 11, 21)
        return Demo(
            phase3=phase3,
            phase2=phase2,
            cutoff3=cutoff_create(
                actor=unblinded, study=phase3, name="IA1", reason="interim", cut_on=cut_on
            ),
            cutoff2=cutoff_create(
                actor=unblinded, study=phase2, name="STAGE1", reason="stage 1", cut_on=cut_on
            ),
            blinded=User.objects.get(username="statistician"),
            unblinded=unblinded,
            dsmb=User.objects.get(username="dsmb"),
            monitor=User.objects.get(username="monitor"),
        )
