"""The randomisation report: arms and listing for unblinded roles only; counts from the database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
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


def _without_weasyprint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Act as a server without Pango: importing WeasyPrint fails, as it does there."""
    monkeypatch.setitem(sys.modules, "weasyprint", None)


def test_without_pango_the_pdf_link_answers_with_the_page_and_what_to_install(
    minimisation_trial: Trial, monkeypatch: pytest.MonkeyPatch
) -> None:
    randomise_some(minimisation_trial, count=1)
    _without_weasyprint(monkeypatch)
    nurse = Client()
    nurse.force_login(minimisation_trial.nurse)
    answer = nurse.get(reverse("randomization:report_pdf", args=["MINI"]))
    page = answer.content.decode()
    assert answer.status_code == 503
    assert 'id="report-pdf-error"' in page
    assert "libpango-1.0-0" in page
    assert 'id="report-blinded"' in page  # the same report, as a page
    minimisation_trial.nurse.language = "fr"
    minimisation_trial.nurse.save(update_fields=["language"])
    page = nurse.get(reverse("randomization:report_pdf", args=["MINI"])).content.decode()
    assert "Ce serveur ne peut pas produire de PDF" in page


def test_without_pango_the_command_writes_the_html_and_says_what_to_install(
    minimisation_trial: Trial, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    randomise_some(minimisation_trial, count=1)
    _without_weasyprint(monkeypatch)
    output = tmp_path / "report.pdf"
    with pytest.raises(CommandError, match=r"libpango-1\.0-0") as refused:
        call_command("randomization", "report", "MINI", "--output", str(output))
    assert str(tmp_path / "report.html") in str(refused.value)
    assert not output.exists()
    assert "<html" in (tmp_path / "report.html").read_text(encoding="utf-8")
