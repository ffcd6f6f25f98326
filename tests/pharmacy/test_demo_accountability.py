"""Issue 25, item 9: MAINTAIN-CRC's demo runs in kit mode, and its accountability balances for
every site and every kit (received = dispensed + returned + destroyed + in stock); a planted
discrepancy (a kit's status changed without a movement) is listed.

The day is frozen as in tests/demo: how far each patient got depends on today.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from carnet.accounts.models import StudySite
from carnet.audit.services import SystemActor
from carnet.capture.models import ItemValue
from carnet.demo import demo_load, demo_patients_load, demo_studies_load
from carnet.pharmacy.accountability import accountability
from carnet.pharmacy.models import (
    Dispensing,
    Excursion,
    ExcursionStatus,
    Kit,
    KitStatus,
    Return,
    Shipment,
    ShipmentStatus,
)
from carnet.randomization.models import Allocation
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def study(system_actor: SystemActor) -> Study:
    with time_machine.travel(TODAY - timedelta(hours=1), tick=True):
        demo_load(actor=system_actor, password="a long demo password")
        demo_studies_load(actor=system_actor)
    with time_machine.travel(TODAY, tick=True):
        demo_patients_load(actor=system_actor, phase3=18, phase2=2)
    return Study.objects.get(identifier="MAINTAIN-CRC")


def test_the_demo_dispenses_kits_of_the_right_arm_and_its_accountability_balances(
    study: Study,
) -> None:
    environment = environment_written(study)
    sites = list(StudySite.objects.filter(study=study).order_by("code"))
    # A shipment per site, sent and received through the services.
    for site in sites:
        assert Shipment.objects.filter(
            study=study, site=site, status=ShipmentStatus.RECEIVED
        ).exists()
    # Every randomised patient got the kit of cycle 1 at randomisation.
    allocations = Allocation.objects.filter(subject__study=study)
    assert allocations.exists()
    for allocation in allocations:
        assert allocation.kit_number
        kit = Kit.objects.get(study=study, environment=environment, number=allocation.kit_number)
        assert (kit.subject_id, kit.event, kit.occurrence) == (allocation.subject_id, "cycle", 1)
    # Each cycle's kit holds the patient's arm and is the one the administration form records.
    arms = dict(allocations.values_list("subject_id", "arm"))
    dispensings = Dispensing.objects.filter(study=study).select_related("kit")
    assert dispensings.count() > len(arms)  # later cycles too, not only the first
    for dispensing in dispensings:
        assert dispensing.kit is not None
        assert dispensing.kit.content == arms[dispensing.subject_id]
        assert dispensing.dispensed_by.startswith("pharmacist")
    written = set(
        ItemValue.objects.filter(
            form_instance__subject__study=study, item="kit_number", removed=False
        ).values_list("text", flat=True)
    )
    assert written == {d.kit.number for d in dispensings if d.kit is not None}
    # Some unused vials came back; one excursion, decided by the project manager.
    assert Return.objects.filter(study=study).exists()
    excursion = Excursion.objects.get(study=study)
    assert excursion.status == ExcursionStatus.DECIDED
    assert {entry.decided_by for entry in excursion.kits.all()} == {"Camille Roux"}

    # Accountability (one demo load for both: it takes a while).
    book = accountability(study, environment, sites, unblinded=True)
    assert book.discrepancies == []
    assert book.balances
    for account in book.sites:
        assert account.received > 0
        assert account.dispensed + account.returned > 0
        assert account.received == (
            account.dispensed + account.returned + account.destroyed + account.in_stock
        )
        assert account.balances
        # Every kit received at the site is in exactly one place, and where its status says.
        received = Kit.objects.filter(study=study, environment=environment, site__code=account.site)
        assert len(account.kits) == received.count() == account.received
        for line in account.kits:
            assert line.by_ledger in ("dispensed", "returned", "destroyed", "in_stock")
    # Planted: a dispensed kit put back on the shelf without a movement.
    planted = Kit.objects.filter(study=study, status=KitStatus.DISPENSED).order_by("number")
    moved = planted.select_related("site").first()
    assert moved is not None
    assert moved.site is not None
    Kit.objects.filter(pk=moved.pk).update(status=KitStatus.AVAILABLE)
    book = accountability(study, environment, sites)
    assert not book.balances
    (listed,) = [text for text in book.discrepancies if moved.number in text]
    assert "available" in listed
    assert "dispensed" in listed
    wrong = next(account for account in book.sites if account.site == moved.site.code)
    assert not wrong.balances
    assert all(account.balances for account in book.sites if account is not wrong)
