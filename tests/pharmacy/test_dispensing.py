"""Dispensing, replacement, returns, destruction and accountability (kit mode), hospital stock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.core.clock import utc_today
from carnet.core.errors import ValidationError
from carnet.pharmacy.accountability import accountability
from carnet.pharmacy.dispensing import (
    kit_dispense,
    kit_replace,
    kit_return,
    kits_destroy,
    product_destroy,
    product_dispense,
    product_receive,
    product_return,
)
from carnet.pharmacy.models import Kit, KitStatus, StockMovement
from carnet.randomization.models import Allocation
from tests.pharmacy.dispensing_world import PharmacyTrial, pharmacy_trial

pytestmark = pytest.mark.django_db


def _randomised_with_stock(tmp_path: Path) -> tuple[PharmacyTrial, Kit]:
    trial = pharmacy_trial(tmp_path)
    for arm in ("experimental", "placebo"):
        trial.stock(arm, count=3)
    subject = trial.randomised()
    return trial, Kit.objects.get(subject=subject)


def test_the_pharmacist_dispenses_the_assigned_kit_and_it_is_audited(tmp_path: Path) -> None:
    trial, kit = _randomised_with_stock(tmp_path)
    dispensing = kit_dispense(
        actor=trial.pharmacist,
        study=trial.world.study,
        site=trial.world.site_a,
        number=kit.number,
        on=utc_today(),
        dispensed_to="day unit nurse",
    )
    kit.refresh_from_db()
    assert kit.status == KitStatus.DISPENSED
    assert dispensing.quantity == kit.quantity
    assert dispensing.event == "treatment"
    event = AuditEvent.objects.get(action="pharmacy.dispensed", target_id=kit.number)
    assert event.actor_label == "phil (Phil)"
    assert kit.content not in str(event.new)


def test_dispensing_at_another_site_is_refused(tmp_path: Path) -> None:
    trial, kit = _randomised_with_stock(tmp_path)
    with pytest.raises(PermissionDenied):
        kit_dispense(
            actor=trial.pharmacist_b,
            study=trial.world.study,
            site=trial.world.site_a,
            number=kit.number,
            on=utc_today(),
            dispensed_to="patient",
        )
    with pytest.raises(ValidationError) as refused:
        kit_dispense(
            actor=trial.pharmacist_b,
            study=trial.world.study,
            site=trial.world.site_b,
            number=kit.number,
            on=utc_today(),
            dispensed_to="patient",
        )
    assert str(refused.value) == (
        f"kit {kit.number}: the kit is not at site 02; dispense it where it is."
    )
    kit.refresh_from_db()
    assert kit.status == KitStatus.ASSIGNED


def test_a_damaged_kit_is_replaced_by_one_of_the_same_arm_with_a_reason(tmp_path: Path) -> None:
    trial, kit = _randomised_with_stock(tmp_path)
    with pytest.raises(ValidationError):
        kit_replace(
            actor=trial.pharmacist,
            study=trial.world.study,
            site=trial.world.site_a,
            number=kit.number,
            reason=" ",
        )
    new = kit_replace(
        actor=trial.pharmacist,
        study=trial.world.study,
        site=trial.world.site_a,
        number=kit.number,
        reason="vial broken",
    )
    kit.refresh_from_db()
    assert kit.status == KitStatus.DAMAGED
    assert new.content == kit.content
    assert new.subject_id == kit.subject_id
    assert (new.event, new.occurrence) == (kit.event, kit.occurrence)
    replaced = StockMovement.objects.get(kit=kit, kind=StockMovement.Kind.REPLACED)
    assert replaced.reason == "vial broken"


def test_returns_destruction_and_the_site_balances(tmp_path: Path) -> None:
    trial, kit = _randomised_with_stock(tmp_path)
    study, site = trial.world.study, trial.world.site_a
    kit_dispense(
        actor=trial.pharmacist,
        study=study,
        site=site,
        number=kit.number,
        on=utc_today(),
        dispensed_to="patient",
    )
    kit_return(
        actor=trial.pharmacist,
        study=study,
        site=site,
        number=kit.number,
        on=utc_today(),
        quantity=1,
        note="one vial unused",
    )
    with pytest.raises(ValidationError):
        kits_destroy(
            actor=trial.pharmacist,
            study=study,
            site=site,
            numbers=[kit.number],
            on=utc_today(),
            witness="",
            certificate="C-1",
        )
    destroyed = kits_destroy(
        actor=trial.pharmacist,
        study=study,
        site=site,
        numbers=[kit.number],
        on=utc_today(),
        witness="Dr Witness",
        certificate="DEST-2026-01",
    )
    assert destroyed[0].certificate == "DEST-2026-01"
    account = accountability(study, "production", [site, trial.world.site_b])
    site_a = account.sites[0]
    assert (site_a.received, site_a.destroyed, site_a.in_stock) == (6, 1, 5)
    assert account.balances, account.discrepancies
    patient = account.patients[0]
    assert (patient.dispensed, patient.returned, patient.used) == (4, 1, 3)
    # Every move of the kit is in the ledger and the audit trail.
    kinds = list(StockMovement.objects.filter(kit=kit).values_list("kind", flat=True))
    assert kinds == ["received", "assigned", "dispensed", "returned", "destroyed"]
    for kind in kinds[1:]:
        assert AuditEvent.objects.filter(action=f"pharmacy.{kind}", target_id=kit.number).exists()


def test_a_planted_discrepancy_is_listed(tmp_path: Path) -> None:
    trial, _kit = _randomised_with_stock(tmp_path)
    other = Kit.objects.filter(status=KitStatus.AVAILABLE).first()
    assert other is not None
    # A kit gone from the shelf without a ledger row (the kind of gap monitoring looks for).
    Kit.objects.filter(pk=other.pk).update(status=KitStatus.DISPENSED)
    account = accountability(trial.world.study, "production", [trial.world.site_a])
    assert not account.balances
    assert account.discrepancies == [
        f"kit {other.number}: its status is dispensed but the ledger puts it in_stock."
    ]


def test_a_casebook_kit_number_not_dispensed_is_listed(tmp_path: Path) -> None:
    from carnet.capture.services import form_save

    trial, kit = _randomised_with_stock(tmp_path)
    kit_dispense(
        actor=trial.pharmacist,
        study=trial.world.study,
        site=trial.world.site_a,
        number=kit.number,
        on=utc_today(),
        dispensed_to="patient",
    )
    subject = kit.subject
    assert subject is not None
    form_save(
        actor=trial.nurse,
        subject=subject,
        event="treatment",
        form="vitals",
        base_version=0,
        values={"weight": 70, "kit_number": kit.number},
    )
    assert accountability(trial.world.study, "production", [trial.world.site_a]).balances
    form_save(
        actor=trial.nurse,
        subject=subject,
        event="treatment",
        form="vitals",
        base_version=1,
        values={"weight": 70, "kit_number": "999999"},
        reason="typo",
    )
    account = accountability(trial.world.study, "production", [trial.world.site_a])
    assert account.discrepancies == [
        f"{subject.identifier}, treatment 1: the casebook's kit number 999999 is not a kit "
        "dispensed for this visit."
    ]


def test_the_account_shows_contents_to_unblinded_readers_only(tmp_path: Path) -> None:
    trial, kit = _randomised_with_stock(tmp_path)
    blinded = accountability(trial.world.study, "production", [trial.world.site_a])
    assert {line.content for line in blinded.sites[0].kits} == {""}
    unblinded = accountability(
        trial.world.study, "production", [trial.world.site_a], unblinded=True
    )
    assert {line.content for line in unblinded.sites[0].kits} == {"experimental", "placebo"}
    assert Allocation.objects.get(subject=kit.subject).arm == kit.content


def test_hospital_stock_is_accounted_by_product_and_quantity(tmp_path: Path) -> None:
    trial = pharmacy_trial(tmp_path, mode="hospital_stock")
    study, site = trial.world.study, trial.world.site_a
    subject = trial.include(on=utc_today())
    product_receive(
        actor=trial.pharmacist, study=study, site=site, product="CAPE", quantity=100, on=utc_today()
    )
    product_dispense(
        actor=trial.pharmacist,
        study=study,
        site=site,
        subject=subject,
        product="CAPE",
        quantity=28,
        on=utc_today(),
        dispensed_to="patient",
    )
    product_return(
        actor=trial.pharmacist,
        study=study,
        site=site,
        subject=subject,
        product="CAPE",
        quantity=4,
        on=utc_today() + timedelta(days=14),
    )
    product_destroy(
        actor=trial.pharmacist,
        study=study,
        site=site,
        product="CAPE",
        quantity=4,
        on=utc_today() + timedelta(days=15),
        witness="W",
        certificate="D-1",
    )
    with pytest.raises(ValidationError):
        product_dispense(
            actor=trial.pharmacist,
            study=study,
            site=site,
            subject=subject,
            product="NOPE",
            quantity=1,
            on=utc_today(),
            dispensed_to="patient",
        )
    account = accountability(study, "production", [site])
    product = account.products[0]
    assert (product.received, product.dispensed, product.returned, product.destroyed) == (
        100,
        28,
        4,
        4,
    )
    assert product.in_stock == 72
    assert account.patients[0].used == 24
    assert account.balances
