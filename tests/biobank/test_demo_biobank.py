"""Issue 26, item 8: the demo's MAINTAIN-CRC collects plasma and tumour samples at baseline and
at the end of treatment (progression), divides the plasma into aliquots within its volume,
stores every tube at one position of the CRB's boxes, ships aliquots to a partner under an MTA,
and answers one withdrawal of consent for future research: exactly that patient's samples are
destroyed or returned, through the audited services.

A small demo on a frozen day (12 MAINTAIN-CRC patients), loaded once for the module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db.models import Sum

from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.audit.verification import audit_verify
from carnet.biobank.consent import samples_to_dispose
from carnet.biobank.models import (
    DispositionAction,
    Freezer,
    Sample,
    SampleDisposition,
    SamplePosition,
    SampleStatus,
    Shipment,
    ShipmentStatus,
    StorageMovement,
)
from carnet.demo import demo_load, demo_patients_load, demo_studies_load
from carnet.demo.biobank import AMENDED_FORM, CABINET, FREEZER, MTA, PARTNER
from carnet.studies.models import Study
from carnet.subjects.models import Consent, Subject

pytestmark = [pytest.mark.slow]

TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Study]:
    """Load a small demo once; the tests below only read it."""
    with django_db_blocker.unblock():
        actor = SystemActor.command_line("carnet demo")
        with time_machine.travel(TODAY - timedelta(hours=1), tick=True):
            demo_load(actor=actor, password="a long demo password")
            demo_studies_load(actor=actor)
        with time_machine.travel(TODAY, tick=True):
            demo_patients_load(actor=actor, phase3=12, phase2=2)
        yield Study.objects.get(identifier="MAINTAIN-CRC")
        _empty_database()


def _empty_database() -> None:
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def study(demo: Study, db: None) -> Study:
    return demo


def test_plasma_and_tumour_samples_at_baseline_and_progression(study: Study) -> None:
    primary = Sample.objects.filter(study=study, parent__isnull=True)
    kinds = Counter(primary.values_list("event", "expected_code"))
    assert kinds[("baseline", "plasma_ctdna")] > 0
    assert kinds[("baseline", "tumour_block")] > 0
    assert kinds[("end_of_treatment", "plasma_ctdna")] > 0
    # Only patients who gave the biobank consent gave samples.
    for subject_id in primary.values_list("subject_id", flat=True).distinct():
        first = Consent.objects.filter(subject_id=subject_id).order_by("consented_on").first()
        assert first is not None
        assert first.biobank
    # Each collection and each processing step is in the study's audit trail, with its SPREC.
    assert AuditEvent.objects.filter(action="biobank.sample_collected").count() == primary.count()
    plasma = primary.filter(expected_code="plasma_ctdna")
    assert all(code.startswith("PL2-PED-") for code in plasma.values_list("sprec", flat=True))
    tissue = primary.filter(sample_type="tumour_ffpe")
    assert all(code.startswith("TIS-BPS-") for code in tissue.values_list("sprec", flat=True))


def test_aliquots_hold_no_more_than_their_parent(study: Study) -> None:
    plasma = Sample.objects.filter(study=study, parent__isnull=True, expected_code="plasma_ctdna")
    assert plasma.exists()
    for parent in plasma:
        children = Sample.objects.filter(parent=parent)
        assert children.count() == 4  # the protocol's aliquots
        total = children.aggregate(total=Sum("volume"))["total"]
        event = AuditEvent.objects.get(action="biobank.sample_collected", target_id=str(parent.pk))
        assert event.new is not None
        collected = event.new["volume"]
        assert total <= Decimal(str(collected))
        assert parent.status == SampleStatus.CONSUMED  # divided whole
        assert parent.volume == 0


def test_every_tube_in_hand_is_stored_at_one_position_of_the_crb(study: Study) -> None:
    stored = Sample.objects.filter(study=study, status=SampleStatus.STORED)
    assert stored.exists()
    positions = SamplePosition.objects.filter(sample__in=stored).select_related("box__rack")
    assert positions.count() == stored.count()
    assert {p.box.rack.freezer.name for p in positions} <= {FREEZER, CABINET}
    assert len({(p.box_id, p.row, p.column) for p in positions}) == positions.count()
    # Plasma at -80 °C, blocks in the room-temperature cabinet.
    for position in positions:
        freezer = Freezer.objects.get(pk=position.box.rack.freezer_id)
        frozen = position.sample.sample_type == "plasma"
        assert freezer.name == (FREEZER if frozen else CABINET)
    assert not Sample.objects.filter(study=study, status=SampleStatus.COLLECTED).exists()
    assert StorageMovement.objects.filter(kind="store").count() >= stored.count()


def test_one_shipment_to_the_partner_under_its_mta(study: Study) -> None:
    shipment = Shipment.objects.get(study=study)
    assert shipment.destination.code == PARTNER
    assert shipment.agreement is not None
    assert shipment.agreement.reference == MTA
    assert shipment.status == ShipmentStatus.RECEIVED
    items = list(shipment.items.select_related("sample"))
    assert items
    assert all(item.received for item in items)
    for item in items:
        sample = item.sample
        assert sample.sample_type == "plasma"
        assert sample.parent_id is not None
        # Only patients who agreed to future research under the amended form.
        assert sample.subject.consents.filter(
            form_version=AMENDED_FORM, future_research=True
        ).exists()
        assert not SamplePosition.objects.filter(sample=sample).exists()


def test_the_withdrawal_disposes_of_exactly_the_patients_samples(study: Study) -> None:
    dispositions = SampleDisposition.objects.select_related("sample")
    assert dispositions.exists()
    subjects = {d.sample.subject_id for d in dispositions}
    assert len(subjects) == 1
    subject = Subject.objects.get(pk=subjects.pop())
    latest = subject.consents.order_by("-consented_on", "-pk").first()
    assert latest is not None
    assert latest.biobank
    assert not latest.future_research
    # Every sample of that patient not already used up, wherever it was (the aliquot at the
    # partner too), and nothing else.
    concerned = set(
        Sample.objects.filter(subject=subject)
        .exclude(status=SampleStatus.CONSUMED)
        .values_list("identifier", flat=True)
    )
    assert {d.sample.identifier for d in dispositions} == concerned
    assert all(d.withdrawal.startswith("future_research:") for d in dispositions)
    for disposition in dispositions:
        expected = (
            DispositionAction.RETURNED
            if disposition.sample.sample_type == "tumour_ffpe"
            else DispositionAction.DESTROYED
        )
        assert disposition.action == expected
        assert disposition.sample.status == expected  # the statuses share their names
        assert not SamplePosition.objects.filter(sample=disposition.sample).exists()
    # The partner's aliquot was among them; nothing is left to decide.
    shipped = Shipment.objects.get(study=study).items.values_list("sample_id", flat=True)
    assert any(d.sample_id in set(shipped) for d in dispositions)
    assert samples_to_dispose(None, study) == []
    assert AuditEvent.objects.filter(action__startswith="biobank.sample_destroyed").exists()


def test_a_second_run_adds_nothing_and_the_trail_is_intact(study: Study) -> None:
    before = Sample.objects.count(), SamplePosition.objects.count(), Shipment.objects.count()
    with time_machine.travel(TODAY, tick=True):
        demo_patients_load(actor=SystemActor.command_line("carnet demo"), phase3=12, phase2=2)
    assert (
        Sample.objects.count(),
        SamplePosition.objects.count(),
        Shipment.objects.count(),
    ) == before
    assert audit_verify().intact
