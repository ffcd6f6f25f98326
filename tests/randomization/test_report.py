"""The randomisation report: arms and listing for unblinded roles only; counts from the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.blinding import Blinding
from carnet.randomization.models import Allocation
from carnet.randomization.report import randomisation_report
from carnet.randomization.services import list_generate
from tests.accounts.factories import ADMIN
from tests.accounts.personas import with_second_factor
from tests.randomization.conftest import Trial
from tests.randomization.test_verification import randomise_some

pytestmark = pytest.mark.django_db


def test_the_unblinded_report_balances_by_arm_site_and_stratum(blocks_trial: Trial) -> None:
    study = blocks_trial.world.study
    list_generate(actor=ADMIN, study=study, per_stratum=8, seed=3)
    randomise_some(blocks_trial, count=9)
    report = randomisation_report(study=study, blinding=Blinding(unblinded=True))
    arms = dict.fromkeys(["experimental", "placebo"], 0)
    for allocation in Allocation.objects.filter(study=study):
        arms[allocation.arm] += 1
    assert report.overall.total == 9
    assert report.overall.by_arm == arms
    assert sum(row.total for row in report.by_site) == 9
    assert {row.key for row in report.by_site} == {"01", "02"}
    assert sum(sum(row.by_arm.values()) for row in report.by_stratum) == 9
    assert len(report.allocations) == 9
    assert report.lists[0].used == 9
    assert len(report.lists[0].entries_sha256) == 64


def test_the_blinded_report_has_counts_and_no_arm(minimisation_trial: Trial) -> None:
    randomise_some(minimisation_trial, count=4)
    study = minimisation_trial.world.study
    report = randomisation_report(study=study, blinding=Blinding(unblinded=False))
    assert report.overall.total == 4
    assert report.overall.by_arm == {}
    assert report.arms == []
    assert report.allocations == []
    assert all(row.by_arm == {} for row in report.by_site)


def test_the_page_shows_arms_to_the_unblinded_statistician_only(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    randomise_some(trial, count=3)
    arms = set(Allocation.objects.values_list("arm", flat=True))
    url = reverse("randomization:report", args=["MINI"])
    nurse = Client()
    nurse.force_login(trial.nurse)
    page = nurse.get(url).content.decode()
    assert 'id="report-blinded"' in page
    assert not any(arm in page for arm in ["experimental", "placebo"])
    statistician = Client()
    statistician.force_login(with_second_factor(trial.unblinded))
    session = statistician.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=trial.unblinded).persistent_id
    session.save()
    answer = statistician.get(url)
    assert answer.status_code == 200
    page = answer.content.decode()
    assert 'id="report-allocations"' in page
    assert all(arm in page for arm in arms)
    pdf = statistician.get(reverse("randomization:report_pdf", args=["MINI"]))
    assert pdf["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_the_command_writes_the_pdf(minimisation_trial: Trial, tmp_path: Path) -> None:
    randomise_some(minimisation_trial, count=2)
    output = tmp_path / "report.pdf"
    call_command("randomization", "report", "MINI", "--output", str(output), stdout=None)
    assert output.read_bytes().startswith(b"%PDF")
