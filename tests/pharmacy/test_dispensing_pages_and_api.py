"""The pharmacist's pages and the API: kit numbers everywhere, never a kit's content to a
blinded reader (pharmacist, blinded statistician); the unblinded statistician sees it. The
resupply proposal goes to the project manager and names no arm."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User
from carnet.accounts.services import token_create
from carnet.core.clock import utc_today
from carnet.messaging.models import Message
from carnet.pharmacy.models import Kit, KitStatus, ResupplyProposal
from carnet.pharmacy.resupply import resupply_propose
from tests.accounts.personas import ADMIN, with_second_factor
from tests.pharmacy.dispensing_world import PharmacyTrial, pharmacy_trial

pytestmark = pytest.mark.django_db


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user).first()
    if device is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def _api(trial: PharmacyTrial, user: User) -> Client:
    _token, key = token_create(actor=ADMIN, user=user, study=trial.world.study)
    return Client(headers={"authorization": f"Bearer {key}"})


def _trial(tmp_path: Path) -> tuple[PharmacyTrial, Kit]:
    trial = pharmacy_trial(tmp_path)
    trial.stock("experimental", count=2)
    trial.stock("placebo", count=2)
    subject = trial.randomised()
    return trial, Kit.objects.get(subject=subject)


def test_the_pharmacist_dispenses_on_the_page_without_seeing_the_arm(tmp_path: Path) -> None:
    trial, kit = _trial(tmp_path)
    browser = _browser(trial.pharmacist)
    url = reverse("pharmacy:dispensing", args=["MINI"])
    page = browser.get(url).content.decode()
    assert kit.number in page
    assert "experimental" not in page
    assert "placebo" not in page
    answer = browser.post(
        url,
        {
            "action": "dispense",
            "site": "01",
            "kit": kit.number,
            "on": utc_today().isoformat(),
            "dispensed_to": "patient",
        },
    )
    assert answer.status_code == 200
    assert f"Kit {kit.number} dispensed." in answer.content.decode()
    kit.refresh_from_db()
    assert kit.status == KitStatus.DISPENSED
    page = browser.get(reverse("pharmacy:accountability", args=["MINI"])).content.decode()
    assert kit.number in page
    assert "experimental" not in page
    assert "placebo" not in page
    # The pharmacist of site B sees no kit of site A and may not dispense there.
    other = _browser(trial.pharmacist_b)
    assert kit.number not in other.get(url).content.decode()
    refused = other.post(
        url,
        {"action": "return", "site": "01", "kit": kit.number, "on": utc_today().isoformat()},
    )
    assert refused.status_code == 400
    assert "You may not do this here (dispense)." in refused.content.decode()


def test_blinded_readers_never_get_a_content_from_the_api(tmp_path: Path) -> None:
    trial, kit = _trial(tmp_path)
    path = "/api/studies/MINI/pharmacy/accountability"
    for blinded in (trial.pharmacist, trial.data_manager, trial.manager):
        body = _api(trial, with_second_factor(blinded)).get(path)
        assert body.status_code == 200, blinded
        assert "experimental" not in body.content.decode()
        assert "placebo" not in body.content.decode()
    unblinded = _api(trial, with_second_factor(trial.unblinded)).get(path)
    # Not a reader of the pharmacy: the unblinded statistician reads the allocation elsewhere.
    assert unblinded.status_code == 403
    awaiting = _api(trial, trial.pharmacist).get("/api/studies/MINI/pharmacy/dispensing").json()
    assert awaiting == [
        {
            "site": "01",
            "subject": kit.subject.identifier,
            "event": "treatment",
            "occurrence": 1,
            "kit": kit.number,
            "expiry": kit.expiry.isoformat(),
        }
    ]
    dispensed = _api(trial, trial.pharmacist).post(
        "/api/studies/MINI/pharmacy/dispensings",
        {"site": "02", "kit": kit.number, "on": utc_today().isoformat(), "dispensed_to": "x"},
        content_type="application/json",
    )
    assert dispensed.status_code == 403  # the pharmacist of A does not dispense at B


def test_a_resupply_proposal_asks_the_same_for_every_content_once_a_day(tmp_path: Path) -> None:
    trial, _kit = _trial(tmp_path)
    # Site A holds 3 usable kits: one of the subject's arm (the other went to the treatment
    # visit), two of the other content. The subject's arm is one under the minimum of 2, and
    # cycles 1 and 2 (days 14 and 28, within the 4 weeks) need two more: 3 of every content.
    proposals = resupply_propose(
        actor=trial.pharmacist, study=trial.world.study, sites=[trial.world.site_a]
    )
    assert len(proposals) == 1
    proposal = proposals[0]
    assert (proposal.contents, proposal.usable, proposal.predicted_visits) == (2, 3, 2)
    assert proposal.kits_per_content == 3
    message = Message.objects.get(recipient=trial.manager)
    assert "3 kits of each of the 2 kit contents" in message.body
    assert "experimental" not in message.body + message.subject
    assert "placebo" not in message.body + message.subject
    again = resupply_propose(
        actor=trial.pharmacist, study=trial.world.study, sites=[trial.world.site_a]
    )
    assert again == []
    assert ResupplyProposal.objects.count() == 1
    page = _browser(trial.pharmacist).get(reverse("pharmacy:resupply", args=["MINI"]))
    assert "3 kits of each of the 2 contents" in page.content.decode()


def test_the_accountability_log_prints(tmp_path: Path) -> None:
    trial, _kit = _trial(tmp_path)
    answer = _browser(trial.pharmacist).get(reverse("pharmacy:accountability_pdf", args=["MINI"]))
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
