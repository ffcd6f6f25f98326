"""A sample that leaves in a shipment leaves its box: its position frees, with a take-out
movement naming the shipment and an audit event by the person who sent it (issue 26: "moves
are audited", "a position holds one sample" — a tube in transit holds none)."""

from __future__ import annotations

import pytest

from carnet.audit.models import AuditEvent
from carnet.biobank.models import Box, SamplePosition, SampleStatus, StorageMovement
from carnet.biobank.shipments import shipment_prepare, shipment_send
from carnet.biobank.storage import box_create, freezer_create, rack_create, sample_store
from tests.biobank.exchange.conftest import Bank

pytestmark = pytest.mark.django_db


def test_sending_a_shipment_frees_the_positions_of_its_samples(bank: Bank) -> None:
    subject = bank.include()
    tubes = [bank.sample(subject, status=SampleStatus.COLLECTED) for _ in range(3)]
    study, tina = bank.study, bank.technician
    freezer = freezer_create(
        actor=tina, study=study, centre=bank.world.site_a.centre, name="F1", temperature=-80
    )
    rack = rack_create(actor=tina, study=study, freezer=freezer, name="R1")
    box = box_create(actor=tina, study=study, rack=rack, name="B1", rows=2, columns=2)
    for tube in tubes:
        sample_store(actor=tina, sample=tube, box=box)
    shipment = shipment_prepare(
        actor=tina,
        study=study,
        destination=bank.partner,
        use="future_research",
        identifiers=[tube.identifier for tube in tubes[:2]],
        agreement=bank.mta,
    )
    shipment_send(actor=tina, shipment=shipment)

    assert list(SamplePosition.objects.values_list("sample_id", flat=True)) == [tubes[2].pk]
    assert Box.objects.get(pk=box.pk).used == 1
    for tube in tubes[:2]:
        tube.refresh_from_db()
        assert tube.status == SampleStatus.IN_TRANSIT
        movement = StorageMovement.objects.get(sample=tube, kind="take_out")
        assert movement.from_place.startswith("F1 / R1 / B1 / A")
        assert shipment.reference in movement.reason
        event = AuditEvent.objects.get(action="biobank.sample_take_out", target_id=str(tube.pk))
        assert event.actor_id == tina.pk
        assert event.old is not None
        assert event.old["place"] == movement.from_place
