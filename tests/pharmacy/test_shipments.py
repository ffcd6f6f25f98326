"""Shipments: prepared from released depot kits, sent (in transit), received kit by kit by the
site's pharmacist; an unknown or already received kit is refused by its number; kits not
scanned are missing, broken ones damaged; a bad temperature record quarantines the kits."""

from __future__ import annotations

from datetime import date

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.pharmacy.models import (
    Excursion,
    Kit,
    KitStatus,
    Shipment,
    ShipmentStatus,
    StockMovement,
)
from carnet.pharmacy.shipments import (
    kit_numbers,
    shipment_create,
    shipment_receipt_close,
    shipment_receive_kit,
    shipment_receive_kits,
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


def _receipt(shipment: Shipment) -> list[tuple[object, ...]]:
    """Return what the receipt of a shipment left, kit by kit in the order received: the kit's
    status and site, its ledger row and its audit event (before, after, reason, who), without
    the shipment's and the kit's numbers so that two shipments compare."""

    def plain(state: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in state.items() if k not in ("number", "shipment")}

    rows: list[tuple[object, ...]] = []
    movements = StockMovement.objects.filter(kind="received", kit__shipment=shipment)
    for movement in movements.order_by("id"):
        kit = movement.kit
        event = AuditEvent.objects.get(action="pharmacy.kit_received", new__number=kit.number)
        assert (event.new["number"], event.new["shipment"]) == (kit.number, shipment.number)
        rows.append(
            (
                kit.status,
                kit.site_id,
                movement.site_id,
                movement.actor,
                movement.reason.replace(shipment.number, "S"),
                movement.quantity,
                movement.product,
                plain(event.old),
                plain(event.new),
                event.reason.replace(shipment.number, "S"),
                (event.actor_id, event.actor_label, event.chain),
            )
        )
    return rows


def test_a_box_received_at_once_leaves_what_receiving_it_kit_by_kit_leaves(
    pharmacy: Pharmacy,
) -> None:
    numbers = pharmacy.stock(6)
    one_by_one = pharmacy.shipment(numbers[:3])
    for number in numbers[:3]:
        shipment_receive_kit(actor=pharmacy.pharmacist, shipment=one_by_one, number=number)
    box = pharmacy.shipment(numbers[3:])
    shipment_receive_kits(actor=pharmacy.pharmacist, shipment=box, numbers=numbers[3:])
    expected = _receipt(one_by_one)
    assert len(expected) == 3
    assert _receipt(box) == expected


def test_a_box_is_received_at_once_with_an_audit_event_per_kit(pharmacy: Pharmacy) -> None:
    numbers = pharmacy.stock(4)
    shipment = pharmacy.shipment(numbers)
    kits = shipment_receive_kits(
        actor=pharmacy.pharmacist, shipment=shipment, numbers=["K002", " K001 ", "K003"]
    )
    assert [k.number for k in kits] == ["K002", "K001", "K003"]
    assert [status(n) for n in numbers] == ["available", "available", "available", "in_transit"]
    assert Kit.objects.get(number="K001").site == pharmacy.site_a
    movements = StockMovement.objects.filter(kind="received").order_by("id")
    assert [(m.kit.number, m.reason) for m in movements] == [
        (n, f"received in shipment {shipment.number}") for n in ("K002", "K001", "K003")
    ]
    events = AuditEvent.objects.filter(action="pharmacy.kit_received").order_by("id")
    assert [(e.old["status"], e.new["status"], e.new["number"]) for e in events] == [
        ("in_transit", "available", n) for n in ("K002", "K001", "K003")
    ]
    assert {e.new["site"] for e in events} == {pharmacy.site_a.code}


def test_a_box_with_a_kit_refused_is_refused_whole_by_that_kits_number(
    pharmacy: Pharmacy,
) -> None:
    numbers = pharmacy.stock(4)
    shipment = pharmacy.shipment(numbers[:3])
    with pytest.raises(ValidationError, match="kit K004: it is not in shipment"):
        shipment_receive_kits(
            actor=pharmacy.pharmacist, shipment=shipment, numbers=["K001", "K004"]
        )
    with pytest.raises(ValidationError) as twice:
        shipment_receive_kits(
            actor=pharmacy.pharmacist, shipment=shipment, numbers=["K001", "K002", "K001"]
        )
    assert str(twice.value) == "kit K001: it was received already (available)."
    assert [status(n) for n in numbers[:3]] == [KitStatus.IN_TRANSIT] * 3
    assert not StockMovement.objects.filter(kind="received").exists()
    assert not AuditEvent.objects.filter(action="pharmacy.kit_received").exists()
    for someone in (pharmacy.pharmacist_b, pharmacy.nurse, pharmacy.supply):
        with pytest.raises(PermissionDenied):
            shipment_receive_kits(actor=someone, shipment=shipment, numbers=["K001"])
    shipment_receive_kits(actor=pharmacy.pharmacist, shipment=shipment, numbers=["K001"])
    shipment_receipt_close(
        actor=pharmacy.pharmacist,
        shipment=shipment,
        temperature_record="logger: min 3.1 °C, max 6.8 °C",
        temperature_ok=True,
    )
    with pytest.raises(ValidationError, match="its receipt is closed already"):
        shipment_receive_kits(actor=pharmacy.pharmacist, shipment=shipment, numbers=["K002"])
