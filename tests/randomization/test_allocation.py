"""subject_randomise: exactly once, from the casebook, every refusal with nothing allocated."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from carnet.accounts.permissions import PermissionDenied
from carnet.audit.models import AuditEvent
from carnet.audit.verification import audit_verify
from carnet.capture.services import form_save
from carnet.messaging.models import Message
from carnet.randomization.models import Allocation, ListEntry
from carnet.randomization.services import (
    RandomisationRefused,
    list_generate,
    subject_randomise,
)
from carnet.studies.services import study_mode_change
from carnet.subjects.models import Consent, PlannedVisit, Subject
from carnet.subjects.services import (
    consent_withdraw,
    site_today,
    subject_settings_set,
)
from tests.accounts.factories import ADMIN
from tests.randomization.conftest import BLOCKS, Trial, trial_with

pytestmark = pytest.mark.django_db


def refused(trial: Trial, subject: Subject, code: str, message: str) -> None:
    with pytest.raises(RandomisationRefused) as raised:
        subject_randomise(actor=trial.nurse, subject=subject)
    assert (raised.value.code, str(raised.value)) == (code, f"randomisation: {message}")
    assert not Allocation.objects.filter(subject=subject).exists()
    subject.refresh_from_db()
    assert subject.randomised_on is None


def test_a_subject_is_randomised_once_with_the_casebook_levels_and_the_draw_recorded(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    subject = trial.include(smoker=0)
    allocation = subject_randomise(
        actor=trial.nurse, subject=subject, confirm_factors={"site": "01", "smoker": "0"}
    )
    assert allocation.number == 1
    assert allocation.arm in {"experimental", "placebo"}
    assert allocation.factors == {"site": "01", "smoker": "0"}
    assert 0 <= allocation.draw < 1
    assert set(allocation.scores) == {"experimental", "placebo"}
    subject.refresh_from_db()
    today = site_today(subject.site)
    assert subject.randomised_on == allocation.randomised_on == today
    # The visit anchored on randomisation is planned from it.
    planned = PlannedVisit.objects.get(subject=subject, event="treatment")
    assert planned.target == today + timedelta(days=7)
    event = AuditEvent.objects.get(action="randomisation.allocated")
    assert event.new["arm"] == allocation.arm
    assert event.new["draw"] == allocation.draw
    assert AuditEvent.objects.filter(action="subject.randomised_on_set").count() == 1
    assert audit_verify().intact
    with pytest.raises(
        RandomisationRefused, match=r"^randomisation: 01-001 is already randomised\.$"
    ):
        subject_randomise(actor=trial.investigator, subject=subject)
    assert Allocation.objects.count() == 1


def test_allocation_numbers_follow_each_other(minimisation_trial: Trial) -> None:
    numbers = [
        subject_randomise(
            actor=minimisation_trial.nurse, subject=minimisation_trial.include()
        ).number
        for _ in range(3)
    ]
    assert numbers == [1, 2, 3]


def test_a_missing_factor_is_refused_naming_it(minimisation_trial: Trial) -> None:
    subject = minimisation_trial.include(smoker=None)
    refused(
        minimisation_trial,
        subject,
        "missing_factor",
        "enter smoker in the casebook first: the randomisation reads it from there.",
    )


def test_a_factor_changed_since_it_was_shown_is_refused(minimisation_trial: Trial) -> None:
    subject = minimisation_trial.include(smoker=1)
    with pytest.raises(RandomisationRefused) as raised:
        subject_randomise(
            actor=minimisation_trial.nurse,
            subject=subject,
            confirm_factors={"site": "01", "smoker": "0"},
        )
    assert raised.value.code == "factors_changed"
    assert not Allocation.objects.exists()


def test_another_site_cannot_randomise(minimisation_trial: Trial) -> None:
    subject = minimisation_trial.include()
    with pytest.raises(PermissionDenied):
        subject_randomise(actor=minimisation_trial.other_site, subject=subject)
    assert not Allocation.objects.exists()


def test_a_withdrawn_subject_is_refused(minimisation_trial: Trial) -> None:
    subject = minimisation_trial.include()
    consent_withdraw(
        actor=minimisation_trial.nurse,
        subject=subject,
        kind="follow_up",
        withdrawn_on=date(2026, 1, 6),
        reason="moved abroad",
    )
    refused(minimisation_trial, subject, "withdrawn", "01-001 has withdrawn consent.")


def test_a_subject_awaiting_the_eligibility_review_is_refused(minimisation_trial: Trial) -> None:
    subject_settings_set(
        actor=ADMIN,
        study=minimisation_trial.world.study,
        central_eligibility_review=True,
        identity_vault=False,
    )
    subject = minimisation_trial.include(enter=False)
    refused(
        minimisation_trial,
        subject,
        "ineligible",
        "01-001 awaits the central eligibility review: only an eligible subject is randomised.",
    )


def test_a_subject_without_consent_is_refused(minimisation_trial: Trial) -> None:
    subject = minimisation_trial.include()
    # No service removes a consent; a subject carried over from an older system may have none.
    Consent.objects.filter(subject=subject).delete()
    refused(minimisation_trial, subject, "unconsented", "01-001 has no signed consent recorded.")


def test_a_test_patient_is_refused_once_the_study_is_in_production(tmp_path: object) -> None:
    from pathlib import Path

    from carnet.studies.services import study_mode_change as change

    trial = trial_with_test_mode(Path(str(tmp_path)))
    subject = trial.include()
    change(actor=ADMIN, study=trial.world.study, mode="production")
    subject.refresh_from_db()
    with pytest.raises(RandomisationRefused) as raised:
        subject_randomise(actor=trial.nurse, subject=subject)
    assert raised.value.code == "environment"
    assert "test patient" in str(raised.value)
    assert not Allocation.objects.exists()


def trial_with_test_mode(directory: object) -> Trial:
    from pathlib import Path

    from tests.randomization.conftest import MINIMISATION

    trial = trial_with(MINIMISATION, Path(str(directory)), mode="test")
    return trial


def test_an_exhausted_stratum_refuses_tells_the_data_managers_and_allocates_nothing(
    tmp_path: object,
) -> None:
    from pathlib import Path

    trial = trial_with(BLOCKS, Path(str(tmp_path)))
    list_generate(actor=ADMIN, study=trial.world.study, per_stratum=2, seed=5)
    in_stratum = ListEntry.objects.filter(stratum="site=01|smoker=1").count()
    subjects = [trial.include(smoker=1) for _ in range(in_stratum + 1)]
    for subject in subjects[:-1]:
        subject_randomise(actor=trial.nurse, subject=subject)
    used = list(
        ListEntry.objects.filter(stratum="site=01|smoker=1")
        .order_by("sequence")
        .values_list("used_by", flat=True)
    )
    assert used == [s.pk for s in subjects[:-1]]  # in order, none skipped
    refused(
        trial,
        subjects[-1],
        "exhausted",
        "the randomisation list has no entry left for this subject's stratum; the data managers "
        "are told. Nothing was allocated.",
    )
    # The data managers also get each allocation's confirmation; one message is about the list.
    [message] = Message.objects.filter(recipient=trial.data_manager, subject__contains="exhausted")
    assert "site=01|smoker=1" in message.subject
    assert "experimental" not in message.body
    assert "placebo" not in message.body


def test_blocks_allocate_the_next_entry_of_the_subjects_stratum(blocks_trial: Trial) -> None:
    list_generate(actor=ADMIN, study=blocks_trial.world.study, per_stratum=4, seed=9)
    subject = blocks_trial.include(smoker=0)
    allocation = subject_randomise(actor=blocks_trial.investigator, subject=subject)
    entry = ListEntry.objects.get(stratum="site=01|smoker=0", sequence=1)
    assert (allocation.list_entry, allocation.arm, allocation.stratum) == (
        entry,
        entry.arm,
        "site=01|smoker=0",
    )
    assert entry.used_by == subject
    assert not entry.concealed
    assert allocation.draw is None


def test_a_frozen_study_randomises_nobody(minimisation_trial: Trial) -> None:
    subject = minimisation_trial.include()
    study_mode_change(
        actor=ADMIN, study=minimisation_trial.world.study, mode="frozen", reason="interim analysis"
    )
    subject.refresh_from_db()
    with pytest.raises(RandomisationRefused) as raised:
        subject_randomise(actor=minimisation_trial.nurse, subject=subject)
    assert raised.value.code == "study_mode"


def test_factor_levels_come_from_the_first_visit(minimisation_trial: Trial) -> None:
    subject = minimisation_trial.include(smoker=0)
    form_save(
        actor=minimisation_trial.nurse,
        subject=subject,
        event="cycle",
        form="vitals",
        base_version=0,
        values={"weight": 70, "smoker": 1},
    )
    allocation = subject_randomise(actor=minimisation_trial.nurse, subject=subject)
    assert allocation.factors["smoker"] == "0"


def test_a_factor_changed_after_randomisation_is_flagged_and_the_allocation_stands(
    minimisation_trial: Trial,
) -> None:
    trial = minimisation_trial
    subject = trial.include(smoker=0)
    allocation = subject_randomise(actor=trial.nurse, subject=subject)
    form_save(
        actor=trial.nurse,
        subject=subject,
        event="baseline",
        form="vitals",
        base_version=1,
        values={"weight": 71},
    )
    # Only the allocation's confirmation so far.
    flags = Message.objects.filter(recipient=trial.data_manager).exclude(
        subject__contains="randomised"
    )
    assert not flags.exists()
    form_save(
        actor=trial.nurse,
        subject=subject,
        event="baseline",
        form="vitals",
        base_version=2,
        values={"smoker": 1},
        reason="transcription error",
    )
    [message] = flags
    assert message.subject == "MINI: a randomisation factor of 01-001 changed"
    assert "smoker: 0 at randomisation, now 1" in message.body
    assert allocation.arm not in message.body
    kept = Allocation.objects.get(subject=subject)
    assert (kept.arm, kept.factors["smoker"]) == (allocation.arm, "0")


def test_the_moment_and_the_draws_can_be_given_and_a_future_moment_is_refused(
    minimisation_trial: Trial,
) -> None:
    """What the demo does without patching anything: the allocation on a past day at 10:00 at
    the site, with the draws of a seeded generator (recorded, so verify replays them)."""
    import random
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from carnet.randomization.verification import study_randomisation_verify

    trial = minimisation_trial
    subject = trial.include(smoker=0)
    later = datetime.now(UTC) + timedelta(minutes=5)
    with pytest.raises(RandomisationRefused, match="is in the future") as future:
        subject_randomise(actor=trial.nurse, subject=subject, at=later)
    assert future.value.code == "future"
    assert not Allocation.objects.exists()
    draws = random.Random(7)
    expected = random.Random(7).random()
    # 00:30 in Montpellier on 6 January is still 5 January in UTC: the site's day counts.
    moment = datetime(2026, 1, 6, 0, 30, tzinfo=ZoneInfo("Europe/Paris"))
    allocation = subject_randomise(
        actor=trial.nurse, subject=subject, random_source=draws.random, at=moment
    )
    assert allocation.draw == expected
    assert allocation.randomised_on == date(2026, 1, 6)
    assert allocation.allocated_at == moment
    subject.refresh_from_db()
    assert subject.randomised_on == date(2026, 1, 6)
    assert study_randomisation_verify(trial.world.study).passed
