"""Freezing and locking a study are deliberate acts: a reason and the e-signature of a person who
manages the study, on the page, the API and the command line alike, each one audited."""

from __future__ import annotations

import html as entities
import io
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import Signature, User
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.accounts.signatures import (
    MODE_CHANGE_MEANING,
    signature_verify,
    study_mode_change_signed,
)
from carnet.audit.models import AuditEvent
from carnet.audit.verification import audit_verify
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.studies.models import Study
from carnet.studies.services import study_mode_change
from tests.accounts.personas import ADMIN, World, person, with_second_factor, world
from tests.web.helpers import PASSWORD, current_code, enrol, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def running() -> World:
    """Return MINI in production, with a data manager (Dora) and a site data entry (Julie)."""
    w = world()
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    person("dora", study=w.study, role=Role.DATA_MANAGER, sites=[None])
    person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    return w


def mode() -> str:
    return Study.objects.get(identifier="MINI").mode


def dora() -> User:
    return User.objects.get(username="dora")


def test_a_study_is_frozen_only_with_a_reason_and_a_signature(running: World) -> None:
    with pytest.raises(ValidationError, match="Going from production to frozen needs a reason"):
        study_mode_change_signed(
            actor=dora(), study=running.study, mode="frozen", reason=" ", password=PASSWORD
        )
    with pytest.raises(ValidationError, match=r"The password is wrong; nothing was signed\."):
        study_mode_change_signed(
            actor=dora(), study=running.study, mode="frozen", reason="cleaning", password="x"
        )
    assert mode() == "production"
    assert not Signature.objects.exists()
    assert AuditEvent.objects.filter(action="signature.refused").count() == 1

    study = study_mode_change_signed(
        actor=dora(),
        study=running.study,
        mode="frozen",
        reason="database cleaning before the interim analysis",
        password=PASSWORD,
    )
    assert study.mode == mode() == "frozen"
    signature = Signature.objects.get()
    assert (signature.signer, signature.meaning) == (dora(), MODE_CHANGE_MEANING)
    assert signature_verify(
        signature,
        record_type="study.mode",
        record_id="MINI",
        content={
            "study": "MINI",
            "from": "production",
            "to": "frozen",
            "reason": "database cleaning before the interim analysis",
        },
    )
    event = AuditEvent.objects.get(action="study.mode_changed", actor_label__contains="dora")
    assert event.new == {
        "mode": "frozen",
        "signature": {
            "signer": "Dora",
            "meaning": MODE_CHANGE_MEANING,
            "binding_hash": signature.binding_hash,
        },
    }
    assert event.reason == "database cleaning before the interim analysis"
    assert audit_verify(chain="study:MINI").intact


def test_only_who_manages_the_study_may_sign_its_freeze(running: World) -> None:
    julie = User.objects.get(username="julie")
    with pytest.raises(PermissionDenied):
        study_mode_change_signed(
            actor=julie, study=running.study, mode="frozen", reason="why not", password=PASSWORD
        )
    assert mode() == "production"
    assert not Signature.objects.exists()


def test_the_system_cannot_freeze_or_lock_without_a_reason_either(running: World) -> None:
    with pytest.raises(ValidationError, match="needs a reason"):
        study_mode_change(actor=ADMIN, study=running.study, mode="frozen")
    study_mode_change(actor=ADMIN, study=running.study, mode="frozen", reason="cleaning")
    with pytest.raises(ValidationError, match="needs a reason"):
        study_mode_change(actor=ADMIN, study=Study.objects.get(), mode="locked")
    assert mode() == "frozen"


def signed_in_data_manager() -> tuple[Client, Any]:
    client = Client()
    assert sign_in(client, "dora") == 302
    device, _codes = enrol(client)  # data managers use a second factor
    return client, device


def post_mode(client: Client, device: Any, later: int = 90, **changes: str) -> str:
    """Post the study page's mode form with a fresh authenticator code; return the next page."""
    with time_machine.travel(utc_now().timestamp() + later, tick=False):
        page = {
            "mode": "frozen",
            "reason": "database cleaning",
            "password": PASSWORD,
            "totp_code": current_code(device),
            "meaning": MODE_CHANGE_MEANING,
        }
        page.update(changes)
        response = client.post("/studies/MINI/mode/", page, follow=True)
    assert response.status_code == 200
    return entities.unescape(response.content.decode())


