"""The outage procedure (issue 17 item 6): each site's sealed envelopes, paper allocations
recorded afterwards, and their reconciliation; the arm only inside the envelopes' PDF."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.audit.verification import audit_verify
from carnet.core.errors import ValidationError
from carnet.messaging.models import Message
from carnet.randomization.kits import kits_import
from carnet.randomization.models import Allocation, Envelope, Kit, ListEntry
from carnet.randomization.outage import (
    backup_list_generate,
    envelope_opened_report,
    subject_randomise_on_paper,
)
from carnet.randomization.reconciliation import envelopes_pdf, paper_reconciliation
from carnet.randomization.selectors import RandomisationRefused
from carnet.randomization.services import list_generate, subject_randomise
from carnet.randomization.verification import study_randomisation_verify
from carnet.subjects.models import Subject
from tests.accounts.factories import ADMIN
from tests.accounts.personas import with_second_factor
from tests.randomization.conftest import Trial
from tests.randomization.test_api_and_page import api_client

pytestmark = pytest.mark.django_db

# Monday 2 March 2026, 14:30 in Montpellier (UTC+1): the day the network was down at site A.
OUTAGE = datetime(2026, 3, 2, 13, 30, tzinfo=UTC)
REASON = "Hospital network down since 13:00 (IT ticket 4711)"


def _envelopes(trial: Trial, site: str = "a", per_stratum: int = 4) -> list[Envelope]:
    world = trial.world
    backup_list_generate(
        actor=ADMIN,
        study=world.study,
        site=world.site_a if site == "a" else world.site_b,
        per_stratum=per_stratum,
        seed=20260302,
    )
    return list(Envelope.objects.order_by("number"))


def _paper(trial: Trial, subject: Subject, envelope: str, **changes: object) -> Allocation:
    arguments: dict[str, object] = {
        "actor": trial.nurse,
        "subject": subject,
        "envelope": envelope,
        "allocated_at": OUTAGE,
        "allocated_by": "Dr Irene Martin",
        "reason": REASON,
    } | changes
    return subject_randomise_on_paper(**arguments)  # type: ignore[arg-type]


def _signed_in(user: User) -> Client:
    """Return a browser signed in with the second factor (data centre roles need it)."""
    client = Client()
    client.force_login(with_second_factor(user))
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


def _first(stratum: str) -> Envelope:
    return Envelope.objects.filter(stratum=stratum).order_by("sequence").first()  # type: ignore[return-value]


def test_a_sites_envelopes_cover_its_strata_apart_from_the_central_list(
    blocks_trial: Trial,
) -> None:
    trial = blocks_trial
    list_generate(actor=ADMIN, study=trial.world.study, per_stratum=4, seed=1)
    envelopes = _envelopes(trial)
    assert {e.stratum for e in envelopes} == {"site=01|smoker=0", "site=01|smoker=1"}
    assert envelopes[0].number == "E01-0001"
    event = AuditEvent.objects.get(action="randomisation.backup_generated")
    assert event.new["envelopes"] == len(envelopes)
    assert "20260302" not in str(event.new)  # the seed: only its hash
    # Central allocation takes the central list's entry, never an envelope.
    allocation = subject_randomise(actor=trial.nurse, subject=trial.include(smoker=1))
    assert allocation.list_entry == ListEntry.objects.get(used_by__isnull=False)
    assert not Envelope.objects.filter(allocation__isnull=False).exists()
    with pytest.raises(ValidationError, match="already has its emergency envelopes"):
        _envelopes(trial)


def test_minimisation_envelopes_are_stratified_blocks_of_four_and_six(
    minimisation_trial: Trial,
) -> None:
    envelopes = _envelopes(minimisation_trial, per_stratum=6)
    assert {e.stratum for e in envelopes} == {"site=01|smoker=0", "site=01|smoker=1"}
    assert {e.block_size for e in envelopes} <= {4, 6}
    for stratum in ("site=01|smoker=0", "site=01|smoker=1"):
        first_block = [e for e in envelopes if e.stratum == stratum and e.block == 1]
        arms = [e.arm for e in first_block]
        assert arms.count("experimental") == arms.count("placebo")


def test_a_paper_allocation_is_recorded_backdated_audited_and_verified(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    _envelopes(trial)
    subject = trial.include(smoker=1)
    envelope = _first("site=01|smoker=1")
    allocation = _paper(trial, subject, envelope.number)
    assert allocation.channel == "paper"
    assert allocation.arm == envelope.arm
    assert allocation.randomised_on == date(2026, 3, 2)
    assert allocation.allocated_at == OUTAGE
    assert allocation.allocated_by == "Dr Irene Martin"
    subject.refresh_from_db()
    assert subject.randomised_on == date(2026, 3, 2)  # the schedule's anchor
    envelope.refresh_from_db()
    assert (envelope.allocation, envelope.reason, envelope.recorded_by) == (
        allocation,
        REASON,
        "julie",
    )
    event = AuditEvent.objects.get(action="randomisation.allocated")
    assert event.actor_label == "julie (Julie)"
    assert (event.new["channel"], event.new["envelope"], event.new["reason"]) == (
        "paper",
        envelope.number,
        REASON,
    )
    assert Message.objects.exists()  # the confirmation, as for a central allocation
    # A central allocation after it counts it (minimisation) and the replay passes.
    subject_randomise(actor=trial.nurse, subject=trial.include(smoker=0))
    assert study_randomisation_verify(trial.world.study).passed
    assert audit_verify().intact
    # An envelope's arm changed behind Carnet's back is named by verify.
    Envelope.objects.filter(pk=envelope.pk).update(
        arm="placebo" if envelope.arm == "experimental" else "experimental"
    )
    Allocation.objects.filter(pk=allocation.pk).update(arm="x")
    assert not study_randomisation_verify(trial.world.study).passed


def test_paper_allocations_are_refused_with_the_reason_and_nothing_written(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    _envelopes(trial)
    _envelopes(trial, site="b")
    subject = trial.include(smoker=1)
    mine = _first("site=01|smoker=1").number
    theirs = _first("site=02|smoker=1").number
    with pytest.raises(RandomisationRefused, match="belongs to site 02") as other:
        _paper(trial, subject, theirs)
    assert other.value.code == "envelope_other_site"
    with pytest.raises(RandomisationRefused, match="no envelope E99") as unknown:
        _paper(trial, subject, "E99-0001")
    assert unknown.value.code == "no_envelope"
    with pytest.raises(RandomisationRefused, match="in the future") as future:
        _paper(trial, subject, mine, allocated_at=datetime.now(UTC) + timedelta(hours=2))
    assert future.value.code == "future"
    with pytest.raises(ValidationError, match="reason: say why"):
        _paper(trial, subject, mine, reason="  ")
    with pytest.raises(PermissionDenied):
        _paper(trial, subject, mine, actor=trial.other_site)
    assert not Allocation.objects.exists()
    assert not AuditEvent.objects.filter(action="randomisation.allocated").exists()
    _paper(trial, subject, mine)
    with pytest.raises(RandomisationRefused, match="was already used") as used:
        _paper(trial, trial.include(smoker=1), mine)
    assert used.value.code == "envelope_used"
    assert Allocation.objects.count() == 1


def test_the_reconciliation_names_each_mismatch_and_no_arm(minimisation_trial: Trial) -> None:
    trial = minimisation_trial
    kits_import(
        actor=ADMIN,
        study=trial.world.study,
        content=b"site,number,arm\n"
        + b"".join(
            f"01,K{n:03d},{arm}\n".encode() for n in range(1, 7) for arm in ("experimental",)
        )
        + b"".join(f"01,P{n:03d},placebo\n".encode() for n in range(1, 7)),
    )
    _envelopes(trial)
    assert Kit.objects.filter(reserved=True).count() == Envelope.objects.count()
    # 1. all well: smoker 1, the first envelope of its stratum, its kit.
    well = _paper(trial, trial.include(smoker=1), _first("site=01|smoker=1").number)
    # 2. stratum: a non-smoker allocated with a smoker's envelope (the next one: in order).
    wrong = Envelope.objects.get(stratum="site=01|smoker=1", sequence=2)
    _paper(trial, trial.include(smoker=0), wrong.number)
    # 3. order: the fourth envelope of the non-smokers while the first is still sealed.
    skipped = Envelope.objects.get(stratum="site=01|smoker=0", sequence=4)
    _paper(trial, trial.include(smoker=0), skipped.number, kit_given="K999")
    # 4. opened and not recorded.
    opened = Envelope.objects.get(stratum="site=01|smoker=1", sequence=3)
    envelope_opened_report(
        actor=trial.data_manager,
        study=trial.world.study,
        envelope=opened.number,
        opened_at=OUTAGE,
        note="Seal found broken at the monitoring visit",
    )
    rows = {
        row.envelope: row
        for row in paper_reconciliation(actor=trial.data_manager, study=trial.world.study)
    }
    assert rows[well.envelope.number].issues == []  # type: ignore[attr-defined]
    assert rows[wrong.number].issue_codes == ["stratum"]
    assert rows[wrong.number].casebook_stratum == "site=01|smoker=0"
    assert rows[skipped.number].issue_codes == ["order", "kit"]
    assert rows[opened.number].issue_codes == ["opened"]
    # The page, the API and the command show the same, never an arm, to a blinded person.
    page = _signed_in(trial.data_manager)
    text = page.get(reverse("randomization:outage", args=["MINI"])).content.decode()
    assert all(f"issue-{code}" in text for code in ("stratum", "order", "opened", "kit"))
    assert not any(arm in text for arm in ("experimental", "placebo"))
    assert "envelopes-pdf" not in text  # the PDF link only for unblinded roles
    answer = api_client(trial, trial.data_manager).get(
        "/api/studies/MINI/randomisation/reconciliation"
    )
    assert answer.status_code == 200
    assert {row["envelope"]: row["issues"] for row in answer.json()}[skipped.number] == [
        "order",
        "kit",
    ]
    assert "experimental" not in answer.content.decode()
    # A site sees its own envelopes only.
    assert paper_reconciliation(actor=trial.other_site, study=trial.world.study) == []
    with pytest.raises(CommandError, match="3 of 4 envelopes used or opened do not match"):
        call_command("randomization", "reconcile", "MINI", stdout=StringIO(), stderr=StringIO())


def test_the_envelopes_pdf_is_for_unblinded_roles_and_audited(
    minimisation_trial: Trial, tmp_path: Path
) -> None:
    trial = minimisation_trial
    _envelopes(trial)
    study, site = trial.world.study, trial.world.site_a
    for blinded in (trial.data_manager, trial.nurse, trial.investigator):
        with pytest.raises(PermissionDenied, match="Only unblinded roles"):
            envelopes_pdf(actor=blinded, study=study, site=site)
    assert not AuditEvent.objects.filter(action="randomisation.envelopes_printed").exists()
    assert envelopes_pdf(actor=trial.unblinded, study=study, site=site).startswith(b"%PDF")
    assert AuditEvent.objects.filter(action="randomisation.envelopes_printed").count() == 1
    url = reverse("randomization:envelopes_pdf", args=["MINI", "01"])
    assert _signed_in(trial.data_manager).get(url).status_code == 403
    statistician = _signed_in(trial.unblinded)
    answer = statistician.get(url)
    assert answer.status_code == 200
    assert answer.content.startswith(b"%PDF")
    assert (
        "envelopes-pdf"
        in statistician.get(reverse("randomization:outage", args=["MINI"])).content.decode()
    )
    output = tmp_path / "envelopes.pdf"
    call_command(
        "randomization",
        "envelopes",
        "MINI",
        "--site",
        "01",
        "--output",
        str(output),
        stdout=StringIO(),
    )
    assert output.read_bytes().startswith(b"%PDF")


def test_the_site_records_a_paper_allocation_on_the_page_and_through_the_api(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    _envelopes(trial)
    subject = trial.include(smoker=1)
    page = Client()
    page.force_login(trial.nurse)
    url = reverse("randomization:paper", args=["MINI", subject.identifier])
    form = {
        "envelope": _first("site=01|smoker=1").number,
        "day": "2026-03-02",
        "time": "14:30",
        "allocated_by": "Dr Irene Martin",
        "reason": "",
        "kit": "",
    }
    refused = page.post(url, form)
    assert refused.status_code == 400
    assert "say why the allocation was made on paper" in refused.content.decode()
    done = page.post(url, form | {"reason": REASON})
    assert done.status_code == 302
    allocation = Allocation.objects.get()
    assert allocation.allocated_at == OUTAGE  # 14:30 in Montpellier
    result = page.get(reverse("randomization:randomisation", args=["MINI", subject.identifier]))
    assert allocation.arm not in result.content.decode()
    second = trial.include(smoker=1)
    nurse = api_client(trial, trial.nurse)
    api = f"/api/studies/MINI/subjects/{second.identifier}/randomisation/paper"
    body = {
        "envelope": form["envelope"],
        "allocated_at": "2026-03-02T14:40:00+01:00",
        "allocated_by": "Dr Irene Martin",
        "reason": REASON,
    }
    assert nurse.post(api, body, content_type="application/json").status_code == 409
    body["envelope"] = Envelope.objects.get(stratum="site=01|smoker=1", sequence=2).number
    answer = nurse.post(api, body, content_type="application/json")
    assert answer.status_code == 201
    assert answer.json()["arm"] == "(blinded)"
    assert answer.json()["randomised_on"] == "2026-03-02"
    other = api_client(trial, trial.other_site)
    third = trial.include(smoker=1)
    assert (
        other.post(
            f"/api/studies/MINI/subjects/{third.identifier}/randomisation/paper",
            body,
            content_type="application/json",
        ).status_code
        == 403
    )


def test_simple_randomisation_envelopes_are_one_stratum_per_site(tmp_path: Path) -> None:
    from tests.randomization.conftest import trial_with

    trial = trial_with("randomisation: {method: simple, ratio: [2, 1]}", tmp_path)
    envelopes = _envelopes(trial, per_stratum=6)
    assert {e.stratum for e in envelopes} == {"all"}
    assert {e.block_size for e in envelopes} <= {6, 9}
    first = [e.arm for e in envelopes if e.block == 1]
    assert first.count("experimental") == 2 * first.count("placebo")
    allocation = _paper(trial, trial.include(smoker=None), envelopes[0].number)
    assert (allocation.method, allocation.stratum, allocation.factors) == ("simple", "all", {})
    assert [
        row.issue_codes for row in paper_reconciliation(actor=ADMIN, study=trial.world.study)
    ] == [[]]


def test_without_pango_the_envelopes_answer_what_to_install_and_nothing_is_audited(
    minimisation_trial: Trial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server without Pango answers 503 with what to install, never a server error."""
    import sys

    _envelopes(minimisation_trial)
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    url = reverse("randomization:envelopes_pdf", args=["MINI", "01"])
    answer = _signed_in(minimisation_trial.unblinded).get(url)
    assert answer.status_code == 503
    assert "libpango-1.0-0" in answer.content.decode()
    assert not AuditEvent.objects.filter(action="randomisation.envelopes_printed").exists()
