"""Collection and pre-analytics: a nurse records the baseline plasma and its processing; the
SPREC code and the deviations from the protocol follow; every write is audited."""

from __future__ import annotations

from decimal import Decimal

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.biobank.collection import deviation_text, sample_collect, sample_process
from carnet.biobank.models import Sample
from carnet.core.errors import ValidationError
from tests.biobank.conftest import COLLECTED, Biobank, minutes

pytestmark = pytest.mark.django_db


def test_a_nurse_records_the_baseline_plasma_with_a_unique_identifier(biobank: Biobank) -> None:
    sample = biobank.plasma()
    assert sample.identifier == "MINI-01-001-PLASMA-1"
    assert (sample.sample_type, sample.container, sample.unit) == ("plasma", "edta", "mL")
    assert sample.collected_by == biobank.nurse.display_name()
    assert sample.sprec == "PL1-PED-X-N-N-N-X"  # nothing processed yet
    second = biobank.plasma(collected_at=minutes(5))
    assert second.identifier == "MINI-01-001-PLASMA-2"
    event = AuditEvent.objects.filter(action="biobank.sample_collected").last()
    assert event is not None
    assert event.new["identifier"] == "MINI-01-001-PLASMA-2"


def test_processed_as_the_protocol_asks_it_has_its_sprec_and_no_deviation(
    biobank: Biobank,
) -> None:
    sample = biobank.plasma(held="cold")
    biobank.process_plasma(sample)
    sample.refresh_from_db()
    # Cold < 2 h: B; 4 °C 1600 g: C (twice); 20 minutes cold after the spin: B; -80 °C: A.
    assert sample.sprec == "PL2-PED-B-C-C-B-A"
    assert sample.collection.deviations == []
    assert sample.quality == "conform"
    steps = AuditEvent.objects.filter(action="biobank.sample_processed")
    assert steps.count() == 3
    assert steps.last().new["sprec"] == "PL2-PED-B-C-C-B-A"


def test_centrifuged_after_two_hours_it_is_flagged(biobank: Biobank) -> None:
    sample = biobank.plasma()
    biobank.process_plasma(sample, first_at=150)
    sample.refresh_from_db()
    codes = [d["code"] for d in sample.collection.deviations]
    assert codes == ["centrifuge_delay"]
    assert deviation_text(sample.collection.deviations[0]) == (
        "centrifuged 150 minutes after collection (protocol: within 120)"
    )
    assert sample.sprec.split("-")[2] == "D"  # 2 to 4 hours at 2-10 °C
    assert sample.quality == "deviation"


def test_a_warm_spin_without_the_second_one_and_a_small_volume_are_flagged(
    biobank: Biobank,
) -> None:
    sample = biobank.plasma(volume=Decimal("6"))
    sample_process(
        actor=biobank.nurse,
        sample=sample,
        kind="centrifugation",
        started_at=minutes(30),
        ended_at=minutes(40),
        temperature=Decimal(22),
        force_g=1600,
    )
    sample_process(
        actor=biobank.nurse,
        sample=sample,
        kind="freezing",
        started_at=minutes(60),
        temperature=Decimal(-20),
    )
    sample.refresh_from_db()
    assert {d["code"] for d in sample.collection.deviations} == {
        "volume",
        "centrifuge_temperature",
        "second_centrifugation",
        "storage",
    }


def test_a_tumour_block_fixed_too_late_and_too_briefly(biobank: Biobank) -> None:
    sample = sample_collect(
        actor=biobank.nurse,
        subject=biobank.subject,
        event="baseline",
        code="tumour",
        collected_at=COLLECTED,
        collection_method="surgery",
        warm_ischaemia_minutes=8,
    )
    sample_process(
        actor=biobank.nurse,
        sample=sample,
        kind="fixation",
        started_at=minutes(90),
        ended_at=minutes(90 + 210),  # 3.5 hours
        fixative="neutral_buffered_formalin",
    )
    sample.refresh_from_db()
    assert sample.sprec == "TIS-SRG-B-F-NBF-C-X"  # stored condition not recorded yet
    assert [d["code"] for d in sample.collection.deviations] == [
        "cold_ischaemia",
        "fixation_short",
    ]


def test_refusals_name_the_field(biobank: Biobank) -> None:
    with pytest.raises(ValidationError, match="expects no sample 'urine'"):
        sample_collect(
            actor=biobank.nurse,
            subject=biobank.subject,
            event="baseline",
            code="urine",
            collected_at=COLLECTED,
        )
    sample = biobank.plasma()
    with pytest.raises(ValidationError, match="a fluid is not fixed"):
        sample_process(actor=biobank.nurse, sample=sample, kind="fixation", started_at=minutes(10))
    with pytest.raises(ValidationError, match="before the collection"):
        sample_process(
            actor=biobank.nurse,
            sample=sample,
            kind="freezing",
            started_at=minutes(-10),
            temperature=Decimal(-80),
        )
    sample_process(
        actor=biobank.nurse,
        sample=sample,
        kind="freezing",
        started_at=minutes(100),
        temperature=Decimal(-80),
    )
    with pytest.raises(ValidationError, match="give a reason to correct it"):
        sample_process(
            actor=biobank.nurse,
            sample=sample,
            kind="freezing",
            started_at=minutes(90),
            temperature=Decimal(-80),
        )
    sample_process(
        actor=biobank.nurse,
        sample=sample,
        kind="freezing",
        started_at=minutes(90),
        temperature=Decimal(-80),
        reason="typing error",
    )
    corrected = AuditEvent.objects.filter(action="biobank.sample_processed").last()
    assert corrected.reason == "typing error"
    assert corrected.old["started_at"].startswith("2026-01-05T09:40")
    assert Sample.objects.filter(subject=biobank.subject).count() == 1


def test_only_the_subjects_site_records_its_samples(biobank: Biobank) -> None:
    with pytest.raises(PermissionDenied):
        biobank.plasma(actor=biobank.nurse_b)
    with pytest.raises(PermissionDenied):
        biobank.plasma(actor=biobank.monitor)
    with pytest.raises(PermissionDenied):
        biobank.plasma(actor=biobank.technician_b)
    assert biobank.plasma(actor=biobank.technician).identifier == "MINI-01-001-PLASMA-1"
