"""Aliquots and derivatives: identifiers from the parent's, volumes never above the parent's,
a used-up parent consumed, duplicates refused, every child audited."""

from __future__ import annotations

from decimal import Decimal

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.biobank.aliquots import sample_aliquot, sample_derive
from carnet.biobank.models import Sample, SamplePosition, SampleStatus
from carnet.biobank.storage import sample_store
from carnet.core.errors import ValidationError
from tests.biobank.storage_world import Storage, storage_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def storage() -> Storage:
    return storage_world()


def test_aliquots_take_the_parents_identifier_and_volume(storage: Storage) -> None:
    tubes = sample_aliquot(
        actor=storage.technician, sample=storage.plasma, volumes=["1", "1", "0.5", "0.5"]
    )
    assert [tube.identifier for tube in tubes] == [
        "MINI-01-001-PL01-A01",
        "MINI-01-001-PL01-A02",
        "MINI-01-001-PL01-A03",
        "MINI-01-001-PL01-A04",
    ]
    assert all(tube.parent_id == storage.plasma.pk for tube in tubes)
    assert [tube.volume for tube in tubes] == [
        Decimal("1"),
        Decimal("1"),
        Decimal("0.5"),
        Decimal("0.5"),
    ]
    parent = Sample.objects.get(pk=storage.plasma.pk)
    assert parent.volume == Decimal("1")
    assert parent.status == SampleStatus.COLLECTED
    assert set(parent.children.values_list("identifier", flat=True)) == {
        tube.identifier for tube in tubes
    }
    # Another aliquoting continues the numbering.
    more = sample_aliquot(actor=storage.technician, sample=parent, volumes=["0.5"])
    assert more[0].identifier == "MINI-01-001-PL01-A05"


def test_aliquot_volumes_never_exceed_the_parents(storage: Storage) -> None:
    with pytest.raises(ValidationError) as refused:
        sample_aliquot(actor=storage.technician, sample=storage.plasma, volumes=["2", "1.5", "0.6"])
    assert str(refused.value) == (
        "The tubes take 4.1 mL but sample MINI-01-001-PL01 holds only 4 mL. Nothing was divided."
    )
    assert not Sample.objects.filter(parent=storage.plasma).exists()
    assert Sample.objects.get(pk=storage.plasma.pk).volume == Decimal("4")


def test_a_parent_used_up_is_consumed_and_leaves_its_box(storage: Storage) -> None:
    sample_store(actor=storage.technician, sample=storage.plasma, box=storage.box, position="A1")
    sample_aliquot(actor=storage.technician, sample=storage.plasma, volumes=["2", "2"])
    parent = Sample.objects.get(pk=storage.plasma.pk)
    assert parent.volume == Decimal("0")
    assert parent.status == SampleStatus.CONSUMED
    assert not SamplePosition.objects.filter(sample=parent).exists()
    with pytest.raises(ValidationError, match="is consumed: it cannot be divided"):
        sample_aliquot(actor=storage.technician, sample=parent, volumes=["0.1"])


def test_a_duplicate_identifier_is_refused(storage: Storage) -> None:
    storage.sample("PRE-PRINTED-7")
    with pytest.raises(ValidationError) as refused:
        sample_aliquot(
            actor=storage.technician,
            sample=storage.plasma,
            volumes=["1", "1"],
            identifiers=["PRE-PRINTED-6", "PRE-PRINTED-7"],
        )
    assert str(refused.value) == (
        "identifiers: a sample PRE-PRINTED-7 already exists; identifiers are unique."
    )
    assert not Sample.objects.filter(identifier="PRE-PRINTED-6").exists()
    with pytest.raises(ValidationError, match="PRE-PRINTED-8 is given twice"):
        sample_aliquot(
            actor=storage.technician,
            sample=storage.plasma,
            volumes=["1", "1"],
            identifiers=["PRE-PRINTED-8", "PRE-PRINTED-8"],
        )


def test_derivatives_of_another_type(storage: Storage) -> None:
    dna = sample_derive(
        actor=storage.technician,
        sample=storage.plasma,
        sample_type="dna",
        volume_used="1",
        quantity="12.5",
        unit="µg",
    )
    assert [(d.identifier, d.sample_type, d.volume, d.unit) for d in dna] == [
        ("MINI-01-001-PL01-D01", "dna", Decimal("12.5"), "µg")
    ]
    assert Sample.objects.get(pk=storage.plasma.pk).volume == Decimal("3")
    tumour = storage.sample("MINI-01-001-TU01", volume=None)
    slides = sample_derive(actor=storage.technician, sample=tumour, sample_type="slide", count=3)
    assert [s.identifier for s in slides] == [
        "MINI-01-001-TU01-S01",
        "MINI-01-001-TU01-S02",
        "MINI-01-001-TU01-S03",
    ]
    blocks = sample_derive(actor=storage.technician, sample=tumour, sample_type="ffpe_block")
    assert blocks[0].identifier == "MINI-01-001-TU01-B01"


def test_aliquoting_is_audited(storage: Storage) -> None:
    tubes = sample_aliquot(actor=storage.technician, sample=storage.plasma, volumes=["1", "1"])
    divided = AuditEvent.objects.get(action="biobank.sample_aliquot")
    assert divided.chain == storage.study.audit_chain
    assert divided.old == {"volume": "4.000", "status": "collected"}
    assert divided.new["children"] == [tube.identifier for tube in tubes]
    assert AuditEvent.objects.filter(action="biobank.sample_create").count() == 2


def test_only_the_sites_technician_aliquots(storage: Storage) -> None:
    for actor in (storage.technician_b, storage.investigator, storage.outsider):
        with pytest.raises(PermissionDenied):
            sample_aliquot(actor=actor, sample=storage.plasma, volumes=["1"])
    assert not Sample.objects.filter(parent=storage.plasma).exists()
