"""The randomisation endpoint and page: the arm only through the blinding policy."""

from __future__ import annotations

import pytest
from django.test import Client

from carnet.accounts.models import User
from carnet.accounts.services import token_create
from carnet.randomization.models import Allocation
from tests.accounts.factories import ADMIN
from tests.accounts.personas import with_second_factor
from tests.randomization.conftest import Trial

pytestmark = pytest.mark.django_db

API = "/api/studies/MINI/subjects/01-001/randomisation"
PAGE = "/studies/MINI/subjects/01-001/randomisation/"


def api_client(trial: Trial, user: User) -> Client:
    _, key = token_create(actor=ADMIN, user=user, study=trial.world.study)
    return Client(headers={"authorization": f"Bearer {key}"})


def test_a_nurse_randomises_through_the_api_and_never_reads_the_arm(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    trial.include(smoker=1)
    nurse = api_client(trial, trial.nurse)
    before = nurse.get(API).json()
    assert before["factors"] == {"site": "01", "smoker": "1"}
    assert (before["randomised"], before["refusal"], before["arm"]) == (False, "", "")
    answer = nurse.post(
        API, {"confirm_factors": before["factors"]}, content_type="application/json"
    )
    assert answer.status_code == 201
    body = answer.json()
    assert (body["randomised"], body["number"], body["arm"]) == (True, 1, "(blinded)")
    arm = Allocation.objects.get().arm
    again = nurse.post(API, {}, content_type="application/json")
    assert again.status_code == 409
    assert "already randomised" in again.json()["detail"]
    assert arm not in again.content.decode()
    assert arm not in nurse.get(API).content.decode()
    statistician = api_client(trial, with_second_factor(trial.unblinded))
    assert statistician.get(API).json()["arm"] == arm


def test_a_refusal_through_the_api_says_why_and_allocates_nothing(
    minimisation_trial: Trial,
) -> None:
    minimisation_trial.include(smoker=None)
    answer = api_client(minimisation_trial, minimisation_trial.nurse).post(
        API, {}, content_type="application/json"
    )
    assert answer.status_code == 400
    assert answer.json()["detail"] == (
        "randomisation: enter smoker in the casebook first: the randomisation reads it from there."
    )
    assert not Allocation.objects.exists()


def test_another_site_gets_nothing(minimisation_trial: Trial) -> None:
    minimisation_trial.include()
    other = api_client(minimisation_trial, minimisation_trial.other_site)
    assert other.post(API, {}, content_type="application/json").status_code in {403, 404}
    assert not Allocation.objects.exists()


def test_the_page_shows_the_levels_to_confirm_then_the_result_without_the_arm(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    trial.include(smoker=0)
    page = Client()
    page.force_login(trial.nurse)
    shown = page.get(PAGE)
    assert shown.status_code == 200
    html = shown.content.decode()
    assert 'name="factor-smoker" value="0"' in html
    assert "Confirm and randomise" in html
    subject_page = page.get("/studies/MINI/subjects/01-001/").content.decode()
    assert PAGE in subject_page  # the subject page links to the step
    done = page.post(PAGE, {"factor-site": "01", "factor-smoker": "0"})
    assert done.status_code == 302
    result = page.get(PAGE).content.decode()
    arm = Allocation.objects.get().arm
    assert 'id="allocation-number">1<' in result
    assert "(blinded)" in result
    assert arm not in result
    assert arm not in page.get("/studies/MINI/subjects/01-001/").content.decode()


def test_a_changed_level_refuses_on_the_page(minimisation_trial: Trial) -> None:
    minimisation_trial.include(smoker=0)
    page = Client()
    page.force_login(minimisation_trial.nurse)
    answer = page.post(PAGE, {"factor-site": "01", "factor-smoker": "1"})
    assert answer.status_code == 400
    assert "the factor values changed since they were shown" in answer.content.decode()
    assert not Allocation.objects.exists()
