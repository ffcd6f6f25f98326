"""Emergency and pharmacovigilance unblinding (issue 17 item 5): each refusal, the record, the
signature, the sponsor's contacts told, and who reads the arm from then on."""

from __future__ import annotations

import pytest
from django.test import Client

from carnet.accounts.blinding import HIDDEN, blinding_of
from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.roles import Role
from carnet.audit.models import AuditEvent
from carnet.core.errors import CarnetError
from carnet.messaging.models import Message
from carnet.randomization.models import Allocation, Unblinding
from carnet.randomization.services import subject_randomise
from carnet.randomization.unblinding import (
    UnblindingRefused,
    allocation_arm,
    emergency_unblind,
    pharmacovigilance_unblind,
)
from tests.accounts.factories import PASSWORD
from tests.accounts.personas import person
from tests.randomization.conftest import Trial

pytestmark = pytest.mark.django_db


def _randomised(trial: Trial) -> Allocation:
    return subject_randomise(actor=trial.nurse, subject=trial.include())


def test_an_investigator_unblinds_one_subject_signed_audited_and_the_sponsor_is_told(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    sponsor = person("sam", study=trial.world.study, role=Role.SPONSOR)
    pv = person("pia", study=trial.world.study, role=Role.PHARMACOVIGILANCE)
    allocation = _randomised(trial)
    other = _randomised(trial)
    assert allocation_arm(trial.investigator, allocation) == HIDDEN
    done = emergency_unblind(
        actor=trial.investigator,
        subject=allocation.subject,
        reason="anaphylaxis, treating physician needs the arm",
        password=PASSWORD,
        confirmed=True,
    )
    assert done.unblinded_at is not None
    [record] = Unblinding.objects.all()
    assert record.kind == "emergency"
    assert record.signature is not None
    assert record.signature.signer == trial.investigator
    assert AuditEvent.objects.filter(action="randomisation.unblinded").count() == 1
    # The site's team reads that subject's arm, not another's; other sites and the data
    # centre stay blinded.
    done.refresh_from_db()
    assert allocation_arm(trial.investigator, done) == done.arm
    assert allocation_arm(trial.nurse, done) == done.arm
    assert allocation_arm(trial.nurse, other) == HIDDEN
    assert allocation_arm(trial.other_site, done) == HIDDEN
    assert allocation_arm(trial.data_manager, done) == HIDDEN
    [to_sponsor] = Message.objects.filter(recipient=sponsor)
    assert "emergency unblinding of 01-001" in to_sponsor.subject
    assert "anaphylaxis" in to_sponsor.body
    assert done.arm not in to_sponsor.body  # the sponsor (read-only) is blinded
    # Pharmacovigilance is told, blinded too: it reads an arm only for a case it unblinds.
    [to_pv] = Message.objects.filter(recipient=pv)
    assert "anaphylaxis" in to_pv.body
    assert done.arm not in to_pv.body


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"reason": "  "}, "give the reason"),
        ({"confirmed": False}, "confirm the unblinding a second time"),
        ({"password": "wrong"}, "password"),
    ],
)
def test_an_unblinding_without_reason_confirmation_or_signature_is_refused(
    minimisation_trial: Trial, change: dict[str, object], error: str
) -> None:
    allocation = _randomised(minimisation_trial)
    asked: dict[str, object] = {
        "reason": "emergency",
        "password": PASSWORD,
        "confirmed": True,
    } | change
    with pytest.raises(CarnetError, match=error):
        emergency_unblind(
            actor=minimisation_trial.investigator,
            subject=allocation.subject,
            **asked,  # type: ignore[arg-type]
        )
    allocation.refresh_from_db()
    assert allocation.unblinded_at is None
    assert not Unblinding.objects.exists()