def test_the_study_page_asks_for_a_reason_and_a_signature_before_freezing(
    running: World,
) -> None:
    client, device = signed_in_data_manager()
    page = client.get("/studies/MINI/").content.decode()
    assert 'id="mode-password"' in page
    assert 'id="mode-reason"' in page
    assert 'id="mode-totp"' in page  # enrolled: the code too
    assert "required" in page.split('id="mode-reason"')[1].split(">")[0]
    html = post_mode(client, device, reason="")
    assert "Going from production to frozen needs a reason." in html
    html = post_mode(client, device, password="not mine")
    assert "The password is wrong; nothing was signed." in html
    html = post_mode(client, device, totp_code="000000")
    assert "The authenticator code is wrong or expired; nothing was signed." in html
    assert mode() == "production"
    # A wrong code holds the authenticator back for a while (django-otp's throttling): later.
    html = post_mode(client, device, later=200)
    assert "The study is now in frozen mode." in html
    assert mode() == "frozen"
    assert Signature.objects.get().signer == dora()


def test_the_study_page_refuses_a_freeze_without_reason_in_french(running: World) -> None:
    client, device = signed_in_data_manager()
    client.post("/language/", {"language": "fr", "next": "/"})
    page = client.get("/studies/MINI/").content.decode()
    assert "Votre mot de passe (signature électronique)" in page
    html = post_mode(client, device, reason="")
    assert "Passer de production à frozen demande une raison." in html
    html = post_mode(client, device, password="")
    assert "Le mot de passe est faux ; rien n'a été signé." in html
    assert mode() == "production"


def api_client(w: World, user: User, language: str = "") -> Client:
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        with_second_factor(user)  # a data manager's token works once a second factor is enrolled
    _token, key = token_create(actor=ADMIN, user=user, study=w.study)
    headers = {"authorization": f"Bearer {key}"}
    if language:
        headers["accept-language"] = language
    return Client(headers=headers)


def test_the_api_freezes_only_with_a_reason_and_a_signature(running: World) -> None:
    api = api_client(running, dora())
    url = "/api/studies/MINI/mode"
    no_signature = api.post(
        url, {"mode": "frozen", "reason": "cleaning"}, content_type="application/json"
    )
    assert no_signature.status_code == 422  # the password is part of the request
    no_reason = api.post(
        url, {"mode": "frozen", "reason": "", "password": PASSWORD}, content_type="application/json"
    )
    assert no_reason.status_code == 400
    assert no_reason.json()["detail"] == "Going from production to frozen needs a reason."
    wrong = api.post(
        url,
        {"mode": "frozen", "reason": "cleaning", "password": "nope"},
        content_type="application/json",
    )
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == "The password is wrong; nothing was signed."
    french = api_client(running, dora(), language="fr").post(
        url, {"mode": "frozen", "reason": "", "password": PASSWORD}, content_type="application/json"
    )
    assert french.json()["detail"] == "Passer de production à frozen demande une raison."
    assert mode() == "production"
    device = TOTPDevice.objects.get(user=dora(), confirmed=True)
    done = api.post(
        url,
        {
            "mode": "frozen",
            "reason": "cleaning",
            "password": PASSWORD,
            "totp_code": current_code(device),
        },
        content_type="application/json",
    )
    assert done.status_code == 200, done.content
    assert done.json()["mode"] == "frozen"
    assert done.json()["signed_by"] == "Dora"
    assert mode() == "frozen"
    julie = api_client(running, User.objects.get(username="julie")).post(
        url,
        {"mode": "locked", "reason": "end", "password": PASSWORD},
        content_type="application/json",
    )
    assert julie.status_code == 403
    assert mode() == "frozen"


def run_mode(*arguments: str, password: str = PASSWORD) -> str:
    out = io.StringIO()
    stdin = io.StringIO(password + "\n")
    import sys

    real = sys.stdin
    sys.stdin = stdin
    try:
        call_command("study", "mode", *arguments, stdout=out)
    finally:
        sys.stdin = real
    return out.getvalue()


def test_the_command_line_freezes_only_with_a_reason_and_a_signature(running: World) -> None:
    with pytest.raises(CommandError, match="the following arguments are required: --signer"):
        run_mode("MINI", "frozen", "--reason", "cleaning")
    with pytest.raises(CommandError, match="needs a reason"):
        run_mode("MINI", "frozen", "--signer", "dora", "--password-stdin")
    with pytest.raises(CommandError, match="The password is wrong"):
        run_mode(
            "MINI",
            "frozen",
            "--reason",
            "cleaning",
            "--signer",
            "dora",
            "--password-stdin",
            password="wrong",
        )
    with pytest.raises(CommandError, match="You may not do this here"):
        run_mode("MINI", "frozen", "--reason", "cleaning", "--signer", "julie", "--password-stdin")
    assert mode() == "production"
    out = run_mode("MINI", "frozen", "--reason", "cleaning", "--signer", "dora", "--password-stdin")
    assert out == "MINI is now in frozen mode, signed by Dora.\n"
    assert mode() == "frozen"
    assert Signature.objects.get().signer == dora()
