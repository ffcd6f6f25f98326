"""`carnet demo --scale N`: a MAINTAIN-CRC-shaped study of N patients through the bulk path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.audit.verification import audit_verify
from carnet.capture.models import FormInstance, ItemValue
from carnet.demo import demo_load, demo_studies_load
from carnet.demo.scale import SCALE_STUDY, scale_patients_load
from carnet.subjects.models import Subject

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_a_small_scale_study_is_written_through_the_bulk_path_once(
    system_actor: SystemActor,
) -> None:
    with time_machine.travel(TODAY - timedelta(hours=1), tick=True):
        demo_load(actor=system_actor, password="a long demo password")
        demo_studies_load(actor=system_actor)
    seen: list[tuple[int, int]] = []
    with time_machine.travel(TODAY, tick=True):
        first = scale_patients_load(actor=system_actor, count=3, progress=lambda *p: seen.append(p))
    assert (first.added, first.already_there) == (3, 0)
    assert seen[-1] == (3, 3)
    subjects = Subject.objects.filter(study__identifier=SCALE_STUDY)
    assert subjects.count() == 3
    values = ItemValue.objects.filter(form_instance__subject__in=subjects)
    # About 520 values a patient: 10,000 patients give over 5 million.
    assert values.count() >= 3 * 480
    assert first.values == values.count()
    # Every value has its audit event, and forms are complete, as after interactive saves.
    audited = set(
        AuditEvent.objects.filter(action="item.changed").values_list("target_id", flat=True)
    )
    assert all(f"{v.form_instance_id}:{v.item}:{v.row}" in audited for v in values)
    assert set(
        FormInstance.objects.filter(subject__in=subjects).values_list("status", flat=True)
    ) == {"complete"}
    assert audit_verify().intact

    events = AuditEvent.objects.count()
    with time_machine.travel(TODAY, tick=True):
        second = scale_patients_load(actor=system_actor, count=3)
    assert (second.added, second.already_there) == (0, 3)
    assert AuditEvent.objects.count() == events
