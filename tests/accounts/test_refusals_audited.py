"""A refusal of a sign-in step leaves its audit event, though nothing else it began is kept.

The event of a refused password change or a refused first enrolment code used to be written in
the transaction that the refusal then rolled back: the attempt left no trace.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.audit.models import AuditEvent
from tests.accounts.personas import person
from tests.web.helpers import PASSWORD, current_code, sign_in

pytestmark = pytest.mark.django_db


def test_a_refused_password_change_is_audited_and_changes_nothing(client: Client) -> None:
    alice = person("alice")
    assert sign_in(client, "alice") == 302
    answer = client.post(
        "/account/password/",
        {
            "current": "not my password",
            "new": "a new long password",
            "again": "a new long password",
        },
    )
    assert answer.status_code == 400
    assert "The current password is wrong." in answer.content.decode()
    refused = AuditEvent.objects.filter(action="password.change_refused")
    assert [(event.actor_id, event.target_id) for event in refused] == [(alice.pk, str(alice.pk))]
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="user.password_changed").exists()


def test_a_refused_first_enrolment_code_is_audited_and_enrols_nothing(client: Client) -> None:
    bruno = person("bruno")
    assert sign_in(client, "bruno") == 302
    assert client.get("/account/two-factor/").status_code == 200
    device = TOTPDevice.objects.get(user=bruno, confirmed=False)
    wrong = f"{(int(current_code(device)) + 500_000) % 1_000_000:06d}"
    answer = client.post("/account/two-factor/", {"device": device.pk, "code": wrong})
    assert answer.status_code == 400
    assert "The code is wrong or expired" in answer.content.decode()
    refused = AuditEvent.objects.filter(action="two_factor.enrolment_refused")
    assert [(event.actor_id, event.target_id) for event in refused] == [(bruno.pk, str(bruno.pk))]
    assert not TOTPDevice.objects.filter(user=bruno, confirmed=True).exists()
    assert not AuditEvent.objects.filter(action="two_factor.enrolled").exists()
