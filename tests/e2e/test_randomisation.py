"""Issue 17's "Done when" in Chromium, for kits and unblinding: a nurse (site data entry)
randomises an eligible patient of a blinded study with a kit list, sees the kit number and the
cycle scheduled from randomisation, never the arm; the unblinded statistician reads the arm; an
investigator unblinds the patient in an emergency with a reason and a signature, and the sponsor
contact's message is in the outbox.

The study is MINI amended as tests/randomization/conftest.py does (minimisation on site and
smoker, a treatment visit seven days after randomisation), in production, double-blind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carnet.accounts.roles import Role
from carnet.messaging.models import Message
from carnet.randomization.kits import kits_import
from carnet.randomization.models import Allocation
from tests.accounts.factories import ADMIN, PASSWORD
from tests.accounts.personas import person, with_second_factor
from tests.randomization.conftest import MINIMISATION, trial_with
from tests.randomization.test_api_and_page import api_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def sign_in(page: Any, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def test_a_nurse_randomises_sees_the_kit_never_the_arm_and_an_investigator_unblinds(
    page: Any, tmp_path: Path
) -> None:
    trial = trial_with(MINIMISATION, tmp_path)
    study = trial.world.study
    sponsor = person("sam", study=study, role=Role.SPONSOR)
    kits_import(
        actor=ADMIN,
        study=study,
        content=b"site,number,arm\n01,417201,experimental\n01,417202,placebo\n",
    )
    trial.include(smoker=1)

    sign_in(page, "julie")
    page.goto("/studies/MINI/subjects/01-001/randomisation/")
    page.get_by_role("button", name="Confirm and randomise").click()
    page.wait_for_selector("#allocation-kit")
    allocation = Allocation.objects.get()
    assert page.locator("#allocation-kit").inner_text() == allocation.kit_number
    assert page.locator("#allocation-arm").inner_text() == "(blinded)"
    assert allocation.arm not in page.content()
    page.goto("/studies/MINI/subjects/01-001/")
    assert "Treatment" in page.locator("main").inner_text()  # scheduled from randomisation
    assert allocation.arm not in page.content()

    statistician = api_client(trial, with_second_factor(trial.unblinded))
    answer = statistician.get("/api/studies/MINI/subjects/01-001/randomisation").json()
    assert answer["arm"] == allocation.arm

    page.context.clear_cookies()
    sign_in(page, "irene")
    page.goto("/studies/MINI/subjects/01-001/randomisation/")
    page.locator("#unblinding-link").click()
    page.get_by_label("Reason").fill("anaphylactic reaction in the emergency room")
    page.get_by_label("Your password (e-signature)").fill(PASSWORD)
    page.get_by_label("I confirm the emergency unblinding of this subject.").check()
    page.get_by_role("button", name="Sign and unblind").click()
    page.wait_for_selector("#allocation-unblinded")
    assert page.locator("#allocation-arm").inner_text() == allocation.arm
    [message] = Message.objects.filter(recipient=sponsor)
    assert "emergency unblinding of 01-001" in message.subject
    assert "anaphylactic reaction" in message.body
