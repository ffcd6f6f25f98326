"""The worker's daily resupply job: every kit-mode study's sites checked, one proposal to the
depot through the outbox, not repeated while it is open (no shipment to the site since)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from carnet.core.clock import utc_today
from carnet.core.hashing import sha256_hex
from carnet.messaging.models import Message
from carnet.pharmacy.models import ResupplyProposal
from carnet.pharmacy.shipments import shipment_create
from carnet.pharmacy.supply import kits_import
from carnet.pharmacy.tasks import resupply_check, resupply_daily
from carnet.worker.services import periodic_job_definitions
from tests.pharmacy.dispensing_world import pharmacy_trial

pytestmark = pytest.mark.django_db


def test_the_worker_runs_the_resupply_check_every_day() -> None:
    (job,) = [job for job in periodic_job_definitions() if job.name == "pharmacy-resupply"]
    assert job.task is resupply_daily
    assert job.every == timedelta(days=1)


def test_the_daily_check_proposes_once_while_the_proposal_is_open(tmp_path: Path) -> None:
    trial = pharmacy_trial(tmp_path)
    trial.stock("experimental", count=2)
    trial.stock("placebo", count=2)
    trial.randomised()
    study, site_a = trial.world.study, trial.world.site_a
    today = utc_today()
    # Site A runs short (see the resupply test); site B holds no kit at all.
    assert resupply_check(on=today) == 2
    assert set(ResupplyProposal.objects.values_list("site__code", flat=True)) == {"01", "02"}
    told = Message.objects.filter(recipient=trial.manager).count()
    assert told == 2
    # Run again the same day, then on the next days: the depot has not answered, nothing new.
    assert resupply_check(on=today) == 0
    assert resupply_check(on=today + timedelta(days=1)) == 0
    assert resupply_check(on=today + timedelta(days=2)) == 0
    assert ResupplyProposal.objects.count() == 2
    assert Message.objects.filter(recipient=trial.manager).count() == told
    # The depot prepares a shipment for site A: its proposal is answered; still short, the
    # next day's check proposes again for A, not for B whose proposal is still open.
    content = b"kit,batch,content,expiry\nD001,B1,experimental,\n"
    kits_import(
        actor=trial.manager,
        study=study,
        content=content,
        checksum=sha256_hex(content),
        file_name="kits.csv",
    )
    shipment_create(actor=trial.manager, study=study, site=site_a, numbers=["D001"], today=today)
    assert resupply_check(on=today + timedelta(days=3)) == 1
    latest = ResupplyProposal.objects.filter(proposed_on=today + timedelta(days=3)).get()
    assert latest.site == site_a
    assert Message.objects.filter(recipient=trial.manager).count() == told + 1


def test_a_study_without_kits_is_left_alone(tmp_path: Path) -> None:
    trial = pharmacy_trial(tmp_path, mode="hospital_stock")
    assert trial.world.study.current_version is not None
    assert resupply_check() == 0
    assert not ResupplyProposal.objects.exists()
