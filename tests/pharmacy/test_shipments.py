"""Shipments: prepared from released depot kits, sent (in transit), received kit by kit by the
site's pharmacist; an unknown or already received kit is refused by its number; kits not
scanned are missing, broken ones damaged; a bad temperature record quarantines the kits."""

from __future__ import annotations

from datetime import date

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.pharmacy.models import Excursion, Kit, KitStatus, ShipmentStatus, StockMovement
from carnet.pharmacy.shipments import (
    kit_numbers,
    shipment_create,
    shipment_receipt_close,
    shipment_receive_kit,
)
from carnet.pharmacy.supply import batch_create
from tests.pharmacy.conftest import TODAY, Pharmacy

pytestmark = pytest.mark.django_db


def status(number: str) -> str:
    return Kit.objects.get(number=number).status


def test_a_shipment_is_received_kit_by_kit_and_closed_with_its_temperature_record(
    pharmacy: Pharmacy,
) -> None:
    numbers = pharmacy.stock(4)
    shipment = pharmacy.shipment(numbers)
    assert {status(n) for n in numbers} == {KitStatus.IN_TRANSIT}
    shipment_receive_kit(actor=pharmacy.pharmacist, shipment=shipment, number="K001")
    shipment_receive_kit(actor=pharmacy.pharmacist, shipment=shipment, number=" K002 ")
    shipment_receive_kit(
        actor=pharmacy.pharmacist, shipment=shipment, number="K003", damaged=True, note="crushed"
    )
    shipment_receipt_close(
        actor=pharmacy.pharmacist,
        shipment=shipment,
        temperature_record="logger 4411: min 16.2 °C, max 23.9 °C",
        temperature_ok=True,
    )
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.RECEIVED
    assert shipment.received_by == pharmacy.pharmacist.display_name()
    assert [status(n) for n in numbers] == ["available", "available", "damaged", "missing"]
    assert Kit.objects.get(number="K001").site == pharmacy.site_a
    damaged = StockMovement.objects.get(kind="damaged")
    assert (damaged.kit.number, damaged.reason) == ("K003", "crushed")
    received = AuditEvent.objects.get(action="pharmacy.shipment_received")
    assert received.new["missing"] == ["K004"]
    assert "min 16.2" in received.new["temperature_record"]


def test_an_unknown_kit_and_a_kit_received_twice_are_refused_by_their_number(
    pharmacy: Pharmacy,
) -> None:
    numbers = pharmacy.stock(4)
    shipment = pharmacy.shipment(numbers[:2])
    shipment_receive_kit(actor=pharmacy.pharmacist, shipment=shipment, number="K001")
    with pytest.raises(ValidationError) as twice:
        shipment_receive_kit(actor=pharmacy.pharmacist, shipment=shipment, number="K001")
    assert str(twice.value) == "kit K001: it was received already (available)."
    with pytest.raises(ValidationError) as unknown:
        shipment_receive_kit(actor=pharmacy.pharmacist, shipment=shipment, number="ZZ999")
    assert str(unknown.value) == (
        f"kit ZZ999: it is not in shipment {shipment.number}; set it aside and tell the depot."
    )
    with pytest.raises(ValidationError, match="kit K003: it is not in shipment"):
        shipment_receive_kit(actor=pharmacy.pharmacist, shipment=shipment, number="K003")
    assert StockMovement.objects.filter(kind="received").count() == 1


def test_only_the_sites_pharmacist_receives(pharmacy: Pharmacy) -> None:
    shipment = pharmacy.shipment(pharmacy.stock(2))
    for someone in (pharmacy.pharmacist_b, pharmacy.nurse, pharmacy.supply):
        with pytest.raises(PermissionDenied):
            shipment_receive_kit(actor=someone, shipment=shipment, number="K001")
    assert status("K001") == KitStatus.IN_TRANSIT


def test_a_shipment_takes_only_released_unexpired_kits_at_the_depot(pharmacy: Pharmacy) -> None:
    pharmacy.stock(2)
    pending = batch_create(
        actor=pharmacy.supply,
        study=pharmacy.study,
        product="capecitabine",
        number="B2",
        expiry=date(2027, 1, 1),
    )
    assert pending.released_on is None
    pharmacy.import_kits("K100,B2,placebo,")
    with pytest.raises(ValidationError, match="kit K100: its batch B2 is not released"):
        pharmacy.shipment(["K001", "K100"])
    pharmacy.shipment(["K001"])
    with pytest.raises(ValidationError, match=r"kit K001: it is not free at the depot"):
        pharmacy.shipment(["K001"])
    with pytest.raises(ValidationError, match="kit K002: it expired on 2027-06-30"):
        shipment_create(
            actor=pharmacy.supply,
            study=pharmacy.study,
            site=pharmacy.site_a,
            numbers=["K002"],
            today=date(2027, 7, 1),
        )
    with pytest.raises(PermissionDenied):
        shipment_create(
            actor=pharmacy.pharmacist,
            study=pharmacy.study,
            site=pharmacy.site_a,
            numbers=["K002"],
            today=TODAY,
        )


def test_a_temperature_record_out_of_range_quarantines_the_kits_received(
    pharmacy: Pharmacy,
) -> None:
    shipment = pharmacy.shipment(pharmacy.stock(3))
    for number in ("K001", "K002"):
        shipment_receive_kit(actor=pharmacy.pharmacist, shipment=shipment, number=number)
    shipment_receipt_close(
        actor=pharmacy.pharmacist,
        shipment=shipment,
        temperature_record="max 31 °C for 5 h",
        temperature_ok=False,
    )
    excursion = Excursion.objects.get()
    assert excursion.shipment == shipment
    assert [e.kit.number for e in excursion.kits.all()] == ["K001", "K002"]
    assert [status(n) for n in ("K001", "K002", "K003")] == [
        "quarantined",
        "quarantined",
        "missing",
    ]


def test_a_scanned_list_is_split_into_numbers() -> None:
    assert kit_numbers("K001\nK002, K003  K001\n") == ["K001", "K002", "K003"]
