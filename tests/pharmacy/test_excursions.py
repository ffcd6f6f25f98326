"""Temperature excursions: reported by the site's pharmacist, the kits quarantined at once and
never available for assignment; the sponsor's supply manager decides usable or destroyed, with
a reason, each move in the ledger and the audit trail with its actor and reason."""

from __future__ import annotations

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.pharmacy.excursions import excursion_decide, excursion_report
from carnet.pharmacy.models import Excursion, ExcursionStatus, Kit, KitStatus, StockMovement
from carnet.pharmacy.shipments import shipment_receipt_close, shipment_receive_kit
from tests.pharmacy.conftest import Pharmacy

pytestmark = pytest.mark.django_db


def received(pharmacy: Pharmacy, count: int = 4) -> list[str]:
    numbers = pharmacy.stock(count)
    shipment = pharmacy.shipment(numbers)
    for number in numbers:
        shipment_receive_kit(actor=pharmacy.pharmacist, shipment=shipment, number=number)
    shipment_receipt_close(
        actor=pharmacy.pharmacist, shipment=shipment, temperature_record="ok", temperature_ok=True
    )
    return numbers


def available(pharmacy: Pharmacy) -> list[str]:
    """The kits an assignment may take: the site's AVAILABLE ones."""
    return sorted(
        Kit.objects.filter(site=pharmacy.site_a, status=KitStatus.AVAILABLE).values_list(
            "number", flat=True
        )
    )


def report(pharmacy: Pharmacy, numbers: list[str]) -> Excursion:
    return excursion_report(
        actor=pharmacy.pharmacist,
        study=pharmacy.study,
        site=pharmacy.site_a,
        numbers=numbers,
        description="fridge door open overnight",
        maximum_temperature=14,
        duration_minutes=420,
    )


def test_an_excursion_quarantines_its_kits_which_are_no_longer_available(
    pharmacy: Pharmacy,
) -> None:
    received(pharmacy)
    excursion = report(pharmacy, ["K002", "K003"])
    assert available(pharmacy) == ["K001", "K004"]
    assert Kit.objects.get(number="K002").status == KitStatus.QUARANTINED
    moves = StockMovement.objects.filter(kind="quarantined")
    assert {(m.kit.number, m.actor) for m in moves} == {
        ("K002", pharmacy.pharmacist.display_name()),
        ("K003", pharmacy.pharmacist.display_name()),
    }
    assert all("fridge door open overnight" in m.reason for m in moves)
    assert excursion.status == ExcursionStatus.OPEN
    assert AuditEvent.objects.filter(action="pharmacy.kit_quarantined").count() == 2


def test_the_sponsor_decides_usable_or_destroyed_with_a_reason(pharmacy: Pharmacy) -> None:
    received(pharmacy)
    excursion = report(pharmacy, ["K002", "K003"])
    excursion_decide(
        actor=pharmacy.supply,
        excursion=excursion,
        decision="usable",
        reason="stability data: 14 °C for 7 h is within the allowance",
        numbers=["K002"],
    )
    excursion.refresh_from_db()
    assert excursion.status == ExcursionStatus.OPEN  # K003 still waits
    assert available(pharmacy) == ["K001", "K002", "K004"]
    excursion_decide(
        actor=pharmacy.supply, excursion=excursion, decision="destroyed", reason="label unreadable"
    )
    excursion.refresh_from_db()
    assert excursion.status == ExcursionStatus.DECIDED
    assert Kit.objects.get(number="K003").status == KitStatus.DESTROYED
    released = StockMovement.objects.get(kind="released")
    assert released.actor == pharmacy.supply.display_name()
    assert "stability data" in released.reason
    event = AuditEvent.objects.get(action="pharmacy.kit_destroyed")
    assert (event.old["status"], event.new["status"]) == ("quarantined", "destroyed")
    assert "label unreadable" in event.reason


def test_the_site_does_not_decide_and_a_decision_needs_a_reason(pharmacy: Pharmacy) -> None:
    received(pharmacy)
    excursion = report(pharmacy, ["K001"])
    with pytest.raises(PermissionDenied):
        excursion_decide(
            actor=pharmacy.pharmacist, excursion=excursion, decision="usable", reason="fine"
        )
    with pytest.raises(ValidationError, match="reason"):
        excursion_decide(actor=pharmacy.supply, excursion=excursion, decision="usable", reason="")
    with pytest.raises(ValidationError, match="kit K004: it does not wait for a decision"):
        excursion_decide(
            actor=pharmacy.supply,
            excursion=excursion,
            decision="usable",
            reason="ok",
            numbers=["K004"],
        )
    assert Kit.objects.get(number="K001").status == KitStatus.QUARANTINED


def test_only_kits_of_the_sites_available_stock_are_reported(pharmacy: Pharmacy) -> None:
    received(pharmacy)
    report(pharmacy, ["K001"])
    with pytest.raises(ValidationError, match="kit K001: it is quarantined"):
        report(pharmacy, ["K001"])
    with pytest.raises(ValidationError, match="kit K999: it is not in the stock of site 01"):
        report(pharmacy, ["K999"])
    with pytest.raises(PermissionDenied):
        excursion_report(
            actor=pharmacy.pharmacist_b,
            study=pharmacy.study,
            site=pharmacy.site_a,
            numbers=["K002"],
            description="x",
        )


def test_the_project_manager_decides_on_the_excursions_page_without_seeing_contents(
    pharmacy: Pharmacy,
) -> None:
    received(pharmacy)
    excursion = report(pharmacy, ["K002", "K003"])
    client = pharmacy.client(pharmacy.supply)
    url = f"/studies/MINI/pharmacy/excursions/{excursion.pk}/"
    page = client.get(url).content.decode()
    assert "Record the decision" in page
    assert "experimental" not in page
    assert "placebo" not in page
    refused = client.post(url + "decide/", {"decision": "usable", "reason": "", "kits": ["K002"]})
    assert "reason" in refused["Location"]
    client.post(
        url + "decide/", {"decision": "usable", "reason": "within allowance", "kits": ["K002"]}
    )
    assert available(pharmacy) == ["K001", "K002", "K004"]
    # The pharmacist reads the decision but may not take it.
    pharmacist = pharmacy.client(pharmacy.pharmacist)
    assert "Record the decision" not in pharmacist.get(url).content.decode()
    pharmacist.post(url + "decide/", {"decision": "usable", "reason": "x", "kits": ["K003"]})
    assert Kit.objects.get(number="K003").status == KitStatus.QUARANTINED