def test_only_an_investigator_of_the_site_unblinds_and_only_once(minimisation_trial: Trial) -> None:
    trial = minimisation_trial
    allocation = _randomised(trial)
    for someone in (trial.nurse, trial.other_site, trial.data_manager, trial.unblinded):
        with pytest.raises(PermissionDenied):
            emergency_unblind(
                actor=someone,
                subject=allocation.subject,
                reason="r",
                password=PASSWORD,
                confirmed=True,
            )
    not_randomised = trial.include()
    with pytest.raises(UnblindingRefused, match="is not randomised"):
        emergency_unblind(
            actor=trial.investigator,
            subject=not_randomised,
            reason="r",
            password=PASSWORD,
            confirmed=True,
        )
    emergency_unblind(
        actor=trial.investigator,
        subject=allocation.subject,
        reason="r",
        password=PASSWORD,
        confirmed=True,
    )
    with pytest.raises(UnblindingRefused, match="already unblinded"):
        emergency_unblind(
            actor=trial.investigator,
            subject=allocation.subject,
            reason="r",
            password=PASSWORD,
            confirmed=True,
        )


def test_pharmacovigilance_unblinding_is_recorded_per_case_and_leaves_the_team_blinded(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    pv = person("pia", study=trial.world.study, role=Role.PHARMACOVIGILANCE)
    allocation = _randomised(trial)
    with pytest.raises(PermissionDenied):
        pharmacovigilance_unblind(
            actor=trial.investigator, subject=allocation.subject, reason="r", case_reference="C1"
        )
    with pytest.raises(UnblindingRefused, match="reference of the pharmacovigilance case"):
        pharmacovigilance_unblind(
            actor=pv, subject=allocation.subject, reason="SUSAR", case_reference=" "
        )
    arm = pharmacovigilance_unblind(
        actor=pv, subject=allocation.subject, reason="SUSAR assessment", case_reference="PV-2026-7"
    )
    assert arm == allocation.arm
    [record] = Unblinding.objects.all()
    assert (record.kind, record.case_reference) == ("pharmacovigilance", "PV-2026-7")
    allocation.refresh_from_db()
    assert allocation.unblinded_at is None
    assert allocation_arm(trial.investigator, allocation) == HIDDEN
    assert AuditEvent.objects.filter(action="randomisation.pharmacovigilance_unblinded").exists()


def test_pharmacovigilance_reads_the_arm_only_of_the_case_it_unblinded(
    minimisation_trial: Trial,
) -> None:
    """Pharmacovigilance is blinded like the study team until it unblinds a case: then it reads
    that subject's arm, and still no other's (issue 17 item 5: "for that case")."""
    trial = minimisation_trial
    pv = person("pia", study=trial.world.study, role=Role.PHARMACOVIGILANCE)
    colleague = person("paz", study=trial.world.study, role=Role.PHARMACOVIGILANCE)
    case, other = _randomised(trial), _randomised(trial)
    assert allocation_arm(pv, case) == HIDDEN
    assert blinding_of(pv, study=trial.world.study).unblinded is False
    pharmacovigilance_unblind(
        actor=pv, subject=case.subject, reason="SUSAR assessment", case_reference="PV-2026-8"
    )
    assert allocation_arm(pv, case) == case.arm
    assert allocation_arm(colleague, case) == case.arm  # the pharmacovigilance unit's case
    assert allocation_arm(pv, other) == HIDDEN
    assert allocation_arm(trial.investigator, case) == HIDDEN


def test_emergency_and_pharmacovigilance_unblinding_through_the_api(
    minimisation_trial: Trial,
) -> None:
    from tests.accounts.personas import with_second_factor
    from tests.randomization.test_api_and_page import api_client

    trial = minimisation_trial
    allocation = _randomised(trial)
    pv = with_second_factor(person("pia", study=trial.world.study, role=Role.PHARMACOVIGILANCE))
    base = "/api/studies/MINI/subjects/01-001/"
    nurse = api_client(trial, trial.nurse)
    asked = {"reason": "emergency", "password": PASSWORD, "confirmed": True}
    assert (
        nurse.post(base + "unblinding", asked, content_type="application/json").status_code == 403
    )
    answer = api_client(trial, trial.investigator).post(
        base + "pharmacovigilance-unblinding",
        {"reason": "r", "case_reference": "C"},
        content_type="application/json",
    )
    assert answer.status_code == 403
    answer = api_client(trial, pv).post(
        base + "pharmacovigilance-unblinding",
        {"reason": "SUSAR", "case_reference": "PV-1"},
        content_type="application/json",
    )
    assert (answer.status_code, answer.json()["arm"]) == (201, allocation.arm)
    assert nurse.get(base + "randomisation").json()["arm"] == HIDDEN
    investigator = api_client(trial, trial.investigator)
    refused = investigator.post(
        base + "unblinding", asked | {"confirmed": False}, content_type="application/json"
    )
    assert refused.status_code == 400
    answer = investigator.post(base + "unblinding", asked, content_type="application/json")
    assert (answer.status_code, answer.json()["arm"]) == (201, allocation.arm)
    again = investigator.post(base + "unblinding", asked, content_type="application/json")
    assert again.status_code == 409
    shown = nurse.get(base + "randomisation").json()
    assert (shown["arm"], shown["unblinded"]) == (allocation.arm, True)


def test_the_emergency_unblinding_page_needs_reason_signature_and_confirmation(
    minimisation_trial: Trial,
) -> None:
    from django.test import Client

    trial = minimisation_trial
    allocation = _randomised(trial)
    page_url = "/studies/MINI/subjects/01-001/unblinding/"
    nurse = Client()
    nurse.force_login(trial.nurse)
    assert (
        nurse.post(page_url, {"reason": "r", "password": PASSWORD, "confirmed": "on"}).status_code
        == 403
    )
    page = Client()
    page.force_login(trial.investigator)
    form = page.get(page_url).content.decode()
    assert 'id="unblinding-form"' in form
    assert allocation.arm not in form
    refused = page.post(page_url, {"reason": "anaphylaxis", "password": PASSWORD})
    assert refused.status_code == 400
    assert "confirm the unblinding a second time" in refused.content.decode()
    done = page.post(
        page_url, {"reason": "anaphylaxis", "password": PASSWORD, "confirmed": "on"}, follow=True
    )
    shown = done.content.decode()
    assert 'id="allocation-unblinded"' in shown
    assert f'<dd id="allocation-arm">{allocation.arm}</dd>' in shown


def _signed_in(user: User) -> Client:
    """A browser signed in as the person, with the second factor their role requires."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    page = Client()
    page.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:
        session = page.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return page


def test_pharmacovigilance_unblinds_a_case_from_its_page_and_no_one_else_can(
    minimisation_trial: Trial,
) -> None:
    from tests.accounts.personas import with_second_factor

    trial = minimisation_trial
    allocation = _randomised(trial)
    pv = with_second_factor(person("pia", study=trial.world.study, role=Role.PHARMACOVIGILANCE))
    url = "/studies/MINI/subjects/01-001/pharmacovigilance-unblinding/"
    step = "/studies/MINI/subjects/01-001/randomisation/"
    page = _signed_in(pv)
    assert url in page.get(step).content.decode()  # linked from the randomisation step
    before = page.get(url)
    assert before.status_code == 200
    assert allocation.arm not in before.content.decode()
    refused = page.post(url, {"case_reference": " ", "reason": "SUSAR"})
    assert refused.status_code == 400
    assert "reference of the pharmacovigilance case" in refused.content.decode()
    assert allocation.arm not in refused.content.decode()
    answer = page.post(url, {"case_reference": "PV-2026-9", "reason": "SUSAR assessment"})
    body = answer.content.decode()
    assert answer.status_code == 200
    for shown in (allocation.arm, "PV-2026-9", "SUSAR assessment"):
        assert shown in body
    [record] = Unblinding.objects.filter(kind="pharmacovigilance")
    assert (record.by, record.case_reference) == ("pia", "PV-2026-9")
    # The investigator is refused, reads no arm and no case, and has no link to the page.
    investigator = _signed_in(trial.investigator)
    assert url not in investigator.get(step).content.decode()
    for answered in (
        investigator.get(url),
        investigator.post(url, {"case_reference": "X", "reason": "r"}),
    ):
        text = answered.content.decode()
        assert answered.status_code == 403
        assert allocation.arm not in text
        assert "PV-2026-9" not in text
    assert Unblinding.objects.count() == 1
