"""Kits of a blinded study (issue 17 item 3) and the confirmation of each allocation (item 4)."""

from __future__ import annotations

import pytest

from carnet.accounts.blinding import HIDDEN, blinding_of
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.roles import Role
from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.messaging.models import Message
from carnet.randomization.kits import kits_import
from carnet.randomization.models import Allocation, Kit
from carnet.randomization.selectors import RandomisationRefused
from carnet.randomization.services import subject_randomise
from carnet.subjects.models import Subject
from tests.accounts.factories import ADMIN
from tests.accounts.personas import person
from tests.randomization.conftest import Trial

pytestmark = pytest.mark.django_db

KITS = b"site,number,arm\n01,100001,experimental\n01,100002,placebo\n02,200001,experimental\n"


def test_the_kit_list_is_imported_all_or_nothing_with_the_line(minimisation_trial: Trial) -> None:
    study = minimisation_trial.world.study
    with pytest.raises(ValidationError, match="line 3: the arm 'drug'"):
        kits_import(actor=ADMIN, study=study, content=b"site,number,arm\n01,1,placebo\n01,2,drug\n")
    with pytest.raises(ValidationError, match="line 2: the site '09'"):
        kits_import(actor=ADMIN, study=study, content=b"site,number,arm\n09,1,placebo\n")
    with pytest.raises(ValidationError, match="line 3: the kit 1 is already"):
        kits_import(
            actor=ADMIN, study=study, content=b"site,number,arm\n01,1,placebo\n01,1,placebo\n"
        )
    assert not Kit.objects.exists()
    assert kits_import(actor=ADMIN, study=study, content=KITS, file_name="kits.csv") == 3
    assert AuditEvent.objects.filter(action="randomisation.kits_imported").count() == 1


def test_only_unblinded_roles_handle_the_arm_revealing_kit_list(minimisation_trial: Trial) -> None:
    study = minimisation_trial.world.study
    with pytest.raises(PermissionDenied):
        kits_import(actor=minimisation_trial.data_manager, study=study, content=KITS)
    assert kits_import(actor=minimisation_trial.unblinded, study=study, content=KITS) == 3


def test_allocation_gives_the_sites_kit_of_the_arm_and_the_arm_stays_hidden(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    kits_import(actor=ADMIN, study=trial.world.study, content=KITS)
    subject = trial.include()
    allocation = subject_randomise(actor=trial.nurse, subject=subject)
    kit = Kit.objects.get(given_to=subject)
    assert allocation.kit_number == kit.number
    assert kit.arm == allocation.arm
    assert kit.site == subject.site
    assert blinding_of(trial.nurse, study=trial.world.study).arm(allocation.arm) == HIDDEN
    assert blinding_of(trial.unblinded, study=trial.world.study).arm(allocation.arm) == kit.arm


def test_a_site_without_a_kit_left_refuses_and_tells_the_data_managers(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    kits_import(
        actor=ADMIN, study=trial.world.study, content=b"site,number,arm\n02,200001,placebo\n"
    )
    subject = trial.include()
    with pytest.raises(RandomisationRefused) as refused:
        subject_randomise(actor=trial.nurse, subject=subject)
    assert refused.value.code == "no_kit"
    assert "the site has no kit left" in str(refused.value)
    assert not Allocation.objects.exists()
    assert Subject.objects.get(pk=subject.pk).randomised_on is None
    [message] = Message.objects.filter(recipient=trial.data_manager)
    assert "no kit left" in message.subject
    assert "placebo" not in message.body
    assert "experimental" not in message.body


def test_confirmations_go_to_site_pharmacy_and_data_centre_never_the_arm_to_the_blinded(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    pharmacist = person(
        "paul", study=trial.world.study, role=Role.PHARMACIST, sites=[trial.world.site_a]
    )
    pv = person("pia", study=trial.world.study, role=Role.PHARMACOVIGILANCE)
    kits_import(actor=ADMIN, study=trial.world.study, content=KITS)
    subject = trial.include()
    allocation = subject_randomise(actor=trial.nurse, subject=subject)
    blinded = [trial.investigator, pharmacist, trial.data_manager]
    for recipient in blinded:
        [message] = Message.objects.filter(recipient=recipient)
        assert subject.identifier in message.body
        assert f"Allocation number: {allocation.number}" in message.body
        assert f"Kit number: {allocation.kit_number}" in message.body
        assert allocation.randomised_on.isoformat() in message.body
        for arm in ("experimental", "placebo"):
            assert arm not in message.body
            assert arm not in message.subject
    # Site B's people and the nurse (data entry) are not recipients; PV is not a recipient either.
    assert not Message.objects.filter(recipient__in=[trial.other_site, trial.nurse, pv]).exists()


def test_an_unblinded_recipient_reads_the_arm_in_the_confirmation(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    # An unblinded person who is also a data manager of the study (e.g. the data centre's
    # unblinded statistician holding both roles) reads the arm.
    both = person("ugo", study=trial.world.study, role=Role.UNBLINDED_STATISTICIAN)
    from carnet.accounts.models import Membership

    first = Membership.objects.get(user=both)
    Membership.objects.create(
        user=both, study=trial.world.study, role=Role.DATA_MANAGER, starts_on=first.starts_on
    )
    subject = trial.include()
    allocation = subject_randomise(actor=trial.nurse, subject=subject)
    [message] = Message.objects.filter(recipient=both)
    assert f"Arm: {allocation.arm}" in message.body


def test_the_kits_command_imports_the_kit_list(minimisation_trial: Trial, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    path = tmp_path / "kits.csv"
    path.write_bytes(KITS)
    call_command("randomization", "kits", "MINI", str(path))
    assert Kit.objects.count() == 3
