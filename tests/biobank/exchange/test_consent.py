"""Consent gating: a sample is never shipped or shared beyond what the patient agreed to, and a
withdrawal lists exactly the samples it concerns (the patient's and their descendants)."""

from __future__ import annotations

from datetime import date

import pytest

from carnet.audit.models import AuditEvent
from carnet.biobank.consent import sample_dispose, sample_use_refusal, samples_to_dispose
from carnet.biobank.models import (
    MovementKind,
    SampleDisposition,
    SamplePosition,
    SampleStatus,
    SampleUse,
    StorageMovement,
)
from carnet.biobank.storage import box_create, freezer_create, rack_create, sample_store
from carnet.core.errors import ValidationError
from carnet.subjects.services import consent_record, consent_withdraw
from tests.biobank.exchange.conftest import Bank

pytestmark = pytest.mark.django_db


def test_a_patient_who_gave_every_optional_consent_allows_every_use(bank: Bank) -> None:
    sample = bank.sample(bank.include())
    for use in SampleUse.values:
        assert sample_use_refusal(sample, use) is None


def test_without_the_future_research_consent_the_refusal_names_it(bank: Bank) -> None:
    sample = bank.sample(bank.include(future_research=False), identifier="P1")
    assert sample_use_refusal(sample, SampleUse.STORAGE) is None
    assert sample_use_refusal(sample, SampleUse.PROTOCOL_ANALYSIS) is None
    assert sample_use_refusal(sample, SampleUse.FUTURE_RESEARCH) == (
        "sample P1: not for future research: the consent form v1 signed on 2026-01-05 does not "
        "include the optional consent to future research (future_research_consent)."
    )


def test_genetic_analysis_needs_its_own_consent_not_future_research(bank: Bank) -> None:
    without = bank.sample(bank.include(genetic_analysis=False), identifier="G1")
    assert sample_use_refusal(without, SampleUse.FUTURE_RESEARCH) is None
    assert sample_use_refusal(without, SampleUse.GENETIC_ANALYSIS) == (
        "sample G1: not for genetic analysis: the consent form v1 signed on 2026-01-05 does not "
        "include the optional consent to genetic analysis (genetic_analysis_consent)."
    )
    only_genetics = bank.sample(bank.include(future_research=False), identifier="G2")
    assert sample_use_refusal(only_genetics, SampleUse.GENETIC_ANALYSIS) is None


def test_sharing_outside_the_centre_needs_its_own_consent(bank: Bank) -> None:
    sample = bank.sample(bank.include(sharing=False), identifier="S1")
    assert sample_use_refusal(sample, SampleUse.FUTURE_RESEARCH) is None
    assert sample_use_refusal(sample, SampleUse.SHARING) == (
        "sample S1: not for sharing outside the centre: the consent form v1 signed on "
        "2026-01-05 does not include the optional consent to sharing samples outside the "
        "centre (sharing_consent)."
    )


def test_the_refusal_names_the_missing_consent_in_french(bank: Bank) -> None:
    from django.utils import translation

    sample = bank.sample(bank.include(sharing=False), identifier="S2")
    with translation.override("fr"):
        refusal = sample_use_refusal(sample, SampleUse.SHARING)
    assert refusal is not None
    assert "partage des échantillons hors du centre (sharing_consent)" in refusal


def test_without_the_biobank_consent_not_even_storage_is_allowed(bank: Bank) -> None:
    sample = bank.sample(bank.include(biobank=False), identifier="P2")
    assert sample_use_refusal(sample, SampleUse.STORAGE) == (
        "sample P2: not for storage in the biobank: the consent form v1 signed on 2026-01-05 "
        "does not include the optional consent to storage of samples in the biobank "
        "(biobank_consent)."
    )


def test_a_withdrawn_optional_consent_is_named_with_its_date(bank: Bank) -> None:
    subject = bank.include()
    sample = bank.sample(subject, identifier="P3")
    consent_record(
        actor=bank.nurse,
        subject=subject,
        form_version="v1",
        consented_on=date(2026, 2, 1),
        biobank=True,
        future_research=False,
        sharing=True,
    )
    assert sample_use_refusal(sample, SampleUse.FUTURE_RESEARCH) == (
        "sample P3: not for future research: the patient withdrew the optional "
        "consent to future research (future_research_consent) on 2026-02-01."
    )
    assert sample_use_refusal(sample, SampleUse.SHARING) is None
    consent_record(
        actor=bank.nurse,
        subject=subject,
        form_version="v1",
        consented_on=date(2026, 2, 3),
        biobank=True,
        future_research=True,
        sharing=False,
    )
    assert sample_use_refusal(sample, SampleUse.SHARING) == (
        "sample P3: not for sharing outside the centre: the patient withdrew the optional "
        "consent to sharing samples outside the centre (sharing_consent) on 2026-02-03."
    )


