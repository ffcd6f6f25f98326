"""`carnet randomization verify`: allocations replay; an SQL edit or a swapped entry shows."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from carnet.randomization.models import Allocation, ListEntry
from carnet.randomization.services import list_generate, subject_randomise
from carnet.randomization.verification import study_randomisation_verify
from tests.accounts.factories import ADMIN
from tests.randomization.conftest import Trial

pytestmark = pytest.mark.django_db


def randomise_some(trial: Trial, count: int = 8) -> list[Allocation]:
    allocations = []
    for index in range(count):
        site = "a" if index % 3 else "b"
        subject = trial.include(smoker=index % 2, site=site)
        who = trial.nurse if site == "a" else trial.other_site
        allocations.append(subject_randomise(actor=who, subject=subject))
    return allocations


def other_arm(arm: str) -> str:
    return "placebo" if arm == "experimental" else "experimental"


def verify_command(study: str = "MINI") -> str:
    out = StringIO()
    call_command("randomization", "verify", study, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_minimisation_allocations_replay_without_difference(minimisation_trial: Trial) -> None:
    randomise_some(minimisation_trial)
    result = study_randomisation_verify(minimisation_trial.world.study)
    assert result.passed, result.differences
    assert result.allocations == 8
    assert "8 allocations replayed" in verify_command()


def test_block_allocations_replay_without_difference(blocks_trial: Trial) -> None:
    list_generate(actor=ADMIN, study=blocks_trial.world.study, per_stratum=8, seed=42)
    randomise_some(blocks_trial)
    result = study_randomisation_verify(blocks_trial.world.study)
    assert result.passed, result.differences
    assert result.allocations == 8
    assert result.entries >= 32  # 4 strata (2 sites x 2 smoker levels), whole blocks


def test_an_arm_changed_through_the_orm_is_named(minimisation_trial: Trial) -> None:
    allocations = randomise_some(minimisation_trial)
    third = allocations[2]
    Allocation.objects.filter(pk=third.pk).update(arm=other_arm(third.arm))
    result = study_randomisation_verify(minimisation_trial.world.study)
    assert not result.passed
    named = {difference.where for difference in result.differences}
    assert named == {f"allocation 3 (production, {third.subject.identifier})"}
    assert any("arm in the database" in d.what for d in result.differences)
    # Never the arm itself: the report may reach blinded people.
    assert all("placebo" not in str(d) and "experimental" not in str(d) for d in result.differences)
    with pytest.raises(CommandError, match="1 differences in 8 allocations"):
        verify_command()


def test_an_arm_changed_in_raw_sql_is_named(blocks_trial: Trial) -> None:
    list_generate(actor=ADMIN, study=blocks_trial.world.study, per_stratum=8, seed=7)
    allocations = randomise_some(blocks_trial)
    first = allocations[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE randomization_allocation SET arm = %s WHERE id = %s",
            [other_arm(first.arm), first.pk],
        )
    result = study_randomisation_verify(blocks_trial.world.study)
    assert not result.passed
    assert {d.where for d in result.differences} == {
        f"allocation 1 (production, {first.subject.identifier})"
    }


def test_a_swapped_list_entry_is_detected(blocks_trial: Trial) -> None:
    study = blocks_trial.world.study
    list_generate(actor=ADMIN, study=study, per_stratum=8, seed=11)
    randomise_some(blocks_trial, count=3)
    # Swap two unused entries of different arms in one stratum: the next subjects would get them.
    unused = ListEntry.objects.filter(
        allocation_list__scheme__study=study, used_by__isnull=True, stratum="site=01|smoker=1"
    ).order_by("sequence")
    first = unused.filter(arm="experimental").first()
    second = unused.filter(arm="placebo").first()
    assert first is not None
    assert second is not None
    ListEntry.objects.filter(pk=first.pk).update(arm="placebo")
    ListEntry.objects.filter(pk=second.pk).update(arm="experimental")
    result = study_randomisation_verify(study)
    assert not result.passed
    whats = sorted(d.what for d in result.differences)
    assert whats == sorted(
        f"entry site=01|smoker=1 #{entry.sequence} is not the one its seed generates."
        for entry in (first, second)
    )
