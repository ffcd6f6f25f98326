"""Kit assignment at randomisation and at dispensing visits: the subject's arm, usable stock
only, the soonest expiry first, never twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from carnet.audit.models import AuditEvent
from carnet.core.clock import utc_today
from carnet.pharmacy.assignment import NoUsableKit, visit_kits_assign
from carnet.pharmacy.models import Batch, Kit, KitStatus, StockMovement
from carnet.randomization.models import Allocation
from carnet.randomization.selectors import RandomisationRefused
from tests.pharmacy.dispensing_world import pharmacy_trial

pytestmark = pytest.mark.django_db


def _other(arm: str) -> str:
    return "placebo" if arm == "experimental" else "experimental"


def test_randomisation_assigns_a_kit_of_the_subjects_arm_soonest_expiry_first(
    tmp_path: Path,
) -> None:
    trial = pharmacy_trial(tmp_path)
    today = utc_today()
    for arm in ("experimental", "placebo"):
        trial.stock(arm, expiry=today + timedelta(days=300))
        trial.stock(arm, expiry=today + timedelta(days=100))
    subject = trial.randomised()
    allocation = Allocation.objects.get(subject=subject)
    kit = Kit.objects.get(subject=subject)
    assert kit.content == allocation.arm
    assert kit.status == KitStatus.ASSIGNED
    assert kit.expiry == today + timedelta(days=100)
    assert (kit.event, kit.occurrence) == ("treatment", 1)
    assert allocation.kit_number == kit.number
    movement = StockMovement.objects.get(kit=kit, kind=StockMovement.Kind.ASSIGNED)
    assert movement.subject == subject
    assert AuditEvent.objects.filter(action="pharmacy.assigned", target_id=kit.number).exists()


def test_it_never_assigns_a_quarantined_unreleased_wrong_site_or_soon_expiring_kit(
    tmp_path: Path,
) -> None:
    trial = pharmacy_trial(tmp_path)
    today = utc_today()
    unreleased = Batch.objects.create(
        study=trial.world.study,
        environment="production",
        product="CRN",
        number="B2",
        expiry=today + timedelta(days=400),
        released_on=None,
        created_at=trial.batch.created_at,
    )
    for arm in ("experimental", "placebo"):
        trial.stock(arm, status=KitStatus.QUARANTINED)
        trial.stock(arm, batch=unreleased)
        trial.stock(arm, site=trial.world.site_b)
        # Expires before the first cycle (the visit after the treatment visit): never given.
        trial.stock(arm, expiry=today + timedelta(days=10))
    with pytest.raises(RandomisationRefused) as refused:
        trial.randomised()
    assert refused.value.code == "no_kit"
    assert "experimental" not in str(refused.value)
    assert "placebo" not in str(refused.value)
    assert not Allocation.objects.exists()
    assert not Kit.objects.filter(status=KitStatus.ASSIGNED).exists()


def test_a_dispensing_visit_assigns_a_new_kit_of_the_same_arm_once(tmp_path: Path) -> None:
    trial = pharmacy_trial(tmp_path)
    for arm in ("experimental", "placebo"):
        trial.stock(arm, count=3)
    subject = trial.randomised()
    arm = Allocation.objects.get(subject=subject).arm
    kits = visit_kits_assign(actor=trial.pharmacist, subject=subject, event="cycle", occurrence=1)
    again = visit_kits_assign(actor=trial.pharmacist, subject=subject, event="cycle", occurrence=1)
    assert [k.pk for k in kits] == [k.pk for k in again]
    assert len(kits) == 1
    assert kits[0].content == arm
    assert Kit.objects.filter(subject=subject).count() == 2


def test_no_usable_kit_names_the_site_never_the_arm(tmp_path: Path) -> None:
    trial = pharmacy_trial(tmp_path)
    trial.stock("experimental")
    trial.stock("placebo")
    subject = trial.randomised()
    arm = Allocation.objects.get(subject=subject).arm
    trial.stock(_other(arm), count=2)
    with pytest.raises(NoUsableKit) as refused:
        visit_kits_assign(actor=trial.pharmacist, subject=subject, event="cycle", occurrence=1)
    assert str(refused.value).startswith("no usable kit at site 01")
    assert arm not in str(refused.value)


def test_a_pharmacist_of_another_site_cannot_assign(tmp_path: Path) -> None:
    from carnet.accounts.permissions import PermissionDenied

    trial = pharmacy_trial(tmp_path)
    trial.stock("experimental", count=2)
    trial.stock("placebo", count=2)
    subject = trial.randomised()
    with pytest.raises(PermissionDenied):
        visit_kits_assign(actor=trial.pharmacist_b, subject=subject, event="cycle", occurrence=1)


def test_a_study_without_a_pharmacy_section_keeps_its_kit_list(tmp_path: Path) -> None:
    from carnet.randomization.kits import kits_import
    from tests.randomization.conftest import MINIMISATION, trial_with

    trial = trial_with(MINIMISATION, tmp_path)
    kits_import(
        actor=trial.unblinded,
        study=trial.world.study,
        content=b"site,number,arm\n01,K1,experimental\n01,K2,placebo\n",
    )
    from carnet.randomization.services import subject_randomise

    subject = trial.include()
    allocation = subject_randomise(actor=trial.nurse, subject=subject)
    assert allocation.kit_number in {"K1", "K2"}
