"""The database lock from the page (English and French, linked from the study page), the API
and the command line; and `carnet sign`, the investigator's signature from the command line."""

from __future__ import annotations

import html
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


# --- the study's unblinding and the archived snapshot (page, API, command line) -------------

UNBLIND_MEANING = "I authorise the unblinding of this study."


def locked_study(locking: Locking):  # type: ignore[no-untyped-def]
    from tests.database_lock.test_database_lock import locked

    return locked(locking)


def test_the_page_refuses_the_unblinding_before_the_lock_in_french_and_offers_it_after(
    locking: Locking,
) -> None:
    sponsor = browser(locking, locking.sponsor)
    assert 'id="lock-unblind"' not in sponsor.get(PAGE).content.decode()
    sponsor.post("/language/", {"language": "fr", "next": "/"})
    refused = sponsor.post(
        PAGE + "unblind/",
        {"reason": "analyse", "password": PASSWORD, "meaning": UNBLIND_MEANING},
        follow=True,
    ).content.decode()
    assert "La levée de l'aveugle de MINI n'est permise qu'une fois" in html.unescape(refused)
    sponsor.post("/language/", {"language": "en", "next": "/"})
    lock = locked_study(locking)
    page = sponsor.get(PAGE).content.decode()
    assert 'id="lock-unblind"' in page
    # The statistician, blinded and not allowed to unblind, sees no form.
    assert (
        'id="lock-unblind"' not in browser(locking, locking.statistician).get(PAGE).content.decode()
    )
    done = sponsor.post(
        PAGE + "unblind/",
        {"reason": "final analysis", "password": PASSWORD, "meaning": UNBLIND_MEANING},
        follow=True,
    ).content.decode()
    assert "The study is unblinded: its people now see the arms." in done
    assert 'id="unblinded"' in done
    assert f"after {lock.name}" in done
    assert 'id="lock-unblind"' not in done
    sponsor.post("/language/", {"language": "fr", "next": "/"})
    french = html.unescape(sponsor.get(PAGE).content.decode())
    assert "L'étude est levée d'aveugle" in french
    assert "Autorisée et signée par Sofia, après DBLOCK-1." in french


def test_the_audit_trail_page_masks_arm_revealing_values_until_the_study_is_unblinded(
    locking: Locking, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carnet.studies.definition.model import Item

    # Systolic pressure stands in for an arm-revealing item (a dose, a drug-specific lab).
    monkeypatch.setattr(Item, "arm_revealing", property(lambda item: item.name == "sbp"))
    locking.o.save(values={"sbp": 131})
    trail = "/studies/MINI/audit/?item=sbp"
    inspector = browser(locking, locking.o.inspector)
    locked_study(locking)
    before = inspector.get(trail).content.decode()
    assert "(blinded)" in before
    assert ">131<" not in before
    from carnet.database_lock.services import database_lock_unblind

    database_lock_unblind(
        actor=locking.sponsor,
        study=locking.study,
        reason="final analysis",
        password=PASSWORD,
        meaning=UNBLIND_MEANING,
    )
    after = inspector.get(trail).content.decode()
    assert ">131<" in after


def test_the_archive_downloads_with_its_hash_for_those_who_may_read_arms(
    locking: Locking,
) -> None:
    from carnet.core.hashing import sha256_hex
    from carnet.database_lock.services import database_lock_unblind

    lock = locked_study(locking)
    archive = f"{PAGE}{lock.number}/archive/"
    unblinded = browser(locking, locking.o.unblinded)
    page = unblinded.get(PAGE).content.decode()
    assert 'id="archive-download"' in page
    got = unblinded.get(archive)
    assert got.status_code == 200
    content = b"".join(got.streaming_content)
    assert sha256_hex(content) == lock.archive_sha256 == got["X-Checksum-SHA256"]
    sums = unblinded.get(f"{PAGE}{lock.number}/archive.sha256").content.decode()
    assert sums.startswith(f"{lock.archive_sha256}  {lock.archive_name}\n")
    # Blinded readers of the page see the hash, not the download (the zip holds the arms).
    for user in (locking.statistician, locking.manager, locking.sponsor):
        client = browser(locking, user)
        page = client.get(PAGE).content.decode()
        assert lock.archive_sha256 in page
        assert 'id="archive-download"' not in page
        assert client.get(archive).status_code == 404
    database_lock_unblind(
        actor=locking.sponsor,
        study=locking.study,
        reason="final analysis",
        password=PASSWORD,
        meaning=UNBLIND_MEANING,
    )
    # Once the study is unblinded, who exports the study's data downloads it; the sponsor, who
    # exports nothing, still does not.
    assert browser(locking, locking.statistician).get(archive).status_code == 200
    assert browser(locking, locking.sponsor).get(archive).status_code == 404


def test_the_api_unblinds_after_the_lock_and_serves_the_archive(locking: Locking) -> None:
    def api(user):  # type: ignore[no-untyped-def]
        _token, key = token_create(actor=ADMIN, user=user, study=locking.study)
        return Client(headers={"authorization": f"Bearer {key}"})

    sponsor = api(locking.sponsor)
    body = {"reason": "final analysis", "password": PASSWORD, "meaning": UNBLIND_MEANING}
    refused = sponsor.post(API + "/unblinding", body, content_type="application/json")
    assert refused.status_code == 400, refused.content
    assert "MINI may be unblinded only once its database is locked." in refused.json()["detail"]
    assert sponsor.get(API + "/unblinding").json()["unblinded"] is False
    lock = locked_study(locking)
    statistician = api(locking.statistician)
    assert statistician.get(f"{API}/{lock.number}/archive").status_code == 403
    answer = sponsor.post(API + "/unblinding", body, content_type="application/json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["unblinded"] is True
    assert answer.json()["basis"] == "DBLOCK-1"
    assert statistician.get(API + "/unblinding").json()["unblinded_by"] == "Sofia"
    got = statistician.get(f"{API}/{lock.number}/archive")
    assert got.status_code == 200
    assert got["X-Checksum-SHA256"] == lock.archive_sha256


def test_the_command_line_unblinds_after_the_lock_and_copies_the_archive(
    locking: Locking, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from carnet.core.hashing import sha256_of_file

    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    with pytest.raises(CommandError, match="only once its database is locked"):
        call_command(
            *("dblock", "unblind", "MINI", "--signer", "sofia", "--password-stdin"),
            *("--reason", "final analysis"),
        )
    lock = locked_study(locking)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    call_command(
        *("dblock", "unblind", "MINI", "--signer", "sofia", "--password-stdin"),
        *("--reason", "final analysis"),
        stdout=out,
    )
    assert out.getvalue() == "MINI is unblinded (after DBLOCK-1).\n"
    target = tmp_path / "snapshot.zip"
    call_command("dblock", "archive", "MINI", "--output", str(target), stdout=out)
    assert sha256_of_file(target) == lock.archive_sha256
    assert f"DBLOCK-1: {target} SHA-256 {lock.archive_sha256} (checked)." in out.getvalue()