def test_an_objection_to_data_use_refuses_every_use(bank: Bank) -> None:
    subject = bank.include()
    sample = bank.sample(subject, identifier="P4")
    consent_withdraw(
        actor=bank.nurse, subject=subject, kind="data_use", withdrawn_on=date(2026, 2, 2)
    )
    assert sample_use_refusal(sample, SampleUse.PROTOCOL_ANALYSIS) == (
        "sample P4: the patient objected to any further use of their data and samples on "
        "2026-02-02."
    )


def test_a_withdrawal_lists_exactly_the_samples_it_concerns(bank: Bank) -> None:
    withdrawing, staying = bank.include(), bank.include()
    parent = bank.sample(withdrawing, identifier="W-1")
    aliquot = bank.sample(withdrawing, identifier="W-1-01", parent=parent)
    bank.sample(withdrawing, identifier="W-1-02", parent=aliquot, status=SampleStatus.IN_TRANSIT)
    bank.sample(withdrawing, identifier="W-2", status=SampleStatus.SHIPPED)  # at a partner
    bank.sample(withdrawing, identifier="W-3", status=SampleStatus.DESTROYED)  # already gone
    bank.sample(staying, identifier="K-1")
    assert samples_to_dispose(bank.technician, bank.study) == []
    consent_record(
        actor=bank.nurse,
        subject=withdrawing,
        form_version="v1",
        consented_on=date(2026, 2, 1),
        biobank=True,
        future_research=False,
    )
    listed = samples_to_dispose(bank.technician, bank.study)
    assert [row.sample.identifier for row in listed] == ["W-1", "W-1-01", "W-1-02", "W-2"]
    assert {row.withdrawal for row in listed} == {"future_research:2026-02-01"}
    assert all(row.may_keep for row in listed)
    # A technician of site B only does not see site A's samples.
    assert samples_to_dispose(bank.technician_b, bank.study) == []


def test_destroying_records_a_reason_and_keeps_the_trail(bank: Bank) -> None:
    subject = bank.include()
    bank.sample(subject, identifier="D-1")
    bank.sample(subject, identifier="D-2")
    consent_withdraw(
        actor=bank.nurse, subject=subject, kind="data_use", withdrawn_on=date(2026, 2, 2)
    )
    with pytest.raises(ValidationError, match="may not be kept"):
        sample_dispose(
            actor=bank.technician,
            study=bank.study,
            identifiers=["D-1"],
            action="kept",
            reason="protocol",
        )
    sample_dispose(
        actor=bank.technician,
        study=bank.study,
        identifiers=["D-1"],
        action="destroyed",
        reason="objection of 2026-02-02, procedure CRB-12",
    )
    assert [row.sample.identifier for row in samples_to_dispose(bank.technician, bank.study)] == [
        "D-2"
    ]
    disposition = SampleDisposition.objects.get()
    assert disposition.sample.status == SampleStatus.DESTROYED
    assert disposition.withdrawal == "data_use:2026-02-02"
    event = AuditEvent.objects.filter(action="biobank.sample_destroyed").get()
    assert event.reason == "objection of 2026-02-02, procedure CRB-12"
    with pytest.raises(ValidationError, match="no withdrawal of consent awaits"):
        sample_dispose(
            actor=bank.technician,
            study=bank.study,
            identifiers=["D-1"],
            action="destroyed",
            reason="again",
        )


def test_destroying_a_stored_sample_frees_its_position(bank: Bank) -> None:
    # A destroyed or returned tube used to keep its place in the box: the box looked fuller than
    # it was and the map showed a tube that was no longer there.
    subject = bank.include()
    tube = bank.sample(subject, identifier="S-1")
    freezer = freezer_create(
        actor=bank.technician,
        study=bank.study,
        centre=bank.world.site_a.centre,
        name="F-1",
        temperature=-80,
    )
    rack = rack_create(actor=bank.technician, study=bank.study, freezer=freezer, name="R1")
    box = box_create(
        actor=bank.technician, study=bank.study, rack=rack, name="B1", rows=9, columns=9
    )
    sample_store(actor=bank.technician, sample=tube, box=box)
    consent_withdraw(
        actor=bank.nurse, subject=subject, kind="data_use", withdrawn_on=date(2026, 2, 2)
    )
    sample_dispose(
        actor=bank.technician,
        study=bank.study,
        identifiers=["S-1"],
        action="destroyed",
        reason="objection of 2026-02-02, procedure CRB-12",
    )
    tube.refresh_from_db()
    box.refresh_from_db()
    assert tube.status == SampleStatus.DESTROYED
    assert not SamplePosition.objects.filter(sample=tube).exists()
    assert box.used == 0
    out = StorageMovement.objects.filter(sample=tube, kind=MovementKind.TAKE_OUT).get()
    assert out.from_place.endswith("A1")
    assert out.reason == "objection of 2026-02-02, procedure CRB-12"
    take_out = AuditEvent.objects.filter(action="biobank.sample_take_out", target_id=str(tube.pk))
    assert take_out.get().new == {"status": SampleStatus.DESTROYED, "place": ""}
