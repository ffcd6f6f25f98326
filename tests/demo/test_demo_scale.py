"""`carnet demo --scale N`: a MAINTAIN-CRC-shaped study of N patients through the bulk path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.audit.verification import audit_verify
from carnet.capture.models import FormInstance, ItemValue
from carnet.core.clock import utc_today
from carnet.demo import demo_load, demo_studies_load, scale
from carnet.demo.scale import SCALE_STUDY, scale_patients_load
from carnet.interop.services import cutoff_create
from carnet.randomization.models import Allocation
from carnet.reports.selectors import report_of
from carnet.safety.models import SaeReport
from carnet.studies.models import Study
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


def _scale_fingerprint() -> dict[str, object]:
    """Return what the DSMB report reads of SCALE-CRC, subject by subject."""
    subjects = Subject.objects.filter(study__identifier=SCALE_STUDY)
    return {
        # Not the kit numbers: the depot shuffles the contents across them (pharmacy.supply).
        "allocations": sorted(
            Allocation.objects.filter(subject__in=subjects).values_list(
                "subject__screening_number", "number", "arm", "randomised_on"
            )
        ),
        "kits": Allocation.objects.filter(subject__in=subjects).exclude(kit_number="").count(),
        "statuses": sorted(
            subjects.values_list("screening_number", "study_status", "treatment_status")
        ),
        "forms": sorted(
            FormInstance.objects.filter(subject__in=subjects).values_list(
                "subject__screening_number", "event", "occurrence", "form", "repeat", "status"
            )
        ),
        "values": sorted(
            ItemValue.objects.filter(form_instance__subject__in=subjects).values_list(
                "form_instance__subject__screening_number",
                "form_instance__event",
                "form_instance__occurrence",
                "form_instance__form",
                "form_instance__repeat",
                "item",
                "row",
                "text",
            )
        ),
        "sae_reports": SaeReport.objects.filter(subject__in=subjects).count(),
    }


class _RolledBack(Exception):
    pass


def test_a_scale_study_built_before_the_outcomes_is_topped_up_as_if_built_in_one_go(
    system_actor: SystemActor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of two: the top-up randomises batch by batch, after every patient is there.
    monkeypatch.setattr(scale, "SCALE_BATCH", 2)
    with time_machine.travel(TODAY - timedelta(hours=1), tick=True):
        demo_load(actor=system_actor, password="a long demo password")
        demo_studies_load(actor=system_actor)
    with time_machine.travel(TODAY, tick=True):
        try:
            with transaction.atomic():
                first = scale_patients_load(actor=system_actor, count=5)
                in_one_go = _scale_fingerprint()
                raise _RolledBack
        except _RolledBack:
            pass
        assert not Subject.objects.filter(study__identifier=SCALE_STUDY).exists()
        # As the lead's installation was built: the first pass only, no arm.
        before = scale_patients_load(actor=system_actor, count=5, outcomes=False)
        assert (before.added, before.randomised) == (5, 0)
        assert not Allocation.objects.filter(study__identifier=SCALE_STUDY).exists()
        seen: list[tuple[int, int]] = []
        topped = scale_patients_load(
            actor=system_actor, count=5, progress=lambda *p: seen.append(p)
        )
    assert (first.added, first.randomised) == (5, 5)
    assert (topped.added, topped.already_there, topped.randomised) == (0, 5, 5)
    assert seen[-1] == (5, 5)
    assert before.values + topped.values == first.values
    assert _scale_fingerprint() == in_one_go
    # Both arms, survival and the adverse-event log: what the closed session reads.
    subjects = Subject.objects.filter(study__identifier=SCALE_STUDY)
    assert set(Allocation.objects.filter(subject__in=subjects).values_list("arm", flat=True)) == {
        "experimental",
        "placebo",
    }
    forms = set(FormInstance.objects.filter(subject__in=subjects).values_list("form", flat=True))
    assert {
        "randomisation",
        "tumour_assessment",
        "adverse_event",
        "end_of_treatment",
        "survival",
    } <= forms
    assert audit_verify().intact

    events = AuditEvent.objects.count()
    with time_machine.travel(TODAY, tick=True):
        again = scale_patients_load(actor=system_actor, count=5)
    assert (again.added, again.randomised, again.values) == (0, 0, 0)
    assert AuditEvent.objects.count() == events


def test_the_scale_study_s_closed_session_compares_the_arms(system_actor: SystemActor) -> None:
    with time_machine.travel(TODAY - timedelta(hours=1), tick=True):
        demo_load(actor=system_actor, password="a long demo password")
        demo_studies_load(actor=system_actor)
    with time_machine.travel(TODAY, tick=True):
        scale_patients_load(actor=system_actor, count=16)
        study = Study.objects.get(identifier=SCALE_STUDY)
        cutoff = cutoff_create(
            actor=system_actor, study=study, name="N16", reason="test", cut_on=utc_today()
        )
        report, _source = report_of(
            actor=system_actor, study=study, cutoff=cutoff, kind="dsmb-closed", unblinded=True
        )
    # The primary endpoint (PFS) by arm: a curve each, events, a hazard ratio and its forest.
    pfs = report.data["pfs"]
    assert set(pfs["curves"]) == {"experimental", "placebo"}
    assert all(curve["events"] > 0 for curve in pfs["curves"].values())
    assert 0 < pfs["hazard_ratio_lower"] < pfs["hazard_ratio"] < pfs["hazard_ratio_upper"]
    km = report.figure("pfs_km")
    assert km is not None
    assert km.curves == 2
    assert report.figure("pfs_forest") is not None
