"""The investigator prepares and signs SAE report versions through the API, with the same
e-signature as on the page: a wrong password signs nothing, another site's investigator and
pharmacovigilance may not sign, a follow-up opens only once the last version is sent."""

from __future__ import annotations

import pytest
from django.test import Client

from carnet.accounts.models import User
from carnet.accounts.services import token_create
from carnet.audit.models import AuditEvent
from carnet.messaging.models import Message
from tests.accounts.factories import PASSWORD
from tests.accounts.personas import ADMIN
from tests.safety.conftest import Safety

pytestmark = pytest.mark.django_db
MEANING = "I have reviewed this report."
BASE = "/api/studies/MINI/safety/reports/"


def _api(safety: Safety, user: User) -> Client:
    _token, key = token_create(actor=ADMIN, user=user, study=safety.world.study)
    return Client(headers={"authorization": f"Bearer {key}"})


def test_the_investigator_signs_the_initial_report_and_a_follow_up_through_the_api(
    safety: Safety,
) -> None:
    report = safety.serious_ae()
    api = _api(safety, safety.investigator)
    wrong = api.post(
        BASE + f"{report.reference}/sign",
        {"meaning": MEANING, "password": "not the password"},
        content_type="application/json",
    )
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == "The password is wrong; nothing was signed."
    assert not report.versions.filter(sent_at__isnull=False).exists()

    signed = api.post(
        BASE + f"{report.reference}/sign",
        {"meaning": MEANING, "password": PASSWORD, "narrative": "Admitted on day 12."},
        content_type="application/json",
    )
    assert signed.status_code == 200, signed.content
    body = signed.json()
    assert (body["number"], body["narrative"], body["late"]) == (1, "Admitted on day 12.", False)
    version = report.versions.get(number=1)
    assert version.signature is not None
    assert version.signature.signer == safety.investigator
    # What was signed holds the narrative.
    assert version.content["narrative"] == "Admitted on day 12."
    told = Message.objects.filter(recipient=safety.vigilance, subject__contains="version 1")
    assert told.exists()

    again = api.post(
        BASE + f"{report.reference}/sign",
        {"meaning": MEANING, "password": PASSWORD},
        content_type="application/json",
    )
    assert again.status_code == 400  # nothing left to sign

    refreshed = api.post(
        BASE + f"{report.reference}/draft",
        {"narrative": "x", "follow_up": False},
        content_type="application/json",
    )
    assert refreshed.json()["detail"] == "Every version is sent: open a follow-up."
    safety.save_ae(report.form_instance.version, ae_out=1, ae_end="2026-02-20")
    follow_up = api.post(
        BASE + f"{report.reference}/draft",
        {"narrative": "Resolved.", "follow_up": True},
        content_type="application/json",
    )
    assert follow_up.status_code == 200, follow_up.content
    assert (follow_up.json()["number"], follow_up.json()["sent_at"]) == (2, None)
    twice = api.post(
        BASE + f"{report.reference}/draft",
        {"narrative": "Resolved.", "follow_up": True},
        content_type="application/json",
    )
    assert twice.status_code == 400
    signed = api.post(
        BASE + f"{report.reference}/sign",
        {"meaning": MEANING, "password": PASSWORD},
        content_type="application/json",
    )
    assert signed.json()["number"] == 2
    assert report.versions.get(number=2).content["adverse_event"]["end"]["text"] == "2026-02-20"
    assert AuditEvent.objects.filter(action="safety.sae_version_sent").count() == 2
    assert AuditEvent.objects.filter(action="signature.refused").count() == 1


def test_only_an_investigator_of_the_subjects_site_signs(safety: Safety) -> None:
    report = safety.serious_ae()
    body = {"meaning": MEANING, "password": PASSWORD}
    for user in (safety.investigator_b, safety.vigilance, safety.nurse, safety.data_manager):
        answer = _api(safety, user).post(
            BASE + f"{report.reference}/sign", body, content_type="application/json"
        )
        assert answer.status_code in {403, 404}, (user.username, answer.status_code)
    assert not report.versions.filter(sent_at__isnull=False).exists()
