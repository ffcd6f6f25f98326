"""The database lock from the page (English and French, linked from the study page), the API
and the command line; and `carnet sign`, the investigator's signature from the command line."""

from __future__ import annotations

import io
import sys
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.services import token_create
from carnet.core.clock import utc_now
from carnet.database_lock.models import DatabaseLock, LockStatus
from carnet.oversight.models import DataSignature
from tests.accounts.personas import ADMIN, with_second_factor
from tests.database_lock.conftest import LOCK_MEANING, Locking
from tests.oversight.conftest import PASSWORD
from tests.web.helpers import current_code

pytestmark = pytest.mark.django_db

PAGE = "/studies/MINI/database-lock/"
API = "/api/studies/MINI/database-lock"
CASEBOOK_MEANING = "I confirm the data of this casebook are accurate and complete."


def browser(locking: Locking, user) -> Client:  # type: ignore[no-untyped-def]
    """Return a browser signed in as the person, with the second factor their role needs."""
    if user == locking.manager and not TOTPDevice.objects.filter(user=user).exists():
        with_second_factor(user)
    return locking.o.client(user)


def code(user) -> str:  # type: ignore[no-untyped-def]
    return current_code(TOTPDevice.objects.get(user=user))


def test_the_study_page_links_the_database_lock_and_the_page_reads_in_french(
    locking: Locking,
) -> None:
    locking.o.save(values={"weight": 70})
    client = browser(locking, locking.manager)
    study_page = client.get("/studies/MINI/").content.decode()
    assert 'id="database-lock-link"' in study_page
    page = client.get(PAGE).content.decode()
    assert "Casebooks not signed by the investigator" in page
    assert "waive-form" in page
    client.post("/language/", {"language": "fr", "next": "/"})
    french = client.get(PAGE).content.decode()
    assert "Gel de la base de MINI" in french
    assert "Cahiers non signés par l&#x27;investigateur" in french


def test_the_data_manager_waives_and_signs_from_the_page_and_a_refusal_is_shown(
    locking: Locking,
) -> None:
    locking.o.save(values={"weight": 70})
    client = browser(locking, locking.manager)
    refused = client.post(
        PAGE + "sign/",
        {"password": PASSWORD, "meaning": LOCK_MEANING, "totp_code": code(locking.manager)},
        follow=True,
    )
    assert "The checklist is not clear:" in refused.content.decode()
    assert "Casebooks not signed by the investigator (1)" in refused.content.decode()
    client.post(PAGE + "waive/", {"item": "casebooks_unsigned", "reason": "paper signature"})
    locking.waive_sdv()
    signed = client.post(
        PAGE + "sign/",
        {"password": PASSWORD, "meaning": LOCK_MEANING, "totp_code": code(locking.manager)},
        follow=True,
    ).content.decode()
    assert "Your signature is recorded." in signed
    assert "waived by Dmitri" in signed
    assert DatabaseLock.objects.get().status == LockStatus.SIGNING
    # The statistician sees the form to sign next; the sponsor does not yet.
    assert 'id="lock-sign"' in browser(locking, locking.statistician).get(PAGE).content.decode()
    assert 'id="lock-sign"' not in browser(locking, locking.sponsor).get(PAGE).content.decode()


def test_the_api_runs_the_lock_to_the_end_and_the_unlock(locking: Locking) -> None:
    locking.o.save(values={"weight": 70})

    def api(user):  # type: ignore[no-untyped-def]
        _token, key = token_create(actor=ADMIN, user=user, study=locking.study)
        return Client(headers={"authorization": f"Bearer {key}"})

    with_second_factor(locking.manager)  # a data manager's token needs it
    manager = api(locking.manager)
    checklist = {row["item"]: row for row in manager.get(API + "/checklist").json()}
    assert checklist["casebooks_unsigned"]["count"] == 1
    assert not checklist["casebooks_unsigned"]["clear"]
    waived = manager.post(
        API + "/waivers",
        {"item": "casebooks_unsigned", "reason": "paper"},
        content_type="application/json",
    )
    assert waived.status_code == 201, waived.content
    assert waived.json()["waived"]
    locking.waive_sdv()
    body = {"password": PASSWORD, "meaning": LOCK_MEANING}
    for signer in locking.signers():
        signed = {**body, "totp_code": code(signer) if signer == locking.manager else ""}
        answer = api(signer).post(API + "/signatures", signed, content_type="application/json")
        assert answer.status_code == 201, answer.content
    lock = answer.json()
    assert lock["status"] == "locked"
    assert [s["step"] for s in lock["signatures"]] == [
        "data_manager",
        "statistician",
        "coordinating_investigator",
        "sponsor",
    ]
    assert len(lock["archive_sha256"]) == 64
    with time_machine.travel(utc_now() + timedelta(seconds=60), tick=False):
        unlocked = manager.post(
            API + "/unlock",
            {**body, "reason": "late serious event", "totp_code": code(locking.manager)},
            content_type="application/json",
        )
    assert unlocked.status_code == 200, unlocked.content
    assert unlocked.json()["unlock_reason"] == "late serious event"
    assert api(locking.sponsor).get(API).json()[0]["status"] == "unlocked"


def test_the_command_line_prints_the_checklist_waives_and_signs(
    locking: Locking, monkeypatch: pytest.MonkeyPatch
) -> None:
    locking.o.save(values={"weight": 70})
    out = io.StringIO()
    call_command("dblock", "checklist", "MINI", stdout=out)
    line = next(x for x in out.getvalue().splitlines() if x.startswith("casebooks_unsigned"))
    assert line.split()[1:3] == ["1", "OPEN"]
    call_command("dblock", "waive", "MINI", "casebooks_unsigned", "--reason", "paper", stdout=out)
    locking.waive_sdv()
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    with pytest.raises(CommandError, match="the data manager's"):
        call_command("dblock", "sign", "MINI", "--signer", "sofia", "--password-stdin", stdout=out)
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    call_command("dblock", "sign", "MINI", "--signer", "dmitri", "--password-stdin", stdout=out)
    assert "DBLOCK-1 of MINI: signing." in out.getvalue()
    listing = io.StringIO()
    call_command("dblock", "list", "MINI", stdout=listing)
    assert "  data_manager               Dmitri\n  statistician               -\n" in (
        listing.getvalue()
    )


def test_carnet_sign_signs_a_form_a_visit_or_the_casebook(
    locking: Locking, monkeypatch: pytest.MonkeyPatch
) -> None:
    locking.o.save(values={"weight": 70})
    for extra in (["--visit", "baseline", "--form", "vitals"], ["--visit", "baseline"], []):
        monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
        out = io.StringIO()
        call_command(
            *("sign", "MINI", "01-001", *extra, "--meaning", CASEBOOK_MEANING),
            *("--signer", "irene", "--password-stdin"),
            stdout=out,
        )
        assert out.getvalue().startswith("Signed 01-001")
    assert sorted(DataSignature.objects.values_list("scope", flat=True)) == [
        "form",
        "subject",
        "visit",
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    with pytest.raises(CommandError, match="You may not do this here"):
        call_command(
            *("sign", "MINI", "01-001", "--meaning", CASEBOOK_MEANING),
            *("--signer", "ivan", "--password-stdin"),
        )
    with pytest.raises(CommandError, match="Give --visit with --form"):
        call_command(
            "sign", "MINI", "01-001", "--form", "vitals", "--meaning", "x", "--signer", "irene"
        )
